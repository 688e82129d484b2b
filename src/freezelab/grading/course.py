"""Shared helpers: find the nbgrader course root, copy it, run nbgrader, spot secret markers."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import freezelab

# The markers are assembled from pieces so that this file, which ships in the student wheel,
# does not itself trip the bundle scan that looks for them.
SOLUTION_BEGIN = "### BEGIN " + "SOLUTION"
SOLUTION_END = "### END " + "SOLUTION"
HIDDEN_BEGIN = "### BEGIN " + "HIDDEN TESTS"
HIDDEN_END = "### END " + "HIDDEN TESTS"
CHECKS_PACKAGE = "freezelab" + "_checks"
# The first line of every hidden test cell, above its hidden region: all that a released cell shows.
HIDDEN_PLACEHOLDER = "# Hidden tests: they run when your work is graded and are not shown here."
# What must never reach a student (searched for in the text of every bundled file).
SECRET_MARKERS = ("BEGIN " + "SOLUTION", "BEGIN " + "HIDDEN TESTS", CHECKS_PACKAGE)

# nbgrader's working folders: generated, never part of a clean copy of the course.
WORK_DIRS = ("release", "submitted", "autograded", "feedback", "outbound", "exchange")
WORK_FILES = ("gradebook.db", ".nbgrader.log")


class GradingError(Exception):
    """A problem the user can fix; the CLI prints it as one line."""


class UsageError(GradingError):
    """Bad input on the command line (a folder in the way, a wrong name): the CLI exits with status 2."""


def plural(n: int, word: str) -> str:
    """`n word` with an s unless n is 1: "1 submission", "3 submissions"."""
    return f"{n} {word}" + ("" if n == 1 else "s")


def repo_root() -> Path:
    """The repository checkout that holds the package (src layout)."""
    return Path(freezelab.__file__).resolve().parents[2]


def is_course(folder: Path) -> bool:
    """Whether `folder` looks like an nbgrader course root (nbgrader_config.py and source/)."""
    return (folder / "source").is_dir() and (folder / "nbgrader_config.py").is_file()


def find_course(course: str | Path | None = None) -> Path:
    """The nbgrader course root: `course` if given, else the current folder's (`./autograder` or `.`),
    else `autograder/` in the checkout this package was installed from."""
    here = [Path.cwd() / "autograder", Path.cwd()]
    root = Path(course) if course else next((c for c in here if is_course(c)), repo_root() / "autograder")
    if not (root / "source").is_dir():
        where = f"--course {course}" if course else f"{root} (the repo's autograder/)"
        raise GradingError(f"no nbgrader course root at {where}: it needs a source/ folder; "
                           "pass --course DIR pointing at the autograder/ folder")
    return root.resolve()


def list_assignments(course: Path) -> list[str]:
    """Assignment names, i.e. the folders under source/ that hold a notebook."""
    return sorted(p.name for p in (course / "source").iterdir()
                  if p.is_dir() and any(p.glob("*.ipynb")))


def copy_course(src: Path, dst: Path, keep_gradebook: bool = False) -> Path:
    """Copy a course root without nbgrader's working folders (optionally keeping the gradebook)."""
    skip = set(WORK_DIRS) | set(WORK_FILES) | {"__pycache__", ".ipynb_checkpoints"}
    if keep_gradebook:
        skip -= {"gradebook.db", "release"}
    shutil.copytree(src, dst, ignore=lambda _d, names: [n for n in names if n in skip],
                    dirs_exist_ok=True)
    return dst


def use_venv_tools() -> None:
    """Put this Python's bin/ on PATH: nbgrader's Gradebook shells out to `alembic`."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def jupyter_env() -> dict[str, str]:
    """Environment for nbgrader/kernels: prefer this venv's Jupyter config and kernels."""
    use_venv_tools()
    env = dict(os.environ)
    env.setdefault("JUPYTER_PREFER_ENV_PATH", "1")
    env.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    env.setdefault("PYTHONWARNINGS", "ignore")  # a warning on stderr would cost the learner points
    env.setdefault("MPLBACKEND", "Agg")
    return env


def nbgrader(args: list[str], course: Path, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run `nbgrader ARGS` in the course root with this Python; output is captured, never raised."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    try:
        return subprocess.run(cmd, cwd=course, env=jupyter_env(), capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return subprocess.CompletedProcess(cmd, 124, out, f"timed out after {timeout:.0f} s")


def generate(course: Path, assignment: str) -> None:
    """`nbgrader generate_assignment` for one assignment; raise GradingError with nbgrader's reason."""
    proc = nbgrader(["generate_assignment", assignment, "--force"], course)
    if proc.returncode != 0:
        raise GradingError(f"nbgrader generate_assignment {assignment} failed: "
                           f"{last_error_line(proc.stdout + proc.stderr)}")


def last_error_line(log: str) -> str:
    """The most telling line of an nbgrader/nbclient log (the last ERROR or exception line)."""
    lines = [ln.strip() for ln in log.splitlines()
             if ln.strip() and "Please see the" not in ln and "There was an error" not in ln]
    exc = [ln for ln in lines if re.match(r"^[\w.]*(Error|Exception|Timeout)\w*:", ln)]
    if exc:
        return exc[-1][:300]
    keys = ("Error", "error", "Exception", "exists multiple times", "timed out", "Timeout")
    hits = [ln for ln in lines if any(k in ln for k in keys) and not ln.startswith("File ")]
    line = (hits or lines or ["no output"])[-1]
    return line[:300]


def strip_hidden(source: str) -> str:
    """Replace every hidden-test region of a cell's source by a one-line placeholder."""
    out, hidden = [], False
    for line in source.splitlines():
        if line.strip().startswith(HIDDEN_BEGIN):
            hidden = True
            if not (out and out[-1].strip() == HIDDEN_PLACEHOLDER):  # the cell says so already
                out.append("# (hidden tests ran here; they are not shown)")
        elif line.strip().startswith(HIDDEN_END):
            hidden = False
        elif not hidden:
            out.append(line)
    return "\n".join(out)
