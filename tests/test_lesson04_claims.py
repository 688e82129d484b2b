"""The measured claims in the prose of lesson 04 (transfer learning, measured fairly): the recorded sweeps
`new_digits`, `inverted` and `noisy` (`freezelab.measured`; `tests/test_sweeps.py` re-runs them)."""

from __future__ import annotations

import numpy as np
from _claims import best, clearly_above, within_spread

from freezelab.recipes import summarise
from freezelab.sweeps import measured


def test_04_every_strategy_has_its_own_lr_chosen_on_validation_over_five_seeds():
    for name in ("new_digits", "inverted", "noisy", "peft"):
        runs = measured(name)
        for row in summarise(runs):
            assert row["runs"] == 5 and len(row["lrs_tried"]) == 3, (name, row["recipe"])
            mine = [r for r in runs if r.recipe == row["recipe"] and r.epochs == row["epochs"]]
            by_lr = {lr: np.mean([r.val_acc for r in mine if r.lr == lr]) for lr in row["lrs_tried"]}
            assert by_lr[row["lr"]] == max(by_lr.values()), "the lr is the one best on validation"
    acc = best("new_digits")
    assert acc["linear_probe", 40]["lr"] == 1e-2, "prose: 1e-2 for the probe (and the hand-written one)"
    assert {acc["finetune", e]["lr"] for e in (20, 40)} | {acc["layer3+head", e]["lr"] for e in (20, 40)} <= {
        1e-3, 3e-3}, "prose: 1e-3 to 3e-3 for fine-tuning the network or its last block"


def test_04_scratch_vs_probe_flips_with_the_budget():
    acc = best("new_digits")
    assert within_spread(acc["scratch", 20], acc["linear_probe", 20]), "prose: within spread at 20"
    assert clearly_above(acc["scratch", 40], acc["linear_probe", 40]), "prose: scratch clearly ahead at 40"
    assert abs(acc["scratch", 40]["mean_acc"] - 0.85) < 0.01 and abs(acc["linear_probe", 40]["mean_acc"] - 0.62) < 0.01
    assert acc["scratch", 20]["std_acc"] > 0.15, "prose: scratch runs swing wildly after 20 epochs"
    assert acc["linear_probe", 40]["mean_acc"] - acc["linear_probe", 20]["mean_acc"] < 0.02, "probe plateaued"


def test_04_fine_tuning_pays_off_and_the_gap_to_scratch_shrinks():
    acc = best("new_digits")
    for strategy in ("finetune", "layer3+head"):
        assert 0.78 < acc[strategy, 20]["mean_acc"] < 0.83, "prose: about 0.80 after 20 epochs"
        assert clearly_above(acc[strategy, 20], acc["linear_probe", 20]), "prose: clearly ahead of the probe"
        assert acc[strategy, 20]["mean_acc"] > acc["scratch", 20]["mean_acc"], "prose: ahead on average"
        assert not clearly_above(acc[strategy, 20], acc["scratch", 20]), "prose: too spread to say more"
        assert 0.88 < acc[strategy, 40]["mean_acc"] < 0.91, "prose: 0.89-0.90 after 40 epochs"
        assert clearly_above(acc[strategy, 40], acc["linear_probe", 40])
    top = max(acc[s, 40]["mean_acc"] for s in ("finetune", "layer3+head"))
    assert top == max(r["mean_acc"] for (s, e), r in acc.items() if e == 40), "prose: the best means at 40"
    assert acc["finetune", 40]["std_acc"] == min(r["std_acc"] for (s, e), r in acc.items() if e == 40)
    assert top - acc["scratch", 40]["mean_acc"] < 1.1 * acc["scratch", 40]["std_acc"], "prose: about one spread"


def test_04_last_block_beats_first_block_more_on_the_input_shift():
    new, inv = best("new_digits"), best("inverted")
    for epochs in (20, 40):
        gap_new = new["stem+layer1+head", epochs]["mean_acc"] - new["layer3+head", epochs]["mean_acc"]
        gap_inv = inv["stem+layer1+head", epochs]["mean_acc"] - inv["layer3+head", epochs]["mean_acc"]
        assert gap_inv < gap_new < 0, "prose: last block ahead on both, by more on inverted"
        assert clearly_above(inv["layer3+head", epochs], inv["stem+layer1+head", epochs]), "clearly on inverted"
    assert clearly_above(inv["scratch", 40], inv["linear_probe", 40]), "prose: probe lost to scratch at 40"
    assert within_spread(inv["scratch", 20], inv["linear_probe", 20]), "prose: too spread to call at 20"
    assert inv["layer3+head", 40]["mean_acc"] == max(r["mean_acc"] for (s, e), r in inv.items() if e == 40)
    assert inv["layer3+head", 40]["std_acc"] == min(r["std_acc"] for (s, e), r in inv.items() if e == 40)


def test_04_lp_ft_out_of_distribution():
    ood = best("noisy")
    for epochs in (20, 40):
        probe, ft, lpft = (ood[s, epochs] for s in ("linear_probe", "finetune", "lp_ft"))
        assert probe["mean_ood"] > 0.8, "prose: the probe kept recognising clean digits"
        assert 0.3 <= ft["mean_ood"] < 0.45 and 0.3 <= lpft["mean_ood"] < 0.45, "prose: both fell to 0.3-0.4"
        spread = max(ft["std_ood"], lpft["std_ood"])
        assert abs(lpft["mean_ood"] - ft["mean_ood"]) < spread, "prose: LP-FT within fine-tuning's spread"
        edge = lpft["mean_acc"] - ft["mean_acc"]
        assert 0 < edge < min(ft["std_acc"], lpft["std_acc"]), "prose: in-distribution edge under one std"
