"""Transfer experiments in miniature: which parts of a pretrained network to train, measured.

Every strategy starts from the course checkpoint (`load_pretrained`) except "scratch", trains on a few-shot
target task and reports test accuracy. Frozen stages keep their BatchNorm layers in eval mode, so their
running statistics stay those learned on the source task.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from .backbones import TinyResNet, load_pretrained
from .data import Task, augment, few_shot, loaders, target_task
from .device import pick_device, seed_everything
from .strategies import freeze_all_but, frozen_bn_to_eval
from .training import fit, loss_and_accuracy

BACKBONE_STAGES = ("conv1", "bn1", "layer1", "layer2", "layer3")

# strategy -> (start from the checkpoint?, stages trained besides the head)
STRATEGIES: dict[str, tuple[bool, tuple[str, ...]]] = {
    "scratch": (False, BACKBONE_STAGES),
    "linear_probe": (True, ()),
    "first_block": (True, ("conv1", "bn1", "layer1")),
    "last_block": (True, ("layer3",)),
    "partial": (True, ("layer2", "layer3")),
    "finetune": (True, BACKBONE_STAGES),
    "lp_ft": (True, BACKBONE_STAGES),  # linear probe first, then fine-tune everything
}
DESCRIPTIONS = {
    "scratch": "random initialisation, train everything",
    "linear_probe": "pretrained, freeze the backbone, train only the head",
    "first_block": "pretrained, train conv1/bn1/layer1 and the head (surgical, early)",
    "last_block": "pretrained, train layer3 and the head (surgical, late)",
    "partial": "pretrained, freeze conv1-layer1, train layer2, layer3 and the head",
    "finetune": "pretrained, train everything",
    "lp_ft": "pretrained, train the head first, then everything with a smaller learning rate",
}


@dataclass
class RunResult:
    """One training run: which strategy on which task, and how it did."""

    strategy: str
    task: str
    k: int
    seed: int
    test_acc: float
    val_acc: float
    trainable: int
    seconds: float


def build_for_strategy(strategy: str, num_classes: int, keep_head: bool = False) -> TinyResNet:
    """The model a strategy starts from, with `requires_grad` set on the stages it trains."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}.")
    pretrained, trained_stages = STRATEGIES[strategy]
    if not pretrained:
        return TinyResNet(num_classes=num_classes)
    model = load_pretrained()
    if not keep_head:
        model.fc = nn.Linear(model.fc.in_features, num_classes)
    return freeze_all_but(model, (*trained_stages, "fc"))


def train_strategy(strategy: str, task: Task, seed: int = 0, epochs: int = 40, lr: float = 3e-3,
                   device: torch.device | str | None = None) -> TinyResNet:
    """Build the model for `strategy` and train it on `task` (usually a few-shot task); return the model."""
    device = torch.device(device) if device is not None else pick_device()
    generator = seed_everything(seed)
    data = loaders(task, batch_size=64, seed=seed)
    # Input-level shifts keep the source's classes, so the pretrained head still means something (Lee et al.).
    keep_head = not task.name.startswith("new_digits")
    model = build_for_strategy(strategy, task.num_classes, keep_head).to(device)

    def shifted(x: torch.Tensor) -> torch.Tensor:
        return augment(x.cpu(), generator).to(x.device)

    if strategy == "lp_ft":
        # Phase 1: the head alone, so phase 2 starts from a head that already fits the features (Kumar et al.).
        model.requires_grad_(False)
        model.fc.requires_grad_(True)
        head_opt = torch.optim.AdamW(model.fc.parameters(), lr=lr * 3)
        fit(model, data["train"], head_opt, epochs // 2, device=device, before_epoch=frozen_bn_to_eval,
            augment=shifted, progress=False)
        model.requires_grad_(True)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr / 3)
        epochs = epochs - epochs // 2
    else:
        lr_here = lr * 3 if strategy == "linear_probe" else lr
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr_here)
    fit(model, data["train"], optimizer, epochs, device=device, before_epoch=frozen_bn_to_eval,
        augment=shifted, progress=False)
    return model


def run_strategy(strategy: str, task_name: str = "new_digits", k: int = 5, seed: int = 0, epochs: int = 40,
                 lr: float = 3e-3, device: torch.device | str | None = None) -> RunResult:
    """Train one strategy on a k-shot target task with one seed and return its test accuracy."""
    device = torch.device(device) if device is not None else pick_device()
    started = time.perf_counter()
    task = few_shot(target_task(task_name), k, seed=seed)
    data = loaders(task, batch_size=256, seed=seed)
    model = train_strategy(strategy, task, seed=seed, epochs=epochs, lr=lr, device=device)
    _, test_acc = loss_and_accuracy(model, data["test"], device)
    _, val_acc = loss_and_accuracy(model, data["val"], device)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return RunResult(strategy, task_name, k, seed, test_acc, val_acc, trainable,
                     time.perf_counter() - started)


def compare(strategies=("scratch", "linear_probe", "finetune"), tasks=("new_digits",), ks=(5,),
            seeds=(0, 1, 2), epochs: int = 40, device: torch.device | str | None = None,
            progress: bool = True) -> list[RunResult]:
    """Run every strategy x task x k x seed combination (with a progress bar) and return all results."""
    grid = [(s, t, k, seed) for t in tasks for k in ks for s in strategies for seed in seeds]
    results = []
    for strategy, task_name, k, seed in tqdm(grid, desc="transfer runs", disable=not progress):
        results.append(run_strategy(strategy, task_name, k, seed, epochs=epochs, device=device))
    return results


def summarise(results: list[RunResult]) -> list[dict]:
    """Mean and standard deviation of test accuracy per (task, k, strategy), in first-seen order."""
    groups: dict[tuple[str, int, str], list[RunResult]] = {}
    for r in results:
        groups.setdefault((r.task, r.k, r.strategy), []).append(r)
    rows = []
    for (task_name, k, strategy), runs in groups.items():
        accs = [r.test_acc for r in runs]
        rows.append({"task": task_name, "k": k, "strategy": strategy, "runs": len(runs),
                     "mean_acc": statistics.fmean(accs),
                     "std_acc": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                     "trainable": runs[0].trainable})
    return rows


def as_rows(results: list[RunResult]) -> list[dict]:
    """Results as plain dicts (for printing, saving or a DataFrame)."""
    return [asdict(r) for r in results]


def plot_comparison(results: list[RunResult], ax=None):
    """Bar chart of mean test accuracy per strategy, one group per task, with std error bars."""
    import matplotlib.pyplot as plt

    rows = summarise(results)
    tasks = list(dict.fromkeys(f"{r['task']} ({r['k']}-shot)" for r in rows))
    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    if ax is None:
        _, ax = plt.subplots(figsize=(1.6 + 1.4 * len(tasks) * max(1, len(strategies)) / 3, 3.4))
    width = 0.8 / len(strategies)
    hatches = ["", "//", "..", "xx", "\\\\", "oo", "--"]
    for i, strategy in enumerate(strategies):
        means = [next((r["mean_acc"] for r in rows if f"{r['task']} ({r['k']}-shot)" == t
                       and r["strategy"] == strategy), float("nan")) for t in tasks]
        stds = [next((r["std_acc"] for r in rows if f"{r['task']} ({r['k']}-shot)" == t
                      and r["strategy"] == strategy), 0.0) for t in tasks]
        xs = [j + (i - (len(strategies) - 1) / 2) * width for j in range(len(tasks))]
        ax.bar(xs, means, width, yerr=stds, capsize=3, label=strategy, hatch=hatches[i % len(hatches)],
               edgecolor="black", linewidth=0.5)
    ax.set_xticks(range(len(tasks)), tasks)
    ax.set(ylabel="test accuracy", ylim=(0, 1.05), title="few-shot transfer (mean ± std over seeds)")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    return ax
