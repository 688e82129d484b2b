"""The numbers lesson 00 (and lesson 10's "Which strategy?" section) quote from the recorded sweeps.

Frozen backbone vs full fine-tuning at 10 labels per class: the recorded sweeps `new_digits_k10`,
`inverted_k10` and `noisy_k10` (`freezelab.measured`; `tests/test_sweeps.py` re-runs seed 0 of each).
Lesson 10's quoted speed numbers are checked in `tests/test_lesson10_claims.py`. Each test names the
sentence it protects; the quoted numbers must be the recorded ones, rounded as printed.
If one fails, change the experiment or the text, never just the test.
"""

from __future__ import annotations

import re

import pytest
from _claims import cheat_sheet, quiz_item

from freezelab.recipes import lr_grid, summarise
from freezelab.sweeps import SWEEP_K, measured

SWEEP = {"new_digits": "new_digits_k10", "inverted": "inverted_k10", "noisy": "noisy_k10"}


def at_40_epochs(task: str) -> dict[str, dict]:
    """summarise rows of one k=10 sweep after 40 epochs, by strategy."""
    return {r["recipe"]: r for r in summarise(measured(SWEEP[task])) if r["epochs"] == 40}


@pytest.fixture(scope="module")
def rows():
    return {task: at_40_epochs(task) for task in SWEEP}


def fmt(value: float) -> str:
    return f"{value:.2f}"


# --- lesson 00 (course-predict-helps, course-predict-hardest-task) and lesson 10 ("Which strategy?") ----

def test_each_strategy_has_its_own_lr_chosen_on_validation_over_five_seeds(rows):
    """'each strategy at its own learning rate chosen on validation data ... seeds 0-4, 10 labels'."""
    for task, by_strategy in rows.items():
        assert SWEEP_K[SWEEP[task]] == 10
        assert set(by_strategy) == {"linear_probe", "finetune"}
        for strategy, row in by_strategy.items():
            assert row["k"] == 10 and row["runs"] == 5 and row["lrs_tried"] == sorted(lr_grid(strategy))


def test_full_fine_tuning_beats_the_probe_on_every_task_and_seed(rows):
    """'Training every layer won on all three tasks, on each of 5 seeds ... by 19 to 26 points on average'."""
    gaps = []
    for task in SWEEP:
        chosen = {s: r["lr"] for s, r in rows[task].items()}
        per_seed = {s: {r.seed: r.test_acc for r in measured(SWEEP[task])
                        if r.recipe == s and r.lr == chosen[s] and r.epochs == 40} for s in chosen}
        assert all(per_seed["finetune"][seed] > per_seed["linear_probe"][seed] for seed in range(5)), task
        gaps.append(rows[task]["finetune"]["mean_acc"] - rows[task]["linear_probe"]["mean_acc"])
    feedback = next(o for o in quiz_item("course-predict-helps")["options"] if o.get("correct"))["feedback"]
    assert f"by {min(gaps) * 100:.0f} to {max(gaps) * 100:.0f} points on average" in feedback


def test_noisy_digits_are_the_hardest_task_for_both_strategies(rows):
    """'Noisy digits are the hardest, with either strategy'."""
    for strategy in ("linear_probe", "finetune"):
        means = {task: rows[task][strategy]["mean_acc"] for task in SWEEP}
        assert min(means, key=means.get) == "noisy", (strategy, means)


def test_the_probe_trained_on_noisy_digits_keeps_clean_digits_the_fine_tuned_network_loses(rows):
    """'fine-tuned on noisy digits, the network scored only 0.58 on clean ones ... the frozen backbone 0.81'."""
    probe, tuned = rows["noisy"]["linear_probe"], rows["noisy"]["finetune"]
    assert probe["mean_ood"] - tuned["mean_ood"] > max(probe["std_ood"], tuned["std_ood"]), "a clear gap"


def test_quoted_accuracies_are_the_recorded_ones(rows):
    """Every number lesson 00's predict items and lesson 10's cheat sheet quote, rounded as printed."""
    probe = {task: rows[task]["linear_probe"] for task in SWEEP}
    tuned = {task: rows[task]["finetune"] for task in SWEEP}
    helps = quiz_item("course-predict-helps")["answer"]
    for task, label in (("new_digits", "new digits"), ("inverted", "inverted"), ("noisy", "noisy")):
        p, f = probe[task], tuned[task]
        pattern = (rf"{label} {fmt(p['mean_acc'])} ± {fmt(p['std_acc'])}( frozen)? vs "
                   rf"{fmt(f['mean_acc'])} ± {fmt(f['std_acc'])}")
        assert re.search(pattern, helps), f"course-predict-helps: {pattern}"
    ood = {"probe": fmt(probe["noisy"]["mean_ood"]), "tuned": fmt(tuned["noisy"]["mean_ood"])}
    assert f"only {ood['tuned']} on clean ones" in helps and f"new head scored {ood['probe']}" in helps

    hardest = quiz_item("course-predict-hardest-task")
    means = {s: [fmt(rows[t][s]["mean_acc"]) for t in SWEEP] for s in ("finetune", "linear_probe")}
    assert ("training every layer gives new digits {}, inverted {}, noisy {}".format(*means["finetune"])
            in hardest["answer"])
    assert "a frozen backbone with a new head gives {}, {} and {}".format(*means["linear_probe"]) in hardest["answer"]
    feedbacks = [o["feedback"] for o in hardest["options"]]
    assert f"reached {means['finetune'][0]}" in feedbacks[0] and f"reaches {means['finetune'][1]}" in feedbacks[1]
    assert f"{means['finetune'][2]} fine-tuned, {means['linear_probe'][2]} with the backbone frozen" in feedbacks[2]

    sheet = cheat_sheet()
    pairs = ", ".join(f"{label} {fmt(tuned[t]['mean_acc'])} vs {fmt(probe[t]['mean_acc'])}"
                      for t, label in (("new_digits", "new digits"), ("inverted", "inverted"), ("noisy", "noisy")))
    assert pairs in sheet, pairs
    assert f"the probe still scored {ood['probe']} on clean digits, the fine-tuned network {ood['tuned']}" in sheet
