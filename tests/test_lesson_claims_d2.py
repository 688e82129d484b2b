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
from freezelab.bench import plans_for, saved_activation_bytes
from freezelab.data import target_task
from freezelab.device import seed_everything
from freezelab.experiments import (
    WORKFLOWS,
    confusion_counts,
    discriminative_groups,
    feature_task,
    fraud_models,
    labels_from_counts,
    leakage_study,
    overfit_head,
    run_workflow,
)
from freezelab.features import compare_caching, extract_features, feature_extractor
from freezelab.peft import METHODS, LoRALinear, add_lora, bitfit, build, run_method, trainable_count
from freezelab.transfer import compare, summarise

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


def test_07_freezing_first_half_saves_activation_memory_last_half_does_not(new_digits):
    batch = (new_digits.x_train[:64], new_digits.y_train[:64])
    plans = plans_for(load_pretrained(num_classes=5))
    saved = {name: saved_activation_bytes(load_pretrained(num_classes=5), batch, plans[name], CPU)
             for name in ("none", "first 50%", "last 50%", "all but head")}
    assert saved["first 50%"] < saved["last 50%"]
    assert saved["first 50%"] < 0.75 * saved["none"], "prose: freezing the first half cuts a lot"
    assert saved["last 50%"] > 0.9 * saved["none"], "prose: freezing the last half barely changes it"
    assert saved["all but head"] < 0.05 * saved["none"]


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
# Lesson 04: transfer learning, measured (same compare() calls as the notebook)
# --------------------------------------------------------------------------------------------------

def _means(results) -> dict[tuple[str, str], float]:
    return {(row["task"], row["strategy"]): row["mean_acc"] for row in summarise(results)}


@pytest.mark.slow
def test_04_probe_beats_scratch_on_new_digits_and_unfreezing_more_can_help():
    acc = _means(compare(strategies=("scratch", "linear_probe", "partial", "finetune"),
                         tasks=("new_digits",), ks=(5,), seeds=(0, 1, 2), epochs=20, device=CPU,
                         progress=False))
    assert acc[("new_digits", "linear_probe")] > acc[("new_digits", "scratch")]
    assert max(acc[("new_digits", "partial")], acc[("new_digits", "finetune")]) > acc[
        ("new_digits", "linear_probe")]


@pytest.mark.slow
def test_04_shift_kind_decides_what_to_tune():
    acc = _means(compare(strategies=("first_block", "last_block"), tasks=("new_digits", "inverted"),
                         ks=(5,), seeds=(0, 1, 2), epochs=20, device=CPU, progress=False)
                 + compare(strategies=("scratch", "linear_probe"), tasks=("inverted",), ks=(5,),
                           seeds=(0, 1, 2), epochs=20, device=CPU, progress=False))
    assert acc[("inverted", "linear_probe")] < acc[("inverted", "scratch")], "probe loses on inverted"
    gap_new = acc[("new_digits", "first_block")] - acc[("new_digits", "last_block")]
    gap_inv = acc[("inverted", "first_block")] - acc[("inverted", "last_block")]
    assert gap_inv > gap_new + 0.05, "first block gains ground on the input-level shift"
    assert gap_new < 0 and gap_inv < 0, "prose: last_block still ahead on average on both"


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
def test_05_large_learning_rate_forgets_the_most():
    results = [run_workflow(name, k=5, seed=seed, epochs=12, device=CPU)
               for name in WORKFLOWS for seed in (0, 1)]
    source = {name: np.mean([r.source_acc for r in results if r.workflow == name]) for name in WORKFLOWS}
    target = {name: np.mean([r.test_acc for r in results if r.workflow == name]) for name in WORKFLOWS}
    assert source["full_large_lr"] == min(source.values()), "lost the most source knowledge"
    assert target["full_large_lr"] < max(target.values()), "...and bought no better target accuracy"
    careful = ("head_only", "two_phase", "gradual", "discriminative")
    assert all(source[name] >= 0.9 for name in careful), "careful workflows keep the source probe high"


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
    assert counts["linear_probe"] < counts["bitfit"] < counts["lora"] < counts["partial"] < counts[
        "finetune"]
    assert counts["bitfit"] < 0.01 * counts["finetune"], "prose: BitFit under 1% of the network"
    assert 6 < counts["partial"] / counts["lora"] < 8, "prose: about a seventh of partial"
    bit = bitfit(load_pretrained())
    assert all(name.endswith("bias") == p.requires_grad for name, p in bit.named_parameters())


def test_09_lora_linear_trains_only_the_adapter():
    layer = LoRALinear(nn.Linear(6, 3), r=2)
    assert torch.count_nonzero(layer.lora_b.weight) == 0
    layer(torch.randn(5, 6)).sum().backward()
    assert layer.base.weight.grad is None and layer.lora_b.weight.grad is not None


@pytest.mark.slow
def test_09_peft_results_on_new_digits():
    acc = {m: np.mean([run_method(m, "new_digits", k=5, seed=s, epochs=20, device=CPU).test_acc
                       for s in (0, 1, 2)]) for m in METHODS}
    assert acc["bitfit"] > acc["linear_probe"]
    assert acc["lora"] > acc["partial"] - 0.03, "prose: LoRA matched partial within a few points"
    assert acc["finetune"] == min(acc.values()), "prose: full fine-tuning came last at lr 1e-2"
