"""What an assignment folder declares: notebook cells (spec.py), multiple-choice keys, catalogued mistakes.

A spec's `CELLS` is a list of plain dicts made by the helpers below; `build_sources.py` turns it into the source
notebook. The answer code of a function comes from the folder's solution.py; a multiple-choice answer is declared
once, with its key, by `mcq` and both the notebook's solution region and its hidden check read it from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from textwrap import dedent
from typing import Any

CELL_KINDS = ("md", "setup", "answer", "public", "hidden", "free")
# A multiple-choice answer cell, as released, names its variable (the solution region becomes a stub), and its
# public test says what is wrong with the value.
MCQ_INTRO = '# Your answer: one letter in quotes, e.g. {0} = "a". Write it in place of the two lines below.'
MCQ_PUBLIC = 'assert {0} in ("a", "b", "c", "d"), f"{0} must be one letter in quotes, a to d; it is {{{0}!r}}"'


def md(text: str) -> dict[str, Any]:
    """A read-only markdown cell (instructions)."""
    return {"kind": "md", "text": text.strip("\n")}


def setup(code: str) -> dict[str, Any]:
    """A read-only code cell that runs before the answers (imports, data)."""
    return {"kind": "setup", "code": code.strip("\n")}


def answer(name: str, intro: str = "") -> dict[str, Any]:
    """The autograded-answer cell for `name` (a function in the folder's solution.py)."""
    return {"kind": "answer", "name": name, "intro": intro.strip("\n")}


def public(name: str, code: str, points: int = 1) -> dict[str, Any]:
    """A visible test cell for `name` (plain asserts the learner can read)."""
    return {"kind": "public", "name": name, "code": code.strip("\n"), "points": points}


def hidden(name: str) -> dict[str, Any]:
    """One hidden test cell per registered check of `name`."""
    return {"kind": "hidden", "name": name}


def free(grade_id: str, rubric: str, points: int = 2) -> dict[str, Any]:
    """A manually graded free-response markdown cell; the rubric stays in the solution region."""
    return {"kind": "free", "grade_id": grade_id, "rubric": rubric.strip("\n"), "points": points}


@dataclass(frozen=True)
class MultipleChoice:
    """A graded multiple-choice answer: the constant the learner sets, the right letter, a hint when wrong, and
    the misconception behind each wrong letter worth cataloguing (each becomes a `Mistake`)."""

    name: str
    key: str
    hint: str
    wrong: dict[str, str] = field(default_factory=dict)

    def answer(self, letter: str) -> str:
        """The answer cell's code for one letter, e.g. `ANSWER_Q1 = "c"`."""
        return f'{self.name} = "{letter}"'

    @property
    def reference(self) -> str:
        """The reference answer cell's code: the key."""
        return self.answer(self.key)


def mcq(name: str, text: str, key: str, hint: str, wrong: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """A multiple-choice question: its text, the answer cell (solution: the key), a public and a hidden test."""
    letters = ("a", "b", "c", "d")
    if key not in letters or not set(wrong or {}) <= set(letters) - {key}:
        raise ValueError(f"mcq {name}: the key ({key!r}) and the wrong letters ({sorted(wrong or {})}) must be "
                         "letters a to d, the key not among the wrong ones.")
    return [md(text),
            {**answer(name, MCQ_INTRO.format(name)), "choice": MultipleChoice(name, key, hint, dict(wrong or {}))},
            public(name, MCQ_PUBLIC.format(name)),
            hidden(name)]


@dataclass(frozen=True)
class Mistake:
    """A wrong implementation of one graded answer, drawn from a real misconception.

    `code` replaces the whole answer cell `name` of the released notebook, exactly as a learner would write it; the
    tests check that every mistake loses points on the answer it targets.
    """

    id: str
    name: str  # the grade_id of the answer cell it replaces
    misconception: str  # one line
    code: str  # the full replacement for that answer cell, as a learner would write it (dedented here)
    assignment: str = ""  # the folder it is declared in; `assignments.mistakes()` fills it in

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", dedent(self.code).strip("\n"))
