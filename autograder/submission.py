"""Load the graded answers out of a submission notebook without nbgrader, and run the hidden checks on them.

Code cells run one after another in one fresh namespace, as they would in a kernel, except the test cells.
Each cell runs on its own (with a timeout): a syntax error or exception in one cell only loses what that cell
defines, and the checks of those answers fail with the cell's error as the reason.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from build_sources import ASSIGNMENTS  # noqa: E402

CELL_TIMEOUT_S = 60


@dataclass
class Submission:
    """What a submission notebook defines: its namespace and, per graded name, why it may be missing."""

    path: Path
    assignment: str
    namespace: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)  # grade_id -> what went wrong in its cell

    def answer(self, name: str) -> Any:
        """The learner's object called `name`; raise a clear AssertionError if their cell did not define it."""
        if name in self.namespace:
            return self.namespace[name]
        reason = self.errors.get(name, "the notebook does not define it")
        raise AssertionError(f"{name} is not available: {reason}")


class CellTimeout(Exception):
    """A cell ran longer than the timeout."""


@contextlib.contextmanager
def _time_limit(seconds: int) -> Iterator[None]:
    if seconds <= 0 or not hasattr(signal, "SIGALRM") or os.name == "nt":
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise CellTimeout(f"the cell ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


class _FakeIPython:
    """Enough of IPython for cells that use %magics or !commands: they are ignored."""

    def run_line_magic(self, *args: Any, **kwargs: Any) -> None:
        return None

    def run_cell_magic(self, *args: Any, **kwargs: Any) -> None:
        return None

    def system(self, *args: Any, **kwargs: Any) -> None:
        return None

    def getoutput(self, *args: Any, **kwargs: Any) -> list[str]:
        return []


def _python_source(source: str) -> str:
    """Cell source as plain Python (IPython magics become calls on a do-nothing shell)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return source
    return TransformerManager().transform_cell(source)


def detect_assignment(nb: nbformat.NotebookNode) -> str:
    """Which assignment a notebook belongs to, from the grade_ids of its cells."""
    from catalogue import graded_names

    ids = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb.cells}
    scores = {a: len(ids & set(graded_names(a))) for a in ASSIGNMENTS}
    best = max(scores, key=lambda a: scores[a])
    if scores[best] == 0:
        raise ValueError("this notebook has no graded answer cell of a freezelab assignment "
                         f"({', '.join(ASSIGNMENTS)}); pass --assignment or check the file.")
    return best


def load_submission(path: str | Path, assignment: str | None = None, timeout: int = CELL_TIMEOUT_S
                    ) -> Submission:
    """Run a submission notebook's non-test code cells in a fresh namespace and collect what they define."""
    path = Path(path)
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported the same way
        raise ValueError(f"{path} is not a readable notebook ({type(exc).__name__}: {exc}).") from exc
    assignment = assignment or detect_assignment(nb)
    namespace: dict[str, Any] = {"__name__": "__submission__", "get_ipython": _FakeIPython}
    errors: dict[str, str] = {}
    os.environ.setdefault("MPLBACKEND", "Agg")
    for index, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or (meta.get("grade") and not meta.get("solution")):
            continue  # markdown and test cells do not run here
        label = meta.get("grade_id") or f"cell {index + 1}"
        reason = _run_cell(cell.source, namespace, label, timeout)
        if reason and meta.get("grade_id"):
            errors[meta["grade_id"]] = reason
    return Submission(path, assignment, namespace, errors)


def _run_cell(source: str, namespace: dict[str, Any], label: str, timeout: int) -> str | None:
    try:
        # dont_inherit: cells must not get this module's `from __future__ import annotations`.
        code = compile(_python_source(source), f"<{label}>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"its cell has a syntax error (line {exc.lineno}: {exc.msg})"
    sink = io.StringIO()
    try:
        with _time_limit(timeout), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            exec(code, namespace)
    except NotImplementedError:
        return "its cell still raises NotImplementedError (not answered yet)"
    except CellTimeout as exc:
        return str(exc)
    except BaseException as exc:  # noqa: BLE001 - SystemExit and friends from a cell must not stop grading
        return f"its cell raised {type(exc).__name__}: {exc}"
    return None


_LOADED: dict[tuple[str, str | None], Submission] = {}


def loaded_submission(path: str | Path, assignment: str | None = None) -> Submission:
    """`load_submission`, run once per process for each notebook (the pytest route grades many checks)."""
    key = (str(path), assignment)
    if key not in _LOADED:
        _LOADED[key] = load_submission(path, assignment)
    return _LOADED[key]


def checks_of(assignment: str) -> list[tuple[str, Callable[[Any], None]]]:
    """(graded name, check) pairs for every hidden check of an assignment, in notebook order."""
    from catalogue import graded_names
    from freezelab_checks import checks_for

    checks = checks_for(assignment)
    return [(name, check) for name in graded_names(assignment) for check in checks.get(name, [])]


def run_checks(submission: Submission, names: list[str] | None = None) -> dict[str, str | None]:
    """check name -> None when it passed, else the failure message (all checks, or those of `names`)."""
    results: dict[str, str | None] = {}
    for name, check in checks_of(submission.assignment):
        if names is not None and name not in names:
            continue
        try:
            check(submission.answer(name))
        except AssertionError as exc:
            results[check.__name__] = str(exc)
        else:
            results[check.__name__] = None
    return results
