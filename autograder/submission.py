"""Grade a submission notebook without nbgrader: the same trusted checker as `freezelab grade`.

The notebook's answer cells (and the course's setup cells, never the submission's copies) run in a sandboxed
child process, one cell at a time with a time limit: a syntax error, exception or hang in one cell only loses
what that cell defines. The hidden checks run here, on proxies of the student's functions (see
`freezelab.grading.checker`); no student code runs in this process.
"""

from __future__ import annotations

import atexit
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from assignments import ASSIGNMENTS, graded_names

CELL_TIMEOUT_S = 60
_LAUNCHER: dict[str, Any] = {"isolate": None, "launcher": None}


def configure(isolate: bool) -> None:
    """Choose isolation for the children started from now on (the pytest route's --no-sandbox)."""
    close()
    _LAUNCHER["isolate"] = isolate


def _launcher() -> Any:
    from freezelab.grading.checker import Launcher

    if _LAUNCHER["launcher"] is None:
        isolate = _LAUNCHER["isolate"]
        if isolate is None:  # in-process use (the content tests): isolate whenever this machine can
            from freezelab.grading.sandbox import isolation_available

            isolate = isolation_available()[0]
        launcher = Launcher(isolate)
        launcher.start()
        _LAUNCHER["launcher"] = launcher
    return _LAUNCHER["launcher"]


def close() -> None:
    """Stop the warm sandbox (every child it started goes with it)."""
    if _LAUNCHER["launcher"] is not None:
        _LAUNCHER["launcher"].close()
        _LAUNCHER["launcher"] = None


atexit.register(close)


@dataclass
class Submission:
    """A submission's answers, live in a sandboxed child, and per graded name why it may be missing."""

    path: Path
    assignment: str
    session: Any
    errors: dict[str, str] = field(default_factory=dict)  # grade_id -> what went wrong in its cell

    def answer(self, name: str) -> Any:
        """The student's object called `name` (a proxy); a clear AssertionError if their cell did not define it."""
        return self.session.answer(name)


def detect_assignment(nb: nbformat.NotebookNode) -> str:
    """Which assignment a notebook belongs to, from the grade_ids of its cells."""
    ids = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb.cells}
    scores = {a: len(ids & set(graded_names(a))) for a in ASSIGNMENTS}
    best = max(scores, key=lambda a: scores[a])
    if scores[best] == 0:
        raise ValueError("this notebook has no graded answer cell of a freezelab assignment "
                         f"({', '.join(ASSIGNMENTS)}); pass --assignment or check the file.")
    return best


def load_submission(path: str | Path, assignment: str | None = None, timeout: int = CELL_TIMEOUT_S
                    ) -> Submission:
    """Run a submission's answer cells in a fresh sandboxed child and collect what they define."""
    from catalogue import source_notebook

    from freezelab.grading.checker import Session, child_cells

    path = Path(path)
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported the same way
        raise ValueError(f"{path} is not a readable notebook ({type(exc).__name__}: {exc}).") from exc
    assignment = assignment or detect_assignment(nb)
    cells, answers, missing, _ = child_cells(source_notebook(assignment), nb)
    session = Session(_launcher(), cells, answers, cell_timeout=timeout)
    session.cell_errors.update(missing)
    session.start()
    errors = {k: v for k, v in session.cell_errors.items() if k in answers}
    submission = Submission(path, assignment, session, errors)
    weakref.finalize(submission, session.close)  # its child stops when the submission is dropped
    return submission


_LOADED: dict[tuple[str, str | None], Submission] = {}


def loaded_submission(path: str | Path, assignment: str | None = None) -> Submission:
    """`load_submission`, run once per process for each notebook (the pytest route grades many checks)."""
    key = (str(path), assignment)
    if key not in _LOADED:
        _LOADED[key] = load_submission(path, assignment)
    return _LOADED[key]


def checks_of(assignment: str) -> list[tuple[str, Callable[[Any], None]]]:
    """(graded name, check) pairs for every hidden check of an assignment, in notebook order."""
    from freezelab_checks import checks_for

    checks = checks_for(assignment)
    return [(name, check) for name in graded_names(assignment) for check in checks.get(name, [])]


def run_check(submission: Submission, name: str, check: Callable[[Any], None]) -> None:
    """Run one hidden check of answer `name`; AssertionError with the learner's message when it fails."""
    submission.session.begin(name)
    check(submission.answer(name))


def run_checks(submission: Submission, names: list[str] | None = None) -> dict[str, str | None]:
    """check name -> None when it passed, else the failure message (all checks, or those of `names`)."""
    results: dict[str, str | None] = {}
    for name, check in checks_of(submission.assignment):
        if names is not None and name not in names:
            continue
        try:
            run_check(submission, name, check)
        except AssertionError as exc:
            results[check.__name__] = str(exc)
        else:
            results[check.__name__] = None
    return results
