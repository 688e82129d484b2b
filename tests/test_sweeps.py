"""The recorded sweeps (`freezelab.measured`, read by lessons 00, 04, 09 and 10) are complete and are what
the code gives: this file re-runs part of them."""

from __future__ import annotations

import pytest

from freezelab.recipes import summarise
from freezelab.sweeps import SHARED, SWEEPS, measured, run_sweep, sweep_k


def test_recorded_sweeps_are_complete():
    for name, (task, recipes) in SWEEPS.items():
        runs = measured(name)
        shared = SHARED.get(name, ("", ()))[1]
        assert {r.recipe for r in runs} == set(recipes) | set(shared) and {r.task for r in runs} == {task}
        assert {r.seed for r in runs} == {0, 1, 2, 3, 4} and {r.epochs for r in runs} == {20, 40}
        assert {r.k for r in runs} == {sweep_k(name)}, "labels per class as SWEEP_K says"
        assert len(runs) == len({(r.recipe, r.lr, r.seed, r.epochs) for r in runs}), "no duplicates"


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_recorded_sweep_is_what_the_code_gives(name):
    """Seed 0 of every recipe at its chosen 40-epoch lr, re-run: the record must match.

    Exact on the machine that recorded it; a different CPU may round differently, so allow two test
    images' worth of difference.
    """
    chosen = {r["recipe"]: r["lr"] for r in summarise(measured(name))
              if r["epochs"] == 40 and r["recipe"] in SWEEPS[name][1]}  # shared runs: checked at their source
    again = run_sweep(name, seeds=(0,), lrs={s: (lr,) for s, lr in chosen.items()})
    recorded = {(r.recipe, r.lr, r.epochs): r for r in measured(name) if r.seed == 0}
    for new in again:
        old = recorded[new.recipe, new.lr, new.epochs]
        assert abs(new.test_acc - old.test_acc) < 0.012 and abs(new.val_acc - old.val_acc) < 0.025, (
            f"{name}: {new} differs from the record; rerun `python -m freezelab.sweeps record {name}`")


def test_unknown_sweep_and_bad_command_line_are_clear_errors():
    import subprocess
    import sys

    with pytest.raises(ValueError, match="unknown sweep 'nope'"):
        run_sweep("nope")
    with pytest.raises(ValueError, match="no recorded sweep 'nope'"):
        measured("nope")
    proc = subprocess.run([sys.executable, "-m", "freezelab.sweeps", "record", "nope"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and proc.stderr.strip().startswith("usage: python -m freezelab.sweeps")
