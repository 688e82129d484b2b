"""Judge a learner's answer to one quiz item: pure rules, no widgets, no files.

The widgets, the static HTML, the exports and the score all ask this module which items are scored,
which options are right, and what an answer earns:

    verdict = judge(item, response, before=progress.get(item["id"]))

`response` depends on the item: an option index for single-choice items (`mcq`, `code-output` or
`predict` with options), one tick flag per option for `multi`, the typed text for `code-output` without
options, the written text for `predict` without options, the ticked concepts for `free-response`, and
for a `flashcard` True ("I knew it"), False ("still learning") or None (only flipped).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from .answers import matches

LETTERS = "ABCDEFGHIJ"
# The learner commits to an answer, which is then judged or revealed (and Retry clears it).
CHECKED_TYPES = ("mcq", "multi", "code-output", "predict")
REVEAL_AFTER = 3  # wrong typed answers before the printed output is shown

Item = Mapping[str, Any]


def scored(item: Item) -> bool:
    """True when the item has a right answer to check and counts in the score (the rest is practice)."""
    return item["type"] in CHECKED_TYPES and (item["type"] != "predict" or bool(item.get("options")))


def right_options(item: Item) -> list[int]:
    """The indices of the options marked correct (empty for items without options)."""
    return [i for i, option in enumerate(item.get("options", [])) if option.get("correct")]


@dataclass(frozen=True)
class Verdict:
    """What one answer earns; `progress.save` stores it as the item's record."""

    correct: bool | None   # None: nothing to check (practice), or a card flipped but not rated
    response: Any          # the answer as saved: letter(s), text, ticked concepts, card rating
    attempts: int          # answers given to this item so far, this one included
    wrong: int             # of those, answers judged wrong
    first_try: bool        # right with the first answer ever given (kept once decided)
    reveal: bool           # show the answer and explanation now
    marks: tuple[bool, ...] = ()  # multi: per option, whether the learner's tick (or no tick) is right


def judge(item: Item, response: Any, before: Mapping[str, Any] | None = None) -> Verdict:
    """Judge `response` to `item`, given the item's saved record `before` (attempts, wrong tries)."""
    before = before or {}
    correct, saved, marks = _check(item, response)
    wrong = before.get("wrong", 0) + (correct is False)
    if item["type"] == "flashcard" and correct is None:
        correct = before.get("correct")  # flipping a card does not undo how the learner rated it
    attempts = before.get("attempts", 0) + 1
    if item["type"] in ("mcq", "multi", "code-output") and item.get("options"):
        reveal = correct is True  # a wrong pick leaves the other options to try
    elif item["type"] == "code-output":
        reveal = correct is True or wrong >= REVEAL_AFTER
    else:
        reveal = True  # locked predictions, model answers and card backs are shown at once
    return Verdict(correct=correct, response=saved, attempts=attempts, wrong=wrong,
                   first_try=before.get("first_try", attempts == 1 and correct is True),
                   reveal=reveal, marks=marks)


def _check(item: Item, response: Any) -> tuple[bool | None, Any, tuple[bool, ...]]:
    """(right?, the response as saved, per-option marks) for one answer."""
    kind, options = item["type"], item.get("options", [])
    if kind == "flashcard":
        return response, {True: "knew", False: "learning", None: "seen"}[response], ()
    if kind == "free-response":
        return None, list(response), ()
    if kind == "multi":
        ticked = [bool(t) for t in response]
        if len(ticked) != len(options):
            raise ValueError(f"{item['id']}: {len(ticked)} ticks for {len(options)} options")
        right = set(right_options(item))
        marks = tuple(t == (i in right) for i, t in enumerate(ticked))
        return all(marks), [LETTERS[i] for i, t in enumerate(ticked) if t], marks
    if options:  # mcq, or code-output / predict answered by picking an option
        if not 0 <= response < len(options):
            raise ValueError(f"{item['id']}: no option {response!r}; it has {len(options)}")
        return response in right_options(item), LETTERS[response], ()
    if kind == "code-output":
        return matches(response, item["answer"], item.get("tolerance")), response, ()
    return None, response, ()  # predict without options: an open prediction, compared by the learner


class Score(NamedTuple):
    """A quiz's score: right first try, right after retrying, scored items, answered items."""

    first: int
    later: int
    scored: int
    answered: int


def score(items: Iterable[Item], saved: Mapping[str, Mapping[str, Any]]) -> Score:
    """Score `items` from saved records: only scored items count as right, every item as answered."""
    items = list(items)
    records = [saved.get(i["id"], {}) for i in items if scored(i)]
    first = sum(r.get("correct") is True and r.get("first_try") is True for r in records)
    later = sum(r.get("correct") is True and r.get("first_try") is not True for r in records)
    answered = sum(bool(saved.get(i["id"], {}).get("answered")) for i in items)
    return Score(first, later, len(records), answered)
