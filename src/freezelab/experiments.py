"""Small seeded experiments behind lessons 04, 05, 08 and 09 (and the numbers lessons 00 and 10 quote).

Each function is what a lesson runs and what `tests/test_lesson_claims_d2.py` checks, so the prose and the
numbers cannot drift apart. The learning-rate sweeps of lessons 00, 04, 09 and 10 take minutes, more than a lesson
may spend, so `python -m freezelab.experiments record` runs them once and writes every run's numbers to
`freezelab/measured.py`; the lessons read that file and `tests/test_transfer.py` re-runs part of it.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .backbones import load_pretrained
from .data import Task, augment, few_shot, loaders, source_task, target_task
from .device import pick_device, seed_everything
from .features import extract_features, feature_extractor, probe_accuracy
from .peft import compare_methods
from .strategies import frozen_bn_to_eval
from .training import History, fit, loss_and_accuracy
from .transfer import RunResult, sweep

# ---------------------------------------------------------------------------------------------------------
# Lessons 00, 04, 09 and 10: recorded learning-rate sweeps
# ---------------------------------------------------------------------------------------------------------

# name -> (task, strategies or PEFT methods, "transfer" or "peft"); every one: 5 seeds, 40 epochs, also
# evaluated after 20, each strategy at every learning rate of its grid (transfer.lr_grid, peft.method_lrs),
# with 5 labels per class unless SWEEP_K says otherwise.
SWEEPS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "new_digits": ("new_digits", ("scratch", "linear_probe", "stem+layer1+head", "layer3+head", "finetune",
                                  "lp_ft"), "transfer"),
    "inverted": ("inverted", ("scratch", "linear_probe", "stem+layer1+head", "layer3+head", "finetune"),
                 "transfer"),
    "noisy": ("noisy", ("linear_probe", "finetune", "lp_ft"), "transfer"),
    "peft": ("new_digits", ("bitfit", "lora"), "peft"),
    # Lessons 00 and 10: a frozen backbone vs full fine-tuning with 10 labels per class, on every target.
    "new_digits_k10": ("new_digits", ("linear_probe", "finetune"), "transfer"),
    "inverted_k10": ("inverted", ("linear_probe", "finetune"), "transfer"),
    "noisy_k10": ("noisy", ("linear_probe", "finetune"), "transfer"),
}
SWEEP_K = {"new_digits_k10": 10, "inverted_k10": 10, "noisy_k10": 10}  # labels per class; 5 if not listed
# Runs two sweeps share (same task, model, recipe and grid) are recorded once: sweep -> (source, strategies).
SHARED = {"peft": ("new_digits", ("linear_probe", "layer3+head", "finetune"))}
SWEEP_SEEDS = (0, 1, 2, 3, 4)
SWEEP_EPOCHS = 40
SWEEP_BUDGETS = (20,)
MEASURED_PATH = Path(__file__).with_name("measured.py")


def run_sweep(name: str, seeds: tuple[int, ...] = SWEEP_SEEDS, strategies: tuple[str, ...] | None = None,
              lrs: dict | None = None, device: torch.device | str | None = "cpu",
              progress: bool = False) -> list[RunResult]:
    """Run (part of) one recorded sweep: all of it by default, or some strategies, seeds or lrs."""
    if name not in SWEEPS:
        raise ValueError(f"unknown sweep {name!r}: choose one of {', '.join(SWEEPS)}.")
    task_name, all_strategies, kind = SWEEPS[name]
    strategies = strategies or all_strategies
    if kind == "peft":
        return [r for m in strategies for r in compare_methods(
            (m,), task_name, k=sweep_k(name), seeds=seeds, epochs=SWEEP_EPOCHS, budgets=SWEEP_BUDGETS,
            device=device, progress=progress, lrs=(lrs or {}).get(m))]
    return sweep(strategies, (task_name,), ks=(sweep_k(name),), seeds=seeds, epochs=SWEEP_EPOCHS,
                 budgets=SWEEP_BUDGETS, lrs=lrs, device=device, progress=progress)


def sweep_k(name: str) -> int:
    """Labels per class in a recorded sweep."""
    return SWEEP_K.get(name, 5)


def measured(name: str) -> list[RunResult]:
    """Every run of a recorded sweep, as `record` wrote it (seconds are not kept: they depend on the machine)."""
    from .measured import RUNS

    if name not in RUNS:
        raise ValueError(f"no recorded sweep {name!r}: run `python -m freezelab.experiments record`.")
    runs = [RunResult(*row[:9], seconds=0.0, ood_acc=row[9]) for row in RUNS[name]]
    if name in SHARED:
        source, strategies = SHARED[name]
        runs = [r for r in measured(source) if r.strategy in strategies] + runs
    return runs


def write_measured(runs: dict[str, list[RunResult]], path: Path = MEASURED_PATH) -> None:
    """Write sweep results as the Python module `measured` reads."""
    lines = ['"""Every run of the recorded learning-rate sweeps (lessons 00, 04, 09, 10). Generated: do not edit.',
             "",
             f"Written by `python -m freezelab.experiments record` with torch {torch.__version__} on the CPU,",
             "one thread. Row: strategy, task, k, seed, lr, epochs, test_acc, val_acc, trainable, ood_acc.",
             '"""', "", "RUNS = {"]
    for name, results in runs.items():
        lines.append(f"    {name!r}: [")
        for r in results:
            row = (r.strategy, r.task, r.k, r.seed, r.lr, r.epochs, r.test_acc, r.val_acc, r.trainable,
                   r.ood_acc)
            lines.append(f"        {row!r},")
        lines.append("    ],")
    lines.append("}")
    Path(path).write_text("\n".join(lines) + "\n")


def record(names: tuple[str, ...] = tuple(SWEEPS), path: Path = MEASURED_PATH) -> None:
    """Run sweeps on the CPU with one thread and (re)write their results, keeping the other sweeps."""
    torch.set_num_threads(1)
    try:
        from .measured import RUNS
        runs = {name: [RunResult(*row[:9], seconds=0.0, ood_acc=row[9]) for row in rows]
                for name, rows in RUNS.items()}
    except ImportError:
        runs = {}
    for name in names:
        started = time.perf_counter()
        runs[name] = run_sweep(name, progress=True)
        write_measured(runs, path)  # after each sweep: a long recording can be resumed
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)

# ---------------------------------------------------------------------------------------------------------
# Lesson 05: fine-tuning workflows
# ---------------------------------------------------------------------------------------------------------

WORKFLOWS = ("head_only", "full_small_lr", "two_phase", "gradual", "discriminative", "full_large_lr")
# From the input to the head: the order in which gradual unfreezing works backwards.
STAGES = (("conv1", "bn1", "layer1"), ("layer2",), ("layer3",))


def stage_params(model: nn.Module, names: tuple[str, ...]) -> list[nn.Parameter]:
    """All parameters of the named child modules."""
    return [p for name in names for p in getattr(model, name).parameters()]


def discriminative_groups(model: nn.Module, head_lr: float, factor: float = 2.6) -> list[dict]:
    """Param groups whose lr shrinks by `factor` per stage going down from the head (ULMFiT)."""
    groups = [{"params": list(model.fc.parameters()), "lr": head_lr}]
    for depth, names in enumerate(reversed(STAGES), start=1):
        groups.append({"params": stage_params(model, names), "lr": head_lr / factor**depth})
    return groups


@dataclass
class WorkflowResult:
    """One workflow run: target test accuracy and how much of the source task the features still know."""

    workflow: str
    seed: int
    test_acc: float
    source_acc: float
    seconds: float


def source_probe(model: nn.Module, device: torch.device | str | None = None) -> float:
    """Source-task (digits 0-4) accuracy of a linear probe on the model's current features."""
    src = source_task()
    return probe_accuracy(model, src.x_train, src.y_train, src.x_val, src.y_val, device=device)


def run_workflow(workflow: str, k: int = 5, seed: int = 0, epochs: int = 12, head_lr: float = 1e-2,
                 device: torch.device | str | None = None) -> WorkflowResult:
    """Fine-tune the pretrained backbone on k-shot new_digits with one workflow; measure target and source."""
    if workflow not in WORKFLOWS:
        raise ValueError(f"unknown workflow {workflow!r}: choose one of {', '.join(WORKFLOWS)}.")
    device = torch.device(device) if device is not None else pick_device()
    started = time.perf_counter()
    generator = seed_everything(seed)
    task = few_shot(target_task("new_digits"), k, seed=seed)
    data = loaders(task, batch_size=64, seed=seed)
    model = load_pretrained(num_classes=task.num_classes).to(device)

    def shifted(x: torch.Tensor) -> torch.Tensor:
        return augment(x.cpu(), generator).to(x.device)

    def train(optimizer: torch.optim.Optimizer, n: int, before_epoch=frozen_bn_to_eval) -> None:
        fit(model, data["train"], optimizer, n, device=device, before_epoch=before_epoch, augment=shifted,
            progress=False)

    if workflow in ("head_only", "two_phase", "gradual"):
        model.requires_grad_(False)
        model.fc.requires_grad_(True)
        optimizer = torch.optim.AdamW(model.fc.parameters(), lr=head_lr)
    if workflow == "head_only":
        train(optimizer, epochs)
    elif workflow == "two_phase":
        train(optimizer, epochs // 2)
        model.requires_grad_(True)  # phase 2: everything, with a learning rate 10x smaller
        train(torch.optim.AdamW(model.parameters(), lr=head_lr / 10), epochs - epochs // 2)
    elif workflow == "gradual":
        per_stage = max(epochs // (len(STAGES) + 1), 1)
        train(optimizer, per_stage)
        for depth, names in enumerate(reversed(STAGES), start=1):
            params = stage_params(model, names)
            for p in params:
                p.requires_grad_(True)
            # The optimizer only updates what it was given: hand it the newly unfrozen stage.
            optimizer.add_param_group({"params": params, "lr": head_lr / 2.6**depth})
            train(optimizer, per_stage)
    elif workflow == "discriminative":
        train(torch.optim.AdamW(discriminative_groups(model, head_lr)), epochs)
    else:
        lr = head_lr / 10 if workflow == "full_small_lr" else head_lr * 10
        train(torch.optim.AdamW(model.parameters(), lr=lr), epochs)
    _, test_acc = loss_and_accuracy(model, data["test"], device)
    return WorkflowResult(workflow, seed, test_acc, source_probe(model, device),
                          time.perf_counter() - started)


# ---------------------------------------------------------------------------------------------------------
# Lesson 08: evaluation
# ---------------------------------------------------------------------------------------------------------

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
    backbone = feature_extractor(load_pretrained())
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


if __name__ == "__main__":
    names = sys.argv[2:] or list(SWEEPS)
    if sys.argv[1:2] != ["record"] or not set(names) <= set(SWEEPS):
        sys.exit(f"usage: python -m freezelab.experiments record [{' '.join(SWEEPS)}]   "
                 "(re-runs sweeps: minutes on a CPU)")
    record(tuple(names))
