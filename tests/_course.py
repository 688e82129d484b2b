"""A scratch copy of the repository's nbgrader course for tests that grade a simulated class.

Import from a test module (pytest puts tests/ on the path): `from _course import copy_course`.
"""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
# nbgrader's working folders and files: a test grades in its own copy, never in the repository's course.
SCRATCH = shutil.ignore_patterns("release", "submitted", "autograded", "feedback", "gradebook.db",
                                 ".nbgrader.log", "__pycache__", ".pytest_cache")


def copy_course(tmp: Path) -> tuple[Path, ModuleType]:
    """Copy autograder/ (assignments, checks, sources) into `tmp`; return the course root and its catalogue module."""
    shutil.copytree(REPO / "autograder", tmp / "autograder", ignore=SCRATCH)
    course = tmp / "autograder"
    # Only while importing: the catalogue reads every assignment folder at import, later look-ups go through the
    # imported `assignments` package, not sys.path.
    sys.path.insert(0, str(course))
    try:
        return course, importlib.import_module("catalogue")
    finally:
        sys.path.remove(str(course))
