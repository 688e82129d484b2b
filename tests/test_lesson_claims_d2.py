"""Every measured claim in the prose of lessons 04, 05, 07, 08 and 09, checked on the lessons' own seeds.

Each test calls the same package function with the same arguments as the notebook cell that prints the
number, so the text a student reads cannot drift away from what the code measures.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from freezelab.backbones import load_pretrained
from freezelab.bench import (
    plans_for,
    saved_activation_bytes,
    stage_flops,
    step_flops,
    timing_verdict,
)
from freezelab.data import target_task
from freezelab.device import seed_everything
from freezelab.experiments import (
    confusion_counts,
    discriminative_groups,
    feature_task,
    fraud_models,
    labels_from_counts,
    leakage_study,
    measured,
    overfit_head,
    run_workflow,
)
from freezelab.features import compare_caching, extract_features, feature_extractor
from freezelab.peft import (
    METHODS,
    LoRALinear,
    add_lora,
    bitfit,
    build,
    lora_weight_change,
    train_method,
    trainable_count,
)
from freezelab.transfer import summarise

CPU = "cpu"


pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


@pytest.fixture(scope="module")
def new_digits():
    return target_task("new_digits")


@pytest.fixture(scope="module")
def features(new_digits):
    return feature_task(new_digits, device=CPU)


# --------------------------------------------------------------------------------------------------
# Lesson 07: speed and memory
# --------------------------------------------------------------------------------------------------

def test_07_cached_head_epoch_is_faster_and_identical(new_digits):
    result = compare_caching(load_pretrained(), new_digits.x_train, new_digits.y_train, num_classes=5,
                             device=CPU)
    assert result.cached_s < result.recompute_s, "the cached epoch must be faster than recomputing"
    assert result.max_loss_diff < 1e-4 and result.max_logit_diff < 1e-4, "caching changed the result"


def test_07_feature_extractor_is_frozen_and_matches_the_model(new_digits):
    model = load_pretrained().eval()
    backbone = feature_extractor(model)
    assert not any(p.requires_grad for p in backbone.parameters())
    x = new_digits.x_val[:16]
    with torch.no_grad():
        expected = model.features(x)
    assert torch.allclose(extract_features(backbone, x, batch_size=5, device=CPU), expected, atol=1e-5)


def test_07_first_and_last_half_do_not_overlap():
    plans = plans_for(load_pretrained(num_classes=5))
    assert plans["first 50%"] == ["conv1", "bn1", "layer1"] and plans["last 50%"] == ["layer2", "layer3"]
    model = load_pretrained(num_classes=5)
    count = {name: sum(p.numel() for s in plans[name] for p in getattr(model, s).parameters())
             for name in ("first 50%", "last 50%")}
    assert 14 < count["last 50%"] / count["first 50%"] < 16, "prose: about 15 times more parameters"
    assert 4_000 < count["first 50%"] < 6_000 and 70_000 < count["last 50%"] < 74_000


def test_07_freezing_first_half_saves_activation_memory_last_half_saves_none(new_digits):
    batch = (new_digits.x_train[:64], new_digits.y_train[:64])
    plans = plans_for(load_pretrained(num_classes=5))
    saved = {name: saved_activation_bytes(load_pretrained(num_classes=5), batch, plans[name], CPU)
             for name in ("none", "first 50%", "last 50%", "all but head")}
    assert 0.4 * saved["none"] < saved["first 50%"] < 0.6 * saved["none"], "prose: cuts it by half"
    assert saved["last 50%"] == saved["none"], "prose: freezing the last half saves nothing at all"
    assert saved["all but head"] < 0.05 * saved["none"]


def test_07_flop_counts_of_the_plans(new_digits):
    batch = (new_digits.x_train[:64], new_digits.y_train[:64])
    plans = plans_for(load_pretrained(num_classes=5))
    flops = {name: step_flops(load_pretrained(num_classes=5), batch, plans[name])
             for name in ("none", "first 50%", "last 50%", "all but head")}
    assert len({forward for forward, _ in flops.values()}) == 1, "prose: the same forward work in every plan"
    backward = {name: b for name, (_, b) in flops.items()}
    assert backward["first 50%"] < 0.6 * backward["none"], "prose: cut the backward work almost in half"
    assert backward["first 50%"] < backward["last 50%"] < backward["none"], "prose: last 50% did more"
    assert backward["all but head"] < 0.001 * backward["none"]


def test_07_resnet18_last_stage_is_about_a_quarter_of_forward_flops():
    import torchvision

    model = torchvision.models.resnet18(weights=None).eval()
    shares = stage_flops(model, torch.randn(1, 3, 224, 224))
    assert 0.21 < shares["layer4"] < 0.25, "prose: about 23% of the forward work"
    assert all(abs(shares[s] - shares["layer4"]) < 0.04 for s in ("layer2", "layer3")), "about as much as"
    params = sum(p.numel() for p in model.layer4.parameters()) / sum(p.numel() for p in model.parameters())
    assert params > 0.5, "prose: it holds most of the parameters"


def test_07_timing_verdict_states_a_direction_only_outside_the_noise():
    def row(plan, q1, q3):
        return {"plan": plan, "q1_s": q1, "q3_s": q3}

    apart = [row("a", 1.0, 1.1), row("b", 1.5, 1.6)]
    assert timing_verdict(apart, "a", "b").startswith("a was faster than b")
    assert timing_verdict(apart, "b", "a").startswith("a was faster than b")
    assert "within the noise" in timing_verdict([row("a", 1.0, 1.4), row("b", 1.3, 1.6)], "a", "b")


# --------------------------------------------------------------------------------------------------
# Lesson 08: evaluation
# --------------------------------------------------------------------------------------------------

def test_08_seed_001_numbers():
    scores = confusion_counts(tp=85, fn=15, fp=10, tn=90)
    assert round(scores["precision"], 3) == 0.895
    assert scores["recall"] == 0.85
    assert round(scores["f1"], 3) == 0.872
    y_true, y_pred = labels_from_counts(85, 15, 10, 90)
    assert (y_true == 1).sum() == 100 and ((y_true == 1) & (y_pred == 1)).sum() == 85


def test_08_head_on_two_labels_overfits_and_more_labels_shrink_the_gap(features):
    _, history = overfit_head(features, k=2, seed=0, epochs=40, progress=False)
    assert history.train_acc[-1] == 1.0
    assert history.val_acc[-1] < 0.8, "prose: validation stays far lower"
    best = int(np.argmin(history.val_loss))
    assert best < 10 and history.val_loss[-1] > history.val_loss[best] + 0.2, "val loss turns upwards"
    _, more = overfit_head(features, k=20, seed=0, epochs=40, progress=False)
    gap_2 = history.train_acc[-1] - history.val_acc[-1]
    gap_20 = more.train_acc[-1] - more.val_acc[-1]
    assert gap_20 < gap_2


def test_08_accuracy_paradox():
    scores = fraud_models(seed=0)
    base, plain, balanced = scores["always_legit"], scores["logistic"], scores["logistic_balanced"]
    assert base["accuracy"] >= 0.975 and base["recall"] == 0.0
    assert abs(plain["accuracy"] - base["accuracy"]) < 0.02, "prose: barely better on accuracy"
    assert plain["recall"] < 0.5, "prose: still misses most fraud"
    assert balanced["recall"] > 0.5 > plain["recall"], "prose: balanced weights find most of the fraud"
    assert balanced["accuracy"] < plain["accuracy"], "prose: ...and its accuracy drops"


def test_08_selecting_on_test_is_optimistic(features):
    leaks = leakage_study(features, k=3, seeds=tuple(range(8)), test_size=100)
    optimism_test = np.mean([r.test_selected_reported - r.test_selected_fresh for r in leaks])
    optimism_val = np.mean([r.val_selected_reported - r.val_selected_fresh for r in leaks])
    assert optimism_test > 0
    assert optimism_test > optimism_val
    # By construction: the model picked on test has the highest test score of all candidates.
    assert all(r.test_selected_reported >= r.val_selected_reported for r in leaks)


# --------------------------------------------------------------------------------------------------
# Lesson 04: transfer learning, measured fairly (the recorded sweeps; tests/test_transfer.py re-runs them)
# --------------------------------------------------------------------------------------------------

def _best(name: str) -> dict[tuple[str, int], dict]:
    return {(r["strategy"], r["epochs"]): r for r in summarise(measured(name))}


def _clearly_above(a: dict, b: dict) -> bool:
    """a's mean is above b's by more than the larger of the two standard deviations."""
    return a["mean_acc"] - b["mean_acc"] > max(a["std_acc"], b["std_acc"])


def _within_spread(a: dict, b: dict) -> bool:
    return abs(a["mean_acc"] - b["mean_acc"]) < max(a["std_acc"], b["std_acc"])


def test_04_every_strategy_has_its_own_lr_chosen_on_validation_over_five_seeds():
    for name in ("new_digits", "inverted", "noisy", "peft"):
        runs = measured(name)
        for row in summarise(runs):
            assert row["runs"] == 5 and len(row["lrs_tried"]) == 3, (name, row["strategy"])
            mine = [r for r in runs if r.strategy == row["strategy"] and r.epochs == row["epochs"]]
            by_lr = {lr: np.mean([r.val_acc for r in mine if r.lr == lr]) for lr in row["lrs_tried"]}
            assert by_lr[row["lr"]] == max(by_lr.values()), "the lr is the one best on validation"
    acc = _best("new_digits")
    assert acc["linear_probe", 40]["lr"] == 1e-2, "prose: 1e-2 for the probe (and the hand-written one)"
    assert {acc["finetune", e]["lr"] for e in (20, 40)} | {acc["layer3+head", e]["lr"] for e in (20, 40)} <= {
        1e-3, 3e-3}, "prose: 1e-3 to 3e-3 for fine-tuning the network or its last block"


def test_04_scratch_vs_probe_flips_with_the_budget():
    acc = _best("new_digits")
    assert _within_spread(acc["scratch", 20], acc["linear_probe", 20]), "prose: within spread at 20"
    assert _clearly_above(acc["scratch", 40], acc["linear_probe", 40]), "prose: scratch clearly ahead at 40"
    assert abs(acc["scratch", 40]["mean_acc"] - 0.85) < 0.01 and abs(acc["linear_probe", 40]["mean_acc"] - 0.62) < 0.01
    assert acc["scratch", 20]["std_acc"] > 0.15, "prose: scratch runs swing wildly after 20 epochs"
    assert acc["linear_probe", 40]["mean_acc"] - acc["linear_probe", 20]["mean_acc"] < 0.02, "probe plateaued"


def test_04_fine_tuning_pays_off_and_the_gap_to_scratch_shrinks():
    acc = _best("new_digits")
    for strategy in ("finetune", "layer3+head"):
        assert 0.78 < acc[strategy, 20]["mean_acc"] < 0.83, "prose: about 0.80 after 20 epochs"
        assert _clearly_above(acc[strategy, 20], acc["linear_probe", 20]), "prose: clearly ahead of the probe"
        assert acc[strategy, 20]["mean_acc"] > acc["scratch", 20]["mean_acc"], "prose: ahead on average"
        assert not _clearly_above(acc[strategy, 20], acc["scratch", 20]), "prose: too spread to say more"
        assert 0.88 < acc[strategy, 40]["mean_acc"] < 0.91, "prose: 0.89-0.90 after 40 epochs"
        assert _clearly_above(acc[strategy, 40], acc["linear_probe", 40])
    top = max(acc[s, 40]["mean_acc"] for s in ("finetune", "layer3+head"))
    assert top == max(r["mean_acc"] for (s, e), r in acc.items() if e == 40), "prose: the best means at 40"
    assert acc["finetune", 40]["std_acc"] == min(r["std_acc"] for (s, e), r in acc.items() if e == 40)
    assert top - acc["scratch", 40]["mean_acc"] < 1.1 * acc["scratch", 40]["std_acc"], "prose: about one spread"


def test_04_last_block_beats_first_block_more_on_the_input_shift():
    new, inv = _best("new_digits"), _best("inverted")
    for epochs in (20, 40):
        gap_new = new["stem+layer1+head", epochs]["mean_acc"] - new["layer3+head", epochs]["mean_acc"]
        gap_inv = inv["stem+layer1+head", epochs]["mean_acc"] - inv["layer3+head", epochs]["mean_acc"]
        assert gap_inv < gap_new < 0, "prose: last block ahead on both, by more on inverted"
        assert _clearly_above(inv["layer3+head", epochs], inv["stem+layer1+head", epochs]), "clearly on inverted"
    assert _clearly_above(inv["scratch", 40], inv["linear_probe", 40]), "prose: probe lost to scratch at 40"
    assert _within_spread(inv["scratch", 20], inv["linear_probe", 20]), "prose: too spread to call at 20"
    assert inv["layer3+head", 40]["mean_acc"] == max(r["mean_acc"] for (s, e), r in inv.items() if e == 40)
    assert inv["layer3+head", 40]["std_acc"] == min(r["std_acc"] for (s, e), r in inv.items() if e == 40)


def test_04_lp_ft_out_of_distribution():
    ood = _best("noisy")
    for epochs in (20, 40):
        probe, ft, lpft = (ood[s, epochs] for s in ("linear_probe", "finetune", "lp_ft"))
        assert probe["mean_ood"] > 0.8, "prose: the probe kept recognising clean digits"
        assert 0.3 <= ft["mean_ood"] < 0.45 and 0.3 <= lpft["mean_ood"] < 0.45, "prose: both fell to 0.3-0.4"
        spread = max(ft["std_ood"], lpft["std_ood"])
        assert abs(lpft["mean_ood"] - ft["mean_ood"]) < spread, "prose: LP-FT within fine-tuning's spread"
        edge = lpft["mean_acc"] - ft["mean_acc"]
        assert 0 < edge < min(ft["std_acc"], lpft["std_acc"]), "prose: in-distribution edge under one std"


# --------------------------------------------------------------------------------------------------
# Lesson 05: workflows
# --------------------------------------------------------------------------------------------------

def test_05_discriminative_groups_cover_every_parameter_once():
    model = load_pretrained(num_classes=5)
    groups = discriminative_groups(model, head_lr=1e-2, factor=2.6)
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())
    assert [g["lr"] for g in groups] == pytest.approx([1e-2 / 2.6**d for d in range(4)])


@pytest.mark.slow
def test_05_large_learning_rate_wrecks_the_target_not_the_source_probe():
    names = ("head_only", "full_small_lr", "two_phase", "full_large_lr")
    runs = [run_workflow(name, k=5, seed=seed, epochs=12, device=CPU) for name in names for seed in (0, 1, 2)]
    target = {n: [r.test_acc for r in runs if r.workflow == n] for n in names}
    source = {n: [r.source_acc for r in runs if r.workflow == n] for n in names}
    assert max(target["full_large_lr"]) < 0.32, "prose: near chance on the target on every seed"
    assert min(source["full_large_lr"]) > 0.9, "prose: its source probe stayed above 0.9"
    assert np.mean(source["full_large_lr"]) == min(np.mean(v) for v in source.values()), "the most forgetting"
    assert 1.0 - np.mean(source["full_large_lr"]) < 0.08, "prose: only a few points"
    assert abs(np.mean(source["two_phase"]) - np.mean(source["full_small_lr"])) < 0.02, "prose: same probe"
    assert source["head_only"] == [1.0, 1.0, 1.0], "prose: head_only kept it exactly"
    assert min(target["two_phase"]) < 0.3, "prose: one two-phase run ended near chance"
    careful = ("head_only", "full_small_lr", "two_phase")
    assert max(max(target[n]) - min(target[n]) for n in careful) > 0.2, "prose: swings by tens of points"


# --------------------------------------------------------------------------------------------------
# Lesson 09: BitFit and LoRA
# --------------------------------------------------------------------------------------------------

def test_09_lora_starts_as_the_base_model_and_counts_are_right():
    seed_everything(0)
    plain = load_pretrained(num_classes=5).eval()
    adapted = add_lora(load_pretrained(num_classes=5), r=4)
    adapted.fc.load_state_dict(plain.fc.state_dict())
    x = torch.randn(4, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(adapted.eval()(x), plain(x), atol=1e-6)
    counts = {m: trainable_count(build(m)) for m in METHODS}
    assert counts["linear_probe"] < counts["bitfit"] < counts["lora"] < counts["layer3+head"] < counts[
        "finetune"]
    assert counts["bitfit"] < 0.01 * counts["finetune"], "prose: BitFit under 1% of the network"
    assert 0.09 < counts["lora"] / counts["finetune"] < 0.12, "prose: LoRA trains about a tenth"
    bit = bitfit(load_pretrained())
    assert all(name.endswith("bias") == p.requires_grad for name, p in bit.named_parameters())


def test_09_lora_linear_trains_only_the_adapter():
    layer = LoRALinear(nn.Linear(6, 3), r=2)
    assert torch.count_nonzero(layer.lora_b.weight) == 0
    layer(torch.randn(5, 6)).sum().backward()
    assert layer.base.weight.grad is None and layer.lora_b.weight.grad is not None


def test_09_fair_learning_rates_change_the_verdict_on_full_fine_tuning():
    runs = measured("peft")
    acc = _best("peft")
    assert acc["finetune", 20]["lr"] == 1e-3 and acc["finetune", 40]["lr"] == 3e-3, "prose: its best rates"
    rows_40 = [r for (m, e), r in acc.items() if e == 40]
    assert acc["finetune", 40]["mean_acc"] == max(r["mean_acc"] for r in rows_40), "prose: most accurate at 40"
    assert acc["finetune", 40]["std_acc"] == min(r["std_acc"] for r in rows_40), "...with the smallest spread"
    shared = {m: np.mean([r.test_acc for r in runs if r.strategy == m and r.lr == 1e-2 and r.epochs == 20])
              for m in METHODS}
    assert abs(shared["finetune"] - 0.51) < 0.01, "prose: about 0.51 at 1e-2"
    assert shared["finetune"] == min(shared.values()), "prose: a shared 1e-2 would have put it last"


def test_09_lora_bitfit_and_the_probe():
    acc = _best("peft")
    for rival in ("finetune", "layer3+head"):
        assert abs(acc["lora", 20]["mean_acc"] - acc[rival, 20]["mean_acc"]) < 0.02, "prose: within 0.02"
        assert _within_spread(acc["lora", 20], acc[rival, 20])
        assert acc[rival, 40]["mean_acc"] > 0.88, "prose: kept improving to about 0.90"
    assert abs(acc["lora", 40]["mean_acc"] - 0.80) < 0.01, "prose: LoRA stayed near 0.80"
    for epochs in (20, 40):
        assert _within_spread(acc["bitfit", epochs], acc["linear_probe", epochs]), "prose: within spread"


def test_09_lora_effective_weight_moves():
    lr = _best("peft")["lora", 20]["lr"]
    model = train_method("lora", seed=0, epochs=20, lr=lr, device=CPU)
    changes = lora_weight_change(model)
    assert len(changes) == 9 and min(changes.values()) > 0.14, "prose: every one moved by 15% or more"
    before = load_pretrained().state_dict()
    for name, module in model.named_modules():
        if name in changes:
            assert torch.equal(module.base.weight, before[f"{name}.weight"]), "the stored base stays frozen"
    full = train_method("finetune", seed=0, epochs=20, lr=_best("peft")["finetune", 20]["lr"], device=CPU)
    after = full.state_dict()
    full_changes = {n: ((after[f"{n}.weight"] - before[f"{n}.weight"]).norm() / before[f"{n}.weight"].norm())
                    .item() for n in changes}
    assert sum(changes[n] > full_changes[n] for n in changes) >= 6, "prose: in most layers more than full FT"
