"""freezelab.evaluation: scores from confusion counts, the imbalanced task, and the source-task probes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from freezelab.backbones import TinyResNet, load_pretrained
from freezelab.data import Task
from freezelab.evaluation import (
    binary_scores,
    confusion_counts,
    fraud_data,
    labels_from_counts,
    leakage_study,
    overfit_head,
    source_accuracy,
)


def test_confusion_counts_and_the_labels_that_produce_them_agree_with_scikit_learn():
    counts = {"tp": 3, "fn": 1, "fp": 2, "tn": 4}
    y_true, y_pred = labels_from_counts(**counts)
    by_hand, by_sklearn = confusion_counts(**counts), binary_scores(y_true, y_pred)
    assert by_hand == pytest.approx(by_sklearn)
    assert by_hand["precision"] == pytest.approx(3 / 5) and by_hand["recall"] == pytest.approx(3 / 4)


def test_binary_scores_are_zero_not_an_error_when_nothing_is_flagged():
    scores = binary_scores(np.array([1, 0, 0, 0]), np.zeros(4, dtype=int))
    assert scores == {"accuracy": 0.75, "precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_fraud_data_is_rare_positives_split_in_half_with_both_classes_in_each_half():
    x_train, x_test, y_train, y_test = fraud_data(seed=1, n=2000)
    assert len(x_train) == len(x_test) == 1000 and x_train.shape[1] == 20
    assert 0.01 < y_train.mean() < 0.03 and abs(y_train.mean() - y_test.mean()) < 0.002


def _random_features(n: int = 60, dim: int = 8, classes: int = 3) -> Task:
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(n, dim, generator=gen), torch.arange(n) % classes
    return Task("random", "random features", tuple(map(str, range(classes))), x, y, x.clone(), y.clone(),
                x.clone(), y.clone())


def test_overfit_head_trains_a_linear_head_on_k_examples_per_class():
    head, history = overfit_head(_random_features(), k=2, epochs=3, progress=False)
    assert isinstance(head, nn.Linear) and head.in_features == 8 and head.out_features == 3
    assert history.epochs == 3 and len(history.val_acc) == 3


def test_leakage_study_picks_the_best_test_score_when_selecting_on_test():
    results = leakage_study(_random_features(n=90), k=2, seeds=(0, 1), test_size=30)
    assert [r.seed for r in results] == [0, 1]
    assert all(r.test_selected_reported >= r.val_selected_reported for r in results)


def test_source_accuracy_reads_the_backbone_with_the_given_head_and_keeps_the_mode():
    model = load_pretrained().train()
    assert source_accuracy(model, model.fc) > 0.95, "the checkpoint's own head knows digits 0-4"
    assert model.training, "train mode is restored"
    assert source_accuracy(TinyResNet(), nn.Linear(64, 5)) < 0.5
