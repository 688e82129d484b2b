"""nbgrader preprocessors of the course (registered in autograder/nbgrader_config.py).

- `CheckerVerdicts` takes the place of nbgrader's Execute preprocessor when `freezelab grade` runs autograde:
  no kernel starts and no student code runs. It writes the trusted checker's verdicts as the outputs of the
  test cells (an error output with the checker's message on failure, nothing on success) and the student's
  own captured output on answer cells; nbgrader's SaveAutoGrades then records the scores as usual.
- `InsertRubrics` puts the rubric of each manually graded answer (rubrics/<assignment>.md of the course) in a
  plain markdown cell right after the answer in the autograded notebook, which is what formgrader shows
  while grading. The cell has no nbgrader metadata: it is not a grade cell and changes no score.
- `RedactHidden` runs in nbgrader's own "Generate feedback": hidden test code and tracebacks never reach the
  feedback HTML, whoever presses the button, and neither do the rubric cells (a rubric states the model
  answer, like the solution region it is written in: it stays with the instructor, who can quote from it in
  the comment that formgrader sends with the grade).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from ..paths import verdicts_dir
from .course import CHECKS_PACKAGE, HIDDEN_BEGIN, strip_hidden

# nbgrader autograde's steps under `freezelab grade`: CheckerVerdicts instead of Execute (no kernel starts).
AUTOGRADE_STEPS = ("freezelab.grading.nbplugins.CheckerVerdicts", "nbconvert.preprocessors.ClearMetadataPreprocessor",
                   "nbgrader.preprocessors.LimitOutput", "nbgrader.preprocessors.SaveAutoGrades",
                   "nbgrader.preprocessors.AssignLatePenalties", "freezelab.grading.nbplugins.InsertRubrics",
                   "nbgrader.preprocessors.CheckCellMetadata")
RUBRICS_DIR = "rubrics"  # in the course root: <assignment>.md, one "## <grade_id> (N points)" section per answer
RUBRIC_KEY = "rubric_for"  # cell.metadata.freezelab[RUBRIC_KEY] = grade_id marks an inserted rubric cell
_RUBRIC_HEADING = re.compile(r"^## (\S+) \(([\d.]+) points?\)\s*$")


def autograde_args(verdicts: Path) -> list[str]:
    """nbgrader command-line options that record the checker's verdicts, whatever the course's config says."""
    return ([f"--Autograde.autograde_preprocessors={step}" for step in AUTOGRADE_STEPS]
            + [f"--CheckerVerdicts.verdicts_dir={verdicts}"])
ANSWER_OUTPUT_CAP = 10_000  # characters of a student's printed output shown per answer cell


def _meta(cell: Any) -> dict:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    grading = meta.get("nbgrader") if isinstance(meta, dict) else None
    return grading if isinstance(grading, dict) else {}  # a hostile notebook may put anything there


def _source_text(cell: Any) -> str | None:
    source = cell.get("source") if isinstance(cell, dict) else None
    if isinstance(source, list) and all(type(s) is str for s in source):
        source = "".join(source)
    return source if type(source) is str else None


def reconcile(released: Any, submitted: Any) -> tuple[Any, list[str]]:
    """The released notebook with the student's answer cells in place, and what was ignored (named reasons).

    Everything but the answers (instructions, setup, public and hidden tests, grade metadata) comes from the
    release, so an edited, duplicated, deleted or extra grade cell in the submission changes nothing.
    """
    known = {_meta(c).get("grade_id"): c for c in released.cells if _meta(c).get("grade_id")}
    answers: dict[str, Any] = {}
    notes, own = [], 0
    cells = submitted.get("cells") if isinstance(submitted, dict) else None
    for cell in cells if isinstance(cells, list) else []:
        gid = _meta(cell).get("grade_id") if isinstance(cell, dict) else None
        if gid is None:
            own += isinstance(cell, dict) and cell.get("cell_type") == "code"
        elif type(gid) is not str or gid not in known:
            notes.append(f"cell {str(gid)[:60]!r} is not part of the assignment: ignored")
        elif gid in answers:
            notes.append(f"cell {gid!r} appears more than once: only the first copy counts")
        else:
            answers[gid] = cell
    notes += _tampered(known, answers)
    out = copy.deepcopy(released)
    for cell in out.cells:
        meta = _meta(cell)
        gid = meta.get("grade_id")
        if not meta.get("solution"):
            continue
        theirs = answers.get(gid)
        text = _source_text(theirs) if theirs is not None else None
        if theirs is None:
            notes.append(f"answer cell {gid!r} is missing from the submission")
        elif text is None or theirs.get("cell_type") != cell.cell_type:
            notes.append(f"answer cell {gid!r} was changed into something else: ignored")
        else:
            cell.source = text
    if own:
        notes.append(f"{own} cell(s) added by the student were not run: only answer cells are graded")
    return out, notes


GRADING_KEYS = ("grade", "solution", "locked", "task", "points")


def _tampered(known: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """Notes on the instructor's cells (tests, locked text) that the submission changed; the released ones count."""
    notes = []
    for gid, cell in known.items():
        meta = _meta(cell)
        if meta.get("solution"):
            continue
        copy_ = theirs.get(gid)
        kind = "test cell" if meta.get("grade") else "cell"
        if copy_ is None:
            notes.append(f"{kind} {gid!r} is missing from the submission: the released one was used")
        elif any(_meta(copy_).get(k) != meta.get(k) for k in GRADING_KEYS):
            notes.append(f"{kind} {gid!r} had its grading settings changed: the released one was used")
        elif _source_text(copy_) != _source_text(cell):
            notes.append(f"{kind} {gid!r} was edited: the released one was used")
    return notes


def _error(message: str, ename: str = "Failed") -> dict:
    from nbformat.v4 import new_output

    return new_output("error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])


def verdicts_path(root: str | Path, student: str, assignment: str, notebook: str) -> Path:
    """Where `freezelab grade` leaves the checker's report for one notebook."""
    return Path(root) / student / assignment / f"{notebook}.json"


class CheckerVerdicts(NbGraderPreprocessor):
    """Write the checker's verdicts into the notebook instead of executing it."""

    verdicts_dir = Unicode("", help="folder of the checker's reports (default: $FREEZELAB_VERDICTS)").tag(
        config=True)

    def preprocess(self, nb: Any, resources: dict) -> tuple[Any, dict]:
        info = resources["nbgrader"]
        root = self.verdicts_dir or verdicts_dir()
        path = verdicts_path(root, info["student"], info["assignment"], info["notebook"])
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError):
            report = {"verdicts": {}, "outputs": {}, "notes": [f"no checker report at {path}"]}
        verdicts, outputs = report.get("verdicts", {}), report.get("outputs", {})
        from nbformat.v4 import new_output

        for count, cell in enumerate(nb.cells, start=1):
            if cell.cell_type != "code":
                continue
            meta = _meta(cell)
            gid = meta.get("grade_id")
            cell.outputs = []
            cell.execution_count = count
            if meta.get("grade") and not meta.get("solution"):
                verdict = verdicts.get(gid)
                if verdict is None:
                    cell.outputs.append(_error("this test was not run by the grader (no verdict)"))
                elif not verdict.get("passed"):
                    cell.outputs.append(_error(str(verdict.get("message") or "the test failed")))
            elif meta.get("solution") and outputs.get(gid):
                text = str(outputs[gid])
                if len(text) > ANSWER_OUTPUT_CAP:
                    text = text[:ANSWER_OUTPUT_CAP] + f"\n[... {len(text) - ANSWER_OUTPUT_CAP} characters cut]"
                cell.outputs.append(new_output("stream", name="stdout", text=text))
        return nb, resources


def parse_rubrics(text: str) -> dict[str, tuple[str, str]]:
    """grade_id -> (points, rubric text) from a rubric file's "## <grade_id> (N points)" sections."""
    found: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in text.splitlines():
        heading = _RUBRIC_HEADING.match(line)
        if heading:
            current = heading.group(1)
            found[current] = (heading.group(2), [])
        elif line.startswith("## "):
            current = None  # a section that belongs to no answer
        elif current:
            found[current][1].append(line)
    return {gid: (points, "\n".join(lines).strip()) for gid, (points, lines) in found.items()}


def rubric_cell(grade_id: str, points: str, text: str, source: str) -> Any:
    """A markdown cell that shows one answer's rubric to the grader (quoted, so it reads apart from the answer)."""
    from nbformat.v4 import new_markdown_cell

    head = (f"**Rubric for `{grade_id}` ({points} points)**: for the grader, from `{source}`; "
            "not part of the student's answer, not in their feedback.")
    quoted = "\n".join(f"> {line}".rstrip() for line in [head, "", *text.splitlines()])
    return new_markdown_cell(quoted, metadata={"freezelab": {RUBRIC_KEY: grade_id}})


def is_rubric_cell(cell: Any) -> bool:
    """Whether a cell is one that InsertRubrics added."""
    return RUBRIC_KEY in (cell.get("metadata", {}).get("freezelab") or {})


class InsertRubrics(NbGraderPreprocessor):
    """Put each manually graded answer's rubric right after it, for formgrader (scores are not touched)."""

    rubrics_dir = Unicode("", help=f"folder of <assignment>.md rubrics (default: {RUBRICS_DIR}/ in the folder "
                                   "nbgrader runs in, the course root)").tag(config=True)

    def preprocess(self, nb: Any, resources: dict) -> tuple[Any, dict]:
        assignment = resources["nbgrader"]["assignment"]
        path = Path(self.rubrics_dir or RUBRICS_DIR) / f"{assignment}.md"
        rubrics = parse_rubrics(path.read_text(encoding="utf-8")) if path.is_file() else {}
        cells = []
        for cell in nb.cells:
            if is_rubric_cell(cell):  # one from an earlier pass (or a forged one): replaced below
                continue
            cells.append(cell)
            meta = _meta(cell)
            gid = meta.get("grade_id")
            if meta.get("solution") and meta.get("grade") and gid in rubrics:
                cells.append(rubric_cell(gid, *rubrics[gid], f"{RUBRICS_DIR}/{path.name}"))
        nb.cells = cells
        return nb, resources


def redact(nb: Any) -> Any:
    """Remove what a student's feedback must not show: hidden test code, its tracebacks, the rubric cells."""
    nb.cells = [cell for cell in nb.cells if not is_rubric_cell(cell)]
    for cell in nb.cells:
        if cell.cell_type != "code" or HIDDEN_BEGIN not in cell.source:
            continue
        cell.source = strip_hidden(cell.source)
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                # a traceback would print the check's source lines: keep only the message
                out["evalue"] = out.get("evalue", "").replace(CHECKS_PACKAGE, "hidden_checks")
                out["traceback"] = [f"{out.get('ename', 'Error')}: {out['evalue']}"]
            elif "text" in out:
                out["text"] = out["text"].replace(CHECKS_PACKAGE, "hidden_checks")
    return nb


class RedactHidden(NbGraderPreprocessor):
    """Feedback without hidden test code (registered for nbgrader's GenerateFeedback)."""

    def preprocess(self, nb: Any, resources: dict) -> tuple[Any, dict]:
        return redact(nb), resources
