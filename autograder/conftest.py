"""pytest route for instructors and CI: the hidden checks against submissions, without nbgrader.

    pytest autograder --submission submitted/alice/a1_freezing_basics/a1_freezing_basics.ipynb
    pytest autograder --submission alice.ipynb --submission bob.ipynb -k replace_head
    pytest autograder --submission work.ipynb --assignment a2_transfer_setup

The answers run in the same sandbox as `freezelab grade` (--no-sandbox runs them without isolation and says
what that gives up). Each hidden check is one test per submission (test id `<notebook>-<check>`); a failure shows the message the
learner would see. The assignment is detected from each notebook's cells unless --assignment is given.
"""

from __future__ import annotations

import sys

import pytest

# No sys.path edit: pytest's default (prepend) import mode puts this folder, which has no __init__.py, on
# sys.path before importing this file, so `submission` and `freezelab_checks` import by name.


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("freezelab", "freezelab hidden checks")
    group.addoption("--submission", action="append", default=[], metavar="NOTEBOOK",
                    help="a submission notebook to grade with the hidden checks (repeat for several)")
    group.addoption("--assignment", default=None, metavar="NAME",
                    help="the assignment of every submission (default: detected from each notebook)")
    group.addoption("--no-sandbox", action="store_true", default=False,
                    help="run the submissions' code without isolation (only where bubblewrap cannot work)")


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("submission", default=None):
        return
    from submission import configure

    from freezelab.grading.grade import NO_SANDBOX_WARNING
    from freezelab.grading.sandbox import isolation_available

    if config.getoption("no_sandbox"):
        print(NO_SANDBOX_WARNING, file=sys.stderr)
        configure(isolate=False)
        return
    ok, why = isolation_available()
    if not ok:
        raise pytest.UsageError(f"cannot isolate students' code: {why}. Fix that, or pass --no-sandbox.")
    configure(isolate=True)

