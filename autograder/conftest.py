"""pytest route for instructors and CI: the hidden checks against one submission, without nbgrader.

    pytest autograder --submission submitted/alice/a1_freezing_basics/a1_freezing_basics.ipynb
    pytest autograder --submission work.ipynb --assignment a2_transfer_setup -k replace_head

Each hidden check is one test; a failure shows the message the learner would see.
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
    group.addoption("--submission", default=None, metavar="NOTEBOOK",
                    help="a submission notebook whose answers the hidden checks should grade")
    group.addoption("--assignment", default=None, metavar="NAME",
                    help="the assignment (default: detected from the notebook's cells)")


@pytest.fixture(scope="session")
def submission(request: pytest.FixtureRequest):
    """The loaded submission (its answers run once per session)."""
    from submission import load_submission

    path = request.config.getoption("submission")
    if not path:
        pytest.skip("pass --submission NOTEBOOK to run the hidden checks on a submission")
    return load_submission(path, request.config.getoption("assignment"))
