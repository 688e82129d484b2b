"""pytest route for instructors and CI: the hidden checks against submissions, without nbgrader.

    pytest autograder --submission submitted/alice/a1_freezing_basics/a1_freezing_basics.ipynb
    pytest autograder --submission alice.ipynb --submission bob.ipynb -k replace_head
    pytest autograder --submission work.ipynb --assignment a2_transfer_setup

Each hidden check is one test per submission (test id `<notebook>-<check>`); a failure shows the message the
learner would see. The assignment is detected from each notebook's cells unless --assignment is given.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("freezelab", "freezelab hidden checks")
    group.addoption("--submission", action="append", default=[], metavar="NOTEBOOK",
                    help="a submission notebook to grade with the hidden checks (repeat for several)")
    group.addoption("--assignment", default=None, metavar="NAME",
                    help="the assignment of every submission (default: detected from each notebook)")

