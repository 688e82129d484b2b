"""Compare a typed "what does this print?" answer with the real output, forgiving only what does not matter.

Accepted: any whitespace around brackets, commas and colons (`[0.01,0.00385]` for `[0.01, 0.00385]`),
thousands separators (`23,518,277` or `23_518_277` for `23518277`), and, when the item gives a numeric
`tolerance`, numbers written differently (`0.50`, `5e-1`) or off by at most that much.
"""

from __future__ import annotations

import re

# Digits grouped by thousands with "," or "_" and no space after the separator: "[1, 234]" is a list.
_THOUSANDS = re.compile(r"(?<![\w.,])\d{1,3}(?:[,_]\d{3})+(?![\w.]|,\d)")
_AROUND_PUNCT = re.compile(r"\s*([,:])\s*|([(\[{])\s+|\s+([)\]}])")
# A number that is not part of a name such as `classifier.1.weight`.
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


def squash(text: str) -> str:
    """Collapse runs of whitespace and strip the ends (how the bank checks stated answers)."""
    return " ".join(str(text).split())


def _spacing(text: str) -> str:
    return _AROUND_PUNCT.sub(lambda m: m.group(1) or m.group(2) or m.group(3), squash(text))


def _no_thousands(text: str) -> str:
    return _THOUSANDS.sub(lambda m: re.sub(r"[,_]", "", m.group(0)), text)


def forms(text: str) -> set[str]:
    """The spellings of `text` that count as the same printed output."""
    return {_spacing(text), _spacing(_no_thousands(text))}


def _close(typed: str, answer: str, tolerance: float) -> bool:
    # Same text around the numbers, and every number within `tolerance` of the real one.
    if _NUMBER.sub("#", typed) != _NUMBER.sub("#", answer):
        return False
    pairs = zip(_NUMBER.findall(typed), _NUMBER.findall(answer), strict=True)
    return all(abs(float(a) - float(b)) <= tolerance + 1e-12 for a, b in pairs)


def matches(typed: str, answer: str, tolerance: float | None = None) -> bool:
    """True when `typed` is the printed `answer`, up to spacing, thousands separators and `tolerance`."""
    if not typed.strip():
        return False
    ours, theirs = forms(typed), forms(answer)
    if ours & theirs:
        return True
    if tolerance is None:
        return False
    return any(_close(a, b, tolerance) for a in ours for b in theirs)
