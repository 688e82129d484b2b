"""Every measured claim in the prose of lessons 04, 05, 07, 08 and 09, checked on the lessons' own seeds.

Each test calls the same package function with the same arguments as the notebook cell that prints the
number, so the text a student reads cannot drift away from what the code measures.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from freezelab.backbones import load_pretrained
from freezelab.bench import plans_for, saved_activation_bytes
from freezelab.data import target_task
from freezelab.experiments import (
    confusion_counts,
    feature_task,
    fraud_models,
    labels_from_counts,
    leakage_study,
    overfit_head,
)
from freezelab.features import compare_caching, extract_features, feature_extractor

CPU = "cpu"


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
