"""The course's assignments, one folder each: everything an assignment is made of, except its hidden checks.

    assignments/<A>/spec.py       the notebook's text, setup and public tests, multiple-choice questions and keys
    assignments/<A>/solution.py   the reference implementation of every graded function (the solution regions)
    assignments/<A>/mistakes.py   catalogued wrong answers, as `Mistake` records (a wrong multiple-choice
                                  letter is declared with its question, in spec.py)

The hidden checks stay in `freezelab_checks/<A>.py`: hidden test cells import them by that path, and nbgrader's
gradebook keeps those cells' source, so the path must not change. `build_sources.py` writes the notebooks.
"""

from __future__ import annotations

import ast
import importlib
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

from .records import Mistake, MultipleChoice

HERE = Path(__file__).resolve().parent
# Adding an assignment is adding a folder with a spec.py (its name is the nbgrader assignment name).
ASSIGNMENTS = tuple(sorted(p.name for p in HERE.iterdir() if (p / "spec.py").is_file()))


def _module(assignment: str, part: str) -> ModuleType:
    if assignment not in ASSIGNMENTS:
        raise ValueError(f"unknown assignment {assignment!r}: choose one of {', '.join(ASSIGNMENTS)}.")
    # Relative to this package: works once the package is imported, whatever sys.path holds by then.
    return importlib.import_module(f"{__name__}.{assignment}.{part}")


def cells(assignment: str) -> list[dict[str, Any]]:
    """The cell declarations of `assignment`'s spec.py, in notebook order."""
    return _module(assignment, "spec").CELLS


def graded_names(assignment: str) -> list[str]:
    """The grade_ids of the autograded-answer cells of `assignment`, in notebook order."""
    return [cell["name"] for cell in cells(assignment) if cell["kind"] == "answer"]


def multiple_choice(assignment: str) -> dict[str, MultipleChoice]:
    """grade_id -> question, for the multiple-choice answers declared with `mcq` in the spec."""
    return {cell["name"]: cell["choice"] for cell in cells(assignment) if "choice" in cell}


def mistakes(assignment: str) -> list[Mistake]:
    """The catalogued mistakes of `assignment`: those in its mistakes.py, then the wrong multiple-choice letters
    its spec names a misconception for (id `<a1>-<q1>-<letter>`)."""
    declared = [replace(m, assignment=assignment) for m in _module(assignment, "mistakes").MISTAKES]
    short = assignment.split("_", 1)[0]
    chosen = [Mistake(id=f"{short}-{q.name.lower().removeprefix('answer_')}-{letter}", name=q.name,
                      misconception=why, code=q.answer(letter), assignment=assignment)
              for q in multiple_choice(assignment).values() for letter, why in q.wrong.items()]
    return declared + chosen


def solution_path(assignment: str) -> Path:
    """The reference solution file of `assignment` (read as text: build_sources copies its functions)."""
    return HERE / assignment / "solution.py"


def solution_nodes(assignment: str) -> tuple[str, dict[str, ast.stmt]]:
    """The text of solution.py and its top-level functions and constants by name, in file order."""
    source = solution_path(assignment).read_text()
    nodes: dict[str, ast.stmt] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            nodes[node.name] = node
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            nodes[node.targets[0].id] = node
    return source, nodes


def reference_source(assignment: str, name: str) -> str:
    """The reference code of one graded answer: its function in solution.py, or a multiple-choice key."""
    choice = multiple_choice(assignment).get(name)
    if choice is not None:
        return choice.reference
    source, nodes = solution_nodes(assignment)
    if name not in nodes:
        raise KeyError(f"{name!r} is not defined in {solution_path(assignment).relative_to(HERE.parent)}")
    node = nodes[name]
    return "\n".join(source.splitlines()[node.lineno - 1: node.end_lineno])


__all__ = ["ASSIGNMENTS", "Mistake", "MultipleChoice", "cells", "graded_names", "mistakes", "multiple_choice",
           "reference_source", "solution_nodes", "solution_path"]
