"""Evaluation helpers: binary scores from confusion counts, an imbalanced task, overfitting and leakage
studies on cached features, and probes of how much of the source task a backbone still knows."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from .backbones import TinyResNet, load_pretrained
from .data import Task, few_shot, loaders, source_task
from .device import seed_everything
from .features import extract_features, frozen_backbone
from .training import History, fit


def probe_accuracy(model: nn.Module, x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor,
                   y_test: torch.Tensor, device: torch.device | str | None = None) -> float:
    """Accuracy of a logistic-regression probe on the model's frozen features (how good the features are)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    backbone = frozen_backbone(model)
    f_train = extract_features(backbone, x_train, device=device).numpy()
    f_test = extract_features(backbone, x_test, device=device).numpy()
    with warnings.catch_warnings():
        # Badly damaged features can stop lbfgs short of convergence; the score is still the measurement.
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe = LogisticRegression(max_iter=2000).fit(f_train, y_train.numpy())
    return float(probe.score(f_test, y_test.numpy()))


def source_probe(model: nn.Module, device: torch.device | str | None = None) -> float:
    """Source-task (digits 0-4) accuracy of a linear probe on the model's current features."""
    src = source_task()
    return probe_accuracy(model, src.x_train, src.y_train, src.x_val, src.y_val, device=device)


@torch.no_grad()
def source_accuracy(model: TinyResNet, source_head: nn.Module) -> float:
    """Accuracy on the source task (digits 0-4) of `model`'s backbone read out by the original head."""
    task = source_task()
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    logits = source_head.to(device)(model.features(task.x_val.to(device)))
    model.train(was_training)
    return float((logits.argmax(1).cpu() == task.y_val).float().mean())


def confusion_counts(tp: int, fn: int, fp: int, tn: int) -> dict[str, float]:
    """Accuracy, precision, recall and F1 from the four cells of a binary confusion matrix."""
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    return {"accuracy": (tp + tn) / (tp + fn + fp + tn), "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / (precision + recall)}


def labels_from_counts(tp: int, fn: int, fp: int, tn: int) -> tuple[np.ndarray, np.ndarray]:
    """y_true and y_pred arrays (1 = positive) that produce exactly these confusion counts."""
    y_true = np.array([1] * (tp + fn) + [0] * (fp + tn))
    y_pred = np.array([1] * tp + [0] * fn + [1] * fp + [0] * tn)
    return y_true, y_pred


def fraud_data(seed: int = 0, n: int = 6000) -> tuple[np.ndarray, ...]:
    """A fraud-like binary task, about 2% positives: X_train, X_test, y_train, y_test (stratified)."""
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    x, y = make_classification(n_samples=n, n_features=20, n_informative=5, n_redundant=2,
                               weights=[0.98, 0.02], flip_y=0.0, class_sep=1.0, random_state=seed)
    return tuple(train_test_split(x, y, test_size=0.5, stratify=y, random_state=seed))


def binary_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of the positive class (scikit-learn, 0 when undefined)."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average="binary", zero_division=0)
    return {"accuracy": float(accuracy_score(y_true, y_pred)), "precision": float(p), "recall": float(r),
            "f1": float(f)}


def fraud_models(seed: int = 0) -> dict[str, dict[str, float]]:
    """Scores of an always-'legit' baseline, a logistic regression, and one with balanced class weights."""
    from sklearn.linear_model import LogisticRegression

    x_train, x_test, y_train, y_test = fraud_data(seed)
    plain = LogisticRegression(max_iter=2000).fit(x_train, y_train)
    balanced = LogisticRegression(max_iter=2000, class_weight="balanced").fit(x_train, y_train)
    return {"always_legit": binary_scores(y_test, np.zeros_like(y_test)),
            "logistic": binary_scores(y_test, plain.predict(x_test)),
            "logistic_balanced": binary_scores(y_test, balanced.predict(x_test))}


def feature_task(task: Task, device: torch.device | str | None = None) -> Task:
    """The same task with every image replaced by the pretrained backbone's 64-d features (cached once)."""
    backbone = frozen_backbone(load_pretrained())
    return replace(task, x_train=extract_features(backbone, task.x_train, device=device),
                   x_val=extract_features(backbone, task.x_val, device=device),
                   x_test=extract_features(backbone, task.x_test, device=device))


def overfit_head(features: Task, k: int = 2, seed: int = 0, epochs: int = 40, lr: float = 3e-2,
                 progress: bool = True) -> tuple[nn.Linear, History]:
    """Train a linear head on k examples per class of cached features; return it and its history."""
    seed_everything(seed)
    small = few_shot(features, k, seed=seed)
    head = nn.Linear(small.x_train.shape[1], small.num_classes)
    data = loaders(small, batch_size=64, seed=seed)
    history = fit(head, data["train"], torch.optim.Adam(head.parameters(), lr=lr), epochs,
                  val_loader=data["val"], device="cpu", progress=progress,
                  desc=f"head, {k} labels per class")
    return head, history


@dataclass
class LeakageResult:
    """For one seed: the score each selection rule reports, and the same model's score on fresh data."""

    seed: int
    test_selected_reported: float
    test_selected_fresh: float
    val_selected_reported: float
    val_selected_fresh: float


def leakage_study(features: Task, k: int = 3, seeds: tuple[int, ...] = tuple(range(8)),
                  test_size: int = 100) -> list[LeakageResult]:
    """Choose among 20 settings on the test set vs on validation; compare reported vs fresh accuracy.

    The test split is cut in two: the first `test_size` examples are "the test set" a careless person
    tunes on, the rest stands in for new data from production.
    """
    from sklearn.linear_model import RidgeClassifier

    x_test, y_test = features.x_test[:test_size].numpy(), features.y_test[:test_size].numpy()
    x_fresh, y_fresh = features.x_test[test_size:].numpy(), features.y_test[test_size:].numpy()
    x_val, y_val = features.x_val.numpy(), features.y_val.numpy()
    results = []
    for seed in seeds:
        small = few_shot(features, k, seed=seed)
        rng = np.random.default_rng(seed)
        # 20 settings: 4 regularisation strengths x 5 random halves of the features ("architectures").
        settings = [(alpha, rng.choice(x_val.shape[1], x_val.shape[1] // 2, replace=False))
                    for _ in range(5) for alpha in (0.1, 1.0, 10.0, 100.0)]
        val, test, fresh = [], [], []
        for alpha, cols in settings:
            model = RidgeClassifier(alpha=alpha).fit(small.x_train.numpy()[:, cols], small.y_train.numpy())
            val.append(model.score(x_val[:, cols], y_val))
            test.append(model.score(x_test[:, cols], y_test))
            fresh.append(model.score(x_fresh[:, cols], y_fresh))
        by_test, by_val = int(np.argmax(test)), int(np.argmax(val))
        results.append(LeakageResult(seed, test[by_test], fresh[by_test], test[by_val], fresh[by_val]))
    return results
