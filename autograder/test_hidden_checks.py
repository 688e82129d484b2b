"""One test per hidden check of the submission's assignment (see conftest.py for the options)."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" not in metafunc.fixturenames:
        return
    import nbformat
    from submission import checks_of, detect_assignment

    path = metafunc.config.getoption("submission")
    if not path:
        metafunc.parametrize("case", [pytest.param(None, id="no-submission")])
        return
    if not Path(path).is_file():
        raise pytest.UsageError(f"--submission {path}: no such file; pass the path of a .ipynb notebook.")
    assignment = metafunc.config.getoption("assignment")
    if assignment is None:
        try:
            assignment = detect_assignment(nbformat.read(path, as_version=4))
        except Exception as exc:  # noqa: BLE001
            raise pytest.UsageError(f"--submission {path}: {exc}") from None
    cases = checks_of(assignment)
    metafunc.parametrize("case", cases, ids=[check.__name__ for _, check in cases])


def test_hidden_check(case, submission) -> None:
    """Run one hidden check on the learner's answer."""
    name, check = case
    check(submission.answer(name))
