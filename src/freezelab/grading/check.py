"""`freezelab check NOTEBOOK`: the learner's self-check before submitting an assignment.

Runs the notebook top to bottom in a fresh kernel and reports, per exercise, whether its public
test cells passed. Hidden tests are not available here; they run at grading time.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nbformat
from traitlets.config import Config

from .course import HIDDEN_BEGIN, jupyter_env, strip_hidden

HIDDEN_NOTE = ("Note: these are only the public tests. Hidden tests will also run at grading time, "
               "so passing here does not guarantee full marks.")


@dataclass
class CellResult:
    """The outcome of one public test cell."""

    cell: str
    exercise: str
    passed: bool
    message: str = ""


def exercise_of(grade_id: str, answers: Iterable[str] = ()) -> str:
    """`test_freeze_module_shared` -> `freeze_module`: the graded answer a test cell checks.

    With the notebook's answer names, the longest one the test id starts with wins; without them
    only the `_public` / `_hidden` suffixes are dropped.
    """
    name = grade_id.removeprefix("test_")
    low = name.lower()  # `test_answer_q1` checks `ANSWER_Q1`
    hits = [a for a in answers if low == a.lower() or low.startswith(a.lower() + "_")]
    if hits:
        return max(hits, key=len)
    return re.sub(r"_(public|hidden)(_?\d+)?$", "", name) or name


def _grade_id(cell) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta.get("grade_id")


ANSI = re.compile(r"\x1b\[[0-9;]*m")
# IPython marks the line that raised with an arrow: "----> 3 assert count_parameters(net) == 67"
RAISING_LINE = re.compile(r"^\s*-+>\s*\d+\s+(.*\S)\s*$")


def _failing_line(traceback: list[str]) -> str | None:
    """The source line of the test cell that raised (the first arrow of the traceback), or None."""
    for frame in traceback:
        for line in ANSI.sub("", frame).splitlines():
            match = RAISING_LINE.match(line)
            if match:
                return match.group(1)
    return None


def _error_line(cell) -> str | None:
    """The last line of the cell's error, e.g. 'AssertionError: expected 12 trainable elements'.

    An error without a message (a bare `assert`) is explained by the line that failed.
    """
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            name, value = out.get("ename", "Error"), str(out.get("evalue", "")).strip()
            if value:
                return f"{name}: {value.splitlines()[-1]}"
            line = _failing_line(out.get("traceback", []))
            return f"{name} in `{line}`" if line else name
    return None


def kernel_config(scratch: str) -> Config:
    """Talk to the kernel over a Unix socket where there are some: over TCP ipykernel warns, at every
    start, that the traffic is not encrypted, which is noise for a local self-check."""
    config = Config()
    if os.name == "posix":
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = os.path.join(scratch, "kernel")  # short: a socket path has a size limit
    return config


def _has_code(source: str) -> bool:
    """Whether a cell holds anything but blank lines and comments."""
    return any(line.strip() and not line.strip().startswith("#") for line in source.splitlines())


def load_notebook(path: Path):
    """Read a notebook or raise ValueError with one readable line."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as exc:  # nbformat raises several types for broken JSON
        raise ValueError(f"{path}: not a valid notebook ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None


def run_public_tests(path: Path, timeout: int = 120, kernel: str | None = None) -> list[CellResult]:
    """Execute the notebook (hidden regions removed) and return one result per test cell."""
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    nb = load_notebook(path)
    answers = [_grade_id(c) for c in nb.cells
               if c.cell_type == "code" and c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    tests = []
    for i, cell in enumerate(nb.cells):
        gid = _grade_id(cell)
        if cell.cell_type == "code" and gid and gid.startswith("test_"):
            if HIDDEN_BEGIN in cell.source:
                cell.source = strip_hidden(cell.source)
            if _has_code(cell.source):  # a released hidden-only cell is a comment: nothing public to run
                tests.append((i, gid))
    if not tests:
        raise ValueError(f"{path}: no test cells (grade_id test_...) found; is it an assignment notebook?")
    name = kernel or nb.metadata.get("kernelspec", {}).get("name") or "python3"
    crash = None
    with tempfile.TemporaryDirectory(prefix="fl-") as scratch:
        client = NotebookClient(nb, timeout=timeout, kernel_name=name, allow_errors=True,
                                config=kernel_config(scratch),
                                resources={"metadata": {"path": str(path.parent.resolve())}})
        try:
            client.execute(env=jupyter_env())
        except DeadKernelError as exc:
            crash = f"the kernel died ({exc}); is a cell using too much memory?"
        except Exception as exc:  # a timeout or a kernel that cannot start: report, do not crash
            crash = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
    results = []
    for i, gid in tests:
        cell = nb.cells[i]
        ran = cell.get("execution_count") is not None
        err = _error_line(cell)
        if err is None and not ran:
            err = crash or "did not run"
        results.append(CellResult(gid, exercise_of(gid, answers), err is None, err or ""))
    return results


def report(results: list[CellResult]) -> bool:
    """Print PASS/FAIL per exercise; True when every public test passed."""
    by_exercise: dict[str, list[CellResult]] = {}
    for r in results:
        by_exercise.setdefault(r.exercise, []).append(r)
    for exercise, rs in by_exercise.items():
        failed = [r for r in rs if not r.passed]
        if failed:
            print(f"FAIL  {exercise}: {failed[0].message}")
        else:
            print(f"PASS  {exercise}")
    passed = sum(all(r.passed for r in rs) for rs in by_exercise.values())
    print(f"\n{passed}/{len(by_exercise)} exercises pass their public tests.")
    print(HIDDEN_NOTE)
    return passed == len(by_exercise)


def main(argv: list[str]) -> int:
    """Entry point of `freezelab check`."""
    parser = argparse.ArgumentParser(prog="freezelab check", description=__doc__.splitlines()[0])
    parser.add_argument("notebook", help="your assignment notebook (.ipynb)")
    parser.add_argument("--timeout", type=int, default=120, help="seconds allowed per cell (default 120)")
    parser.add_argument("--kernel", help="Jupyter kernel name (default: the notebook's own)")
    args = parser.parse_args(argv)
    path = Path(args.notebook)
    try:
        results = run_public_tests(path, args.timeout, args.kernel)
    except ValueError as exc:
        print(f"freezelab check: {exc}", file=sys.stderr)
        return 2
    return 0 if report(results) else 1
