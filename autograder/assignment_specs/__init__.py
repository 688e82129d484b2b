"""The text sources of the assignments: one module per assignment, each with a list `CELLS`.

Built into notebooks by `autograder/build_sources.py`; answer code comes from solutions/, never from here.
"""

from __future__ import annotations

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
    """The autograded-answer cell for `name` (a function or constant in solutions/)."""
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
