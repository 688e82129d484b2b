"""One test per hidden check and submission (see conftest.py for the options)."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" not in metafunc.fixturenames:
        return
    import nbformat
    from submission import checks_of, detect_assignment

    paths = metafunc.config.getoption("submission")
    assignment = metafunc.config.getoption("assignment")
    cases, ids = [], []
    for path in paths:
        if not Path(path).is_file():
            raise pytest.UsageError(f"--submission {path}: no such file; pass the path of a .ipynb notebook.")
        try:
            which = assignment or detect_assignment(nbformat.read(path, as_version=4))
        except Exception as exc:  # noqa: BLE001 - unreadable or foreign notebook: say so, do not crash
            raise pytest.UsageError(f"--submission {path}: {exc}") from None
        for name, check in checks_of(which):
            cases.append((path, which, name, check))
            ids.append(f"{Path(path).stem}-{check.__name__}")
    if not cases:
        cases, ids = [None], ["no-submission"]
    metafunc.parametrize("case", cases, ids=ids)


def test_hidden_check(case) -> None:
    """Run one hidden check on one learner's answer."""
    if case is None:
        pytest.skip("pass --submission NOTEBOOK to run the hidden checks on a submission")
    from submission import loaded_submission, run_check

    path, assignment, name, check = case
    run_check(loaded_submission(path, assignment), name, check)
