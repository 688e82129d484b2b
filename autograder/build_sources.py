"""Write the nbgrader source notebooks from text: assignments/<assignment>/{spec,solution}.py.

    python autograder/build_sources.py            # rewrite autograder/source/<A>/<A>.ipynb and rubrics/<A>.md
    python autograder/build_sources.py --check    # exit 1 if a written file differs from a fresh build

The solution region of every answer cell is the body of the matching function in the assignment's solution.py
(or the key of a multiple-choice question in its spec.py), and every hidden test cell only imports and calls one
check from freezelab_checks, so nothing can drift by hand-editing. Each notebook says so in its metadata.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path
from typing import Any

import assignments
import nbformat
from assignments import ASSIGNMENTS
from assignments.records import CELL_KINDS

from freezelab.grading.course import HIDDEN_PLACEHOLDER

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def generated_note(assignment: str) -> str:
    """The stamp in a source notebook's metadata: where it comes from, and not to edit it by hand."""
    return (f"from autograder/assignments/{assignment}/spec.py and solution.py by autograder/build_sources.py"
            " - do not edit: change those files and rerun the script")


def answer_cell_source(assignment: str, name: str, intro: str = "") -> str:
    """The source notebook's answer cell: signature and docstring outside, body inside the solution region."""
    prefix = [intro] if intro else []
    choice = assignments.multiple_choice(assignment).get(name)
    if choice is not None:
        return "\n".join(prefix + ["### BEGIN SOLUTION", choice.reference, "### END SOLUTION"])
    source, nodes = assignments.solution_nodes(assignment)
    lines = source.splitlines()
    node = nodes[name]
    if isinstance(node, ast.Assign):
        body = lines[node.lineno - 1: node.end_lineno]
        return "\n".join(prefix + ["### BEGIN SOLUTION", *body, "### END SOLUTION"])
    assert isinstance(node, ast.FunctionDef)
    first = node.body[0]
    has_doc = isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant)
    split = first.end_lineno if has_doc else node.body[0].lineno - 1
    head = lines[node.lineno - 1: split]
    body = lines[split: node.end_lineno]
    while body and not body[0].strip():
        head.append(body.pop(0))  # the marker takes its indentation from the first line of code
    indent = " " * (len(body[0]) - len(body[0].lstrip()))
    return "\n".join(prefix + head + [f"{indent}### BEGIN SOLUTION", *body, f"{indent}### END SOLUTION"])


# ---------------------------------------------------------------------------------------------------------
# Building the notebook
# ---------------------------------------------------------------------------------------------------------

def _meta(grade_id: str, *, grade: bool, solution: bool, locked: bool, points: int | None = None
          ) -> dict[str, Any]:
    meta: dict[str, Any] = {"grade": grade, "grade_id": grade_id, "locked": locked,
                            "schema_version": 3, "solution": solution, "task": False}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def test_cell_id(check_name: str, target: str) -> str:
    """grade_id of a hidden test cell: `test_<graded name>` plus the check's own suffix, if any."""
    rest = check_name.removeprefix("check_")
    if rest.lower().startswith(target.lower()):
        rest = target + rest[len(target):]  # check_answer_q1 -> test_ANSWER_Q1
    return "test_" + rest


def hidden_cell_source(assignment: str, check_name: str, target: str) -> str:
    """A hidden test cell: import one check and call it on the learner's answer."""
    return (f"{HIDDEN_PLACEHOLDER}\n"  # what the released cell shows instead of a blank cell
            "### BEGIN HIDDEN TESTS\n"
            f"from freezelab_checks.{assignment} import {check_name}\n"
            f"{check_name}({target})\n"
            "### END HIDDEN TESTS")


def build_notebook(assignment: str) -> tuple[nbformat.NotebookNode, str]:
    """The source notebook and the rubric markdown for one assignment."""
    from freezelab_checks import checks_for

    checks = checks_for(assignment)
    cells = []
    rubric = [f"# Rubric for {assignment} (instructor-only)", ""]
    counter = {"md": 0, "setup": 0}
    for item in assignments.cells(assignment):
        kind = item["kind"]
        if kind == "md":
            counter["md"] += 1
            cell = nbformat.v4.new_markdown_cell(item["text"], id=f"md-{counter['md']:02d}")
        elif kind == "setup":
            counter["setup"] += 1
            gid = f"setup_{counter['setup']}"
            cell = nbformat.v4.new_code_cell(item["code"], id=gid.replace("_", "-"),
                                             metadata=_meta(gid, grade=False, solution=False, locked=True))
        elif kind == "answer":
            name = item["name"]
            cell = nbformat.v4.new_code_cell(answer_cell_source(assignment, name, item["intro"]),
                                             id=f"answer-{name}".replace("_", "-"),
                                             metadata=_meta(name, grade=False, solution=True, locked=False))
        elif kind == "public":
            gid = f"test_{item['name']}_public"
            cell = nbformat.v4.new_code_cell(item["code"], id=gid.replace("_", "-"),
                                             metadata=_meta(gid, grade=True, solution=False, locked=True,
                                                            points=item["points"]))
        elif kind == "hidden":
            for check in checks[item["name"]]:
                gid = test_cell_id(check.__name__, item["name"])
                code = hidden_cell_source(assignment, check.__name__, item["name"])
                cells.append(nbformat.v4.new_code_cell(
                    code, id=gid.replace("_", "-"),
                    metadata=_meta(gid, grade=True, solution=False, locked=True, points=check.points)))
            continue
        elif kind == "free":
            gid = item["grade_id"]
            text = f"### BEGIN SOLUTION\n{item['rubric']}\n### END SOLUTION"
            cell = nbformat.v4.new_markdown_cell(text, id=gid.replace("_", "-"),
                                                 metadata=_meta(gid, grade=True, solution=True, locked=False,
                                                                points=item["points"]))
            rubric += [f"## {gid} ({item['points']} points)", "", item["rubric"], ""]
        else:
            raise ValueError(f"unknown cell kind {kind!r} in assignments/{assignment}/spec.py: "
                             f"use one of {CELL_KINDS}.")
        cells.append(cell)
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                  "name": "python3"},
                   "language_info": {"name": "python"},
                   "freezelab": {"generated": generated_note(assignment)}}
    nbformat.validate(nb)
    return nb, "\n".join(rubric).rstrip() + "\n"


def render(assignment: str) -> dict[Path, str]:
    """Every file this script writes for one assignment, as path -> text."""
    nb, rubric = build_notebook(assignment)
    return {HERE / "source" / assignment / f"{assignment}.ipynb": nbformat.writes(nb) + "\n",
            HERE / "rubrics" / f"{assignment}.md": rubric}


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, compare) every source notebook and rubric."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("assignments", nargs="*", default=list(ASSIGNMENTS))
    args = parser.parse_args(argv)
    stale = []
    for assignment in args.assignments:
        for path, text in render(assignment).items():
            if args.check:
                if not path.exists() or path.read_text() != text:
                    stale.append(path)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
                print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("out of date (run `python autograder/build_sources.py`): "
              + ", ".join(str(p.relative_to(ROOT)) for p in stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
