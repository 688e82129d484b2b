"""The measured claims in lesson 06, sections 1 and 6, re-run with the lesson's own set-ups on more seeds.

`freezelab.lessons.l06_pitfalls` holds what the notebook runs (`DRIFT_SETUPS` on inverted digits, seed 0)
and the seeds checked here (`CLAIM_SEEDS`). If one fails, change the experiment or the text, never just
the test.
"""

from __future__ import annotations

import pytest
import torch

from freezelab.lessons.l06_pitfalls import CLAIM_SEEDS, DRIFT_SETUPS, run_setups

CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


@pytest.fixture(scope="module")
def drift_runs():
    return {(setup["freeze_backbone"], setup["bn_eval"], seed): run for seed in CLAIM_SEEDS
            for label, run in run_setups(seed, device=CPU, progress=False).items()
            for setup in (DRIFT_SETUPS[label],)}


@pytest.mark.slow
def test_lesson06_frozen_with_bn_eval_keeps_source_accuracy_exactly(drift_runs):
    """'with BN in eval mode the frozen backbone is exactly as good on the source task as before'."""
    for seed in CLAIM_SEEDS:
        run = drift_runs[True, True, seed]
        assert run["source_after"] == run["source_before"] > 0.95


@pytest.mark.slow
def test_lesson06_bn_in_train_mode_loses_a_large_share(drift_runs):
    """'with BN left in train mode the same frozen backbone loses a large share of its source accuracy'."""
    for seed in CLAIM_SEEDS:
        run = drift_runs[True, False, seed]
        assert run["source_after"] < run["source_before"] - 0.2


@pytest.mark.slow
def test_lesson06_not_freezing_loses_the_most(drift_runs):
    """'training everything (the last bar) loses even more' / 'fell far below where it started'."""
    for seed in CLAIM_SEEDS:
        assert drift_runs[False, False, seed]["source_after"] < drift_runs[True, False, seed]["source_after"]
        assert drift_runs[False, False, seed]["source_after"] < 0.5
