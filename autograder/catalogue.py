"""The graded answers of each assignment, their reference code, and the catalogue of wrong implementations.

The entry point tests and benchmarks import (with autograder/ on the path): the content itself lives in
assignments/<assignment>/ (spec.py, solution.py, mistakes.py). Every `Mistake` is a real misconception written as
a full replacement for one answer cell. The tests check that each one loses points on the answer it targets, while
the reference solutions score full marks.

    import nbformat, catalogue
    nb = nbformat.read("release/.../a1_freezing_basics.ipynb", as_version=4)
    filled = catalogue.fill_notebook(nb, catalogue.reference_answers("a1_freezing_basics"))
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from assignments import ASSIGNMENTS, Mistake, graded_names, mistakes, reference_source

HERE = Path(__file__).resolve().parent

__all__ = ["ASSIGNMENTS", "MISTAKES", "Mistake", "answer_cells", "fill_notebook", "graded_names",
           "mistake_answers", "mistakes_for", "reference_answers", "reference_source", "release_notebook",
           "source_notebook"]


def reference_answers(assignment: str) -> dict[str, str]:
    """grade_id -> reference code for every graded answer of `assignment` (for `fill_notebook`)."""
    return {name: reference_source(assignment, name) for name in graded_names(assignment)}


def answer_cells(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    """grade_id -> cell for the autograded-answer code cells (solution, not grade) of a notebook."""
    cells = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution") and not meta.get("grade"):
            cells[meta["grade_id"]] = cell
    return cells


def source_notebook(assignment: str) -> nbformat.NotebookNode:
    """The instructor's source notebook of `assignment` (solutions and hidden tests included)."""
    graded_names(assignment)  # validates the name
    return nbformat.read(HERE / "source" / assignment / f"{assignment}.ipynb", as_version=4)


def release_notebook(assignment: str) -> nbformat.NotebookNode:
    """What `nbgrader generate_assignment` gives students, made in-process (no gradebook, no checksums)."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions

    nb, resources = source_notebook(assignment), {}
    for step in (ClearSolutions(), ClearHiddenTests(), ClearOutput()):
        nb, resources = step.preprocess(nb, resources)
    return nb


def fill_notebook(nb: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of a released notebook with the answer cells named in `answers` replaced by that code."""
    filled = copy.deepcopy(nb)
    cells = answer_cells(filled)
    unknown = sorted(set(answers) - set(cells))
    if unknown:
        raise KeyError(f"no autograded-answer cell with grade_id {unknown} in this notebook "
                       f"(it has {sorted(cells)}).")
    for name, code in answers.items():
        cells[name].source = code
    return filled


# Read once, at import: every assignment's mistakes.py, in assignment order.
MISTAKES: list[Mistake] = [m for assignment in ASSIGNMENTS for m in mistakes(assignment)]


def mistake_answers(mistake: Mistake) -> dict[str, str]:
    """Reference code for every answer of the mistake's assignment, with the mistake in its one cell."""
    return {**reference_answers(mistake.assignment), mistake.name: mistake.code}


def mistakes_for(assignment: str) -> list[Mistake]:
    """The catalogued mistakes of one assignment."""
    return [m for m in MISTAKES if m.assignment == assignment]
