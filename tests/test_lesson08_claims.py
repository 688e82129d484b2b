"""The measured claims in the prose of lesson 08 (evaluation), checked with the lesson's own settings.

Each test calls the same `freezelab.evaluation` function with the arguments the notebook passes
(`freezelab.lessons.l08_evaluation`), so the text a student reads cannot drift from what the code measures.
"""

from __future__ import annotations

import numpy as np
import pytest

from freezelab.data import target_task
from freezelab.evaluation import (
    confusion_counts,
    feature_task,
    fraud_models,
    labels_from_counts,
    leakage_study,
    overfit_head,
)
from freezelab.lessons import l08_evaluation as lesson

CPU = "cpu"


pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


@pytest.fixture(scope="module")
def features():
    return feature_task(target_task(lesson.TASK), device=CPU)


def test_08_seed_001_numbers():
    scores = confusion_counts(tp=85, fn=15, fp=10, tn=90)  # the lesson's worked example, as its prose prints it
    assert round(scores["precision"], 3) == 0.895
    assert scores["recall"] == 0.85
    assert round(scores["f1"], 3) == 0.872
    y_true, y_pred = labels_from_counts(85, 15, 10, 90)
    assert (y_true == 1).sum() == 100 and ((y_true == 1) & (y_pred == 1)).sum() == 85


def test_08_head_on_two_labels_overfits_and_more_labels_shrink_the_gap(features):
    _, history = overfit_head(features, **lesson.OVERFIT, progress=False)
    assert history.train_acc[-1] == 1.0
    assert history.val_acc[-1] < 0.8, "prose: validation stays far lower"
    best = int(np.argmin(history.val_loss))
    assert best < 10 and history.val_loss[-1] > history.val_loss[best] + 0.2, "val loss turns upwards"
    _, more = overfit_head(features, **lesson.MORE_LABELS, progress=False)
    gap_2 = history.train_acc[-1] - history.val_acc[-1]
    gap_20 = more.train_acc[-1] - more.val_acc[-1]
    assert gap_20 < gap_2


def test_08_accuracy_paradox():
    scores = fraud_models(seed=lesson.FRAUD_SEED)
    base, plain, balanced = scores["always_legit"], scores["logistic"], scores["logistic_balanced"]
    assert base["accuracy"] >= 0.975 and base["recall"] == 0.0
    assert abs(plain["accuracy"] - base["accuracy"]) < 0.02, "prose: barely better on accuracy"
    assert plain["recall"] < 0.5, "prose: still misses most fraud"
    assert balanced["recall"] > 0.5 > plain["recall"], "prose: balanced weights find most of the fraud"
    assert balanced["accuracy"] < plain["accuracy"], "prose: ...and its accuracy drops"


def test_08_selecting_on_test_is_optimistic(features):
    leaks = leakage_study(features, **lesson.LEAKAGE)
    optimism_test = np.mean([r.test_selected_reported - r.test_selected_fresh for r in leaks])
    optimism_val = np.mean([r.val_selected_reported - r.val_selected_fresh for r in leaks])
    assert optimism_test > 0
    assert optimism_test > optimism_val
    # By construction: the model picked on test has the highest test score of all candidates.
    assert all(r.test_selected_reported >= r.val_selected_reported for r in leaks)
