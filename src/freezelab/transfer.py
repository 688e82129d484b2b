"""Transfer experiments in miniature: which parts of a pretrained network to train, measured fairly.

Every strategy starts from the course checkpoint (`load_pretrained`) except "scratch", gets a new head,
trains on a few-shot target task and reports validation and test accuracy. A comparison gives every
strategy its own learning rate, chosen on the *validation* split from a small grid (`sweep`, `summarise`),
and reports test accuracy over several seeds at that learning rate. One run is evaluated at several
budgets (numbers of epochs) on the way, so "does the ranking change with the budget?" costs nothing extra.
Frozen stages keep their BatchNorm layers in eval mode, so their running statistics stay the source's.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from .backbones import TinyResNet, load_pretrained
from .data import Task, augment, few_shot, loaders, source_task, target_task
from .device import pick_device, seed_everything
from .strategies import freeze_all_but, frozen_bn_to_eval
from .training import fit, loss_and_accuracy

BACKBONE_STAGES = ("conv1", "bn1", "layer1", "layer2", "layer3")

# strategy -> (start from the checkpoint?, stages trained besides the head). Names say what trains.
STRATEGIES: dict[str, tuple[bool, tuple[str, ...]]] = {
    "scratch": (False, BACKBONE_STAGES),
    "linear_probe": (True, ()),
    "stem+layer1+head": (True, ("conv1", "bn1", "layer1")),
    "layer3+head": (True, ("layer3",)),
    "finetune": (True, BACKBONE_STAGES),
    "lp_ft": (True, BACKBONE_STAGES),  # the head alone first, then everything
}
DESCRIPTIONS = {
    "scratch": "random initialisation, train everything",
    "linear_probe": "pretrained, freeze the backbone, train only a new head",
    "stem+layer1+head": "pretrained, train conv1, bn1, layer1 and a new head (the first block)",
    "layer3+head": "pretrained, train layer3 and a new head (the last block)",
    "finetune": "pretrained, train everything with a new head",
    "lp_ft": "pretrained, train a new head alone for 10 epochs, then everything",
}
LP_EPOCHS = 10     # lp_ft: epochs of head-only training before everything trains
LP_HEAD_LR = 1e-2  # lp_ft: learning rate of that head-only phase
LRS = (1e-3, 3e-3, 1e-2)           # the grid every strategy is tuned on ...
PROBE_LRS = (3e-3, 1e-2, 3e-2)     # ... except a lone head, which wants larger steps
OOD_SETS = {"noisy": "clean digits 0-4 (images the backbone never trained on)"}


def lr_grid(strategy: str) -> tuple[float, ...]:
    """The learning rates `sweep` tries for a strategy."""
    return PROBE_LRS if strategy == "linear_probe" else LRS


@dataclass
class RunResult:
    """One training run evaluated after `epochs` epochs: strategy, task, seed, lr and accuracies."""

    strategy: str
    task: str
    k: int
    seed: int
    lr: float
    epochs: int
    test_acc: float
    val_acc: float
    trainable: int
    seconds: float
    ood_acc: float | None = None


def build_for_strategy(strategy: str, num_classes: int) -> TinyResNet:
    """The model a strategy starts from (with a new head), `requires_grad` set on the stages it trains."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}.")
    pretrained, trained_stages = STRATEGIES[strategy]
    if not pretrained:
        return TinyResNet(num_classes=num_classes)
    model = load_pretrained()
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return freeze_all_but(model, (*trained_stages, "fc"))


def train_model(model: nn.Module, task: Task, generator: torch.Generator, seed: int = 0, epochs: int = 40,
                lr: float = 3e-3, device: torch.device | str | None = None, budgets: tuple[int, ...] = (),
                on_budget=None, head_epochs: int = 0) -> nn.Module:
    """Train the parameters of `model` that require grad on `task` with AdamW at `lr`; return the model.

    Augmentation draws from `generator`. With `head_epochs`, only `model.fc` trains for that many epochs
    first (at `LP_HEAD_LR`), then every parameter. `on_budget(model, epochs_done)` is called after each
    epoch count in `budgets` and at the end, so one run can be evaluated at several budgets.
    """
    device = torch.device(device) if device is not None else pick_device()
    data = loaders(task, batch_size=64, seed=seed)
    model.to(device)

    def shifted(x: torch.Tensor) -> torch.Tensor:
        return augment(x.cpu(), generator).to(x.device)

    def train(optimizer: torch.optim.Optimizer, n: int) -> None:
        fit(model, data["train"], optimizer, n, device=device, before_epoch=frozen_bn_to_eval,
            augment=shifted, progress=False)

    stops = sorted({b for b in budgets if 0 < b < epochs} | {epochs})
    if head_epochs and stops[0] <= head_epochs:
        raise ValueError(f"the first {head_epochs} epochs train the head alone: use budgets above that.")
    if head_epochs:
        # Phase 1: the head alone, so phase 2 starts from a head that already fits the features (Kumar et al.).
        model.requires_grad_(False)
        model.fc.requires_grad_(True)
        train(torch.optim.AdamW(model.fc.parameters(), lr=LP_HEAD_LR), head_epochs)
        model.requires_grad_(True)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    done = head_epochs
    for stop in stops:
        train(optimizer, stop - done)  # the loader and augmentation continue where they stopped
        done = stop
        if on_budget is not None:
            on_budget(model, done)
    return model


def train_strategy(strategy: str, task: Task, seed: int = 0, epochs: int = 40, lr: float = 3e-3,
                   device: torch.device | str | None = None, budgets: tuple[int, ...] = (),
                   on_budget=None) -> TinyResNet:
    """Build the model for `strategy` (seeded) and train it on `task`; return the model."""
    generator = seed_everything(seed)
    model = build_for_strategy(strategy, task.num_classes)
    return train_model(model, task, generator, seed, epochs, lr, device, budgets, on_budget,
                       head_epochs=LP_EPOCHS if strategy == "lp_ft" else 0)


def _ood_loader(task_name: str):
    """Out-of-distribution test images for a target task (see `OOD_SETS`), or None."""
    if task_name not in OOD_SETS:
        return None
    return loaders(source_task(), batch_size=256)["val"]


def run_model(name: str, build, task_name: str = "new_digits", k: int = 5, seed: int = 0,
              epochs: int = 40, lr: float = 3e-3, device: torch.device | str | None = None,
              budgets: tuple[int, ...] = (), head_epochs: int = 0) -> list[RunResult]:
    """Seed, `build(num_classes)` a model, train it on a k-shot target task; one result per budget."""
    device = torch.device(device) if device is not None else pick_device()
    started = time.perf_counter()
    task = few_shot(target_task(task_name), k, seed=seed)
    data = loaders(task, batch_size=256, seed=seed)
    ood = _ood_loader(task_name)
    results: list[RunResult] = []

    def evaluate(model: nn.Module, done: int) -> None:
        _, test_acc = loss_and_accuracy(model, data["test"], device)
        _, val_acc = loss_and_accuracy(model, data["val"], device)
        ood_acc = loss_and_accuracy(model, ood, device)[1] if ood is not None else None
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        results.append(RunResult(name, task_name, k, seed, lr, done, test_acc, val_acc, trainable,
                                 time.perf_counter() - started, ood_acc))

    generator = seed_everything(seed)
    train_model(build(task.num_classes), task, generator, seed, epochs, lr, device, budgets, evaluate,
                head_epochs)
    return results


def run_strategy(strategy: str, task_name: str = "new_digits", k: int = 5, seed: int = 0, epochs: int = 40,
                 lr: float = 3e-3, device: torch.device | str | None = None,
                 budgets: tuple[int, ...] = ()) -> list[RunResult]:
    """Train one strategy on a k-shot target task with one seed; one result per budget (and `epochs`)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}.")
    return run_model(strategy, lambda n: build_for_strategy(strategy, n), task_name, k, seed, epochs, lr,
                     device, budgets, head_epochs=LP_EPOCHS if strategy == "lp_ft" else 0)


def sweep(strategies=("scratch", "linear_probe", "finetune"), tasks=("new_digits",), ks=(5,),
          seeds=(0, 1, 2), epochs: int = 40, budgets: tuple[int, ...] = (), lrs: dict | None = None,
          device: torch.device | str | None = None, progress: bool = True) -> list[RunResult]:
    """Every strategy x learning rate x task x k x seed (lrs from `lr_grid` unless given per strategy)."""
    lrs = lrs or {}
    grid = [(s, lr, t, k, seed) for t in tasks for k in ks for s in strategies
            for lr in lrs.get(s, lr_grid(s)) for seed in seeds]
    results: list[RunResult] = []
    for strategy, lr, task_name, k, seed in tqdm(grid, desc="transfer runs", disable=not progress):
        results += run_strategy(strategy, task_name, k, seed, epochs=epochs, lr=lr, device=device,
                                budgets=budgets)
    return results


def _spread(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarise(results: list[RunResult]) -> list[dict]:
    """Per (task, k, strategy, epochs): the lr with the best mean *validation* accuracy over seeds, and
    the mean and standard deviation of *test* accuracy (and OOD accuracy, if measured) at that lr."""
    groups: dict[tuple, dict[float, list[RunResult]]] = {}
    for r in results:
        groups.setdefault((r.task, r.k, r.strategy, r.epochs), {}).setdefault(r.lr, []).append(r)
    rows = []
    for (task_name, k, strategy, epochs), by_lr in groups.items():
        lr = max(by_lr, key=lambda x: statistics.fmean(r.val_acc for r in by_lr[x]))
        runs = by_lr[lr]
        mean_acc, std_acc = _spread([r.test_acc for r in runs])
        row = {"task": task_name, "k": k, "strategy": strategy, "epochs": epochs, "lr": lr,
               "runs": len(runs), "mean_acc": mean_acc, "std_acc": std_acc,
               "val_acc": statistics.fmean(r.val_acc for r in runs),
               "test_accs": [r.test_acc for r in runs], "trainable": runs[0].trainable,
               "lrs_tried": sorted(by_lr)}
        if runs[0].ood_acc is not None:
            row["mean_ood"], row["std_ood"] = _spread([r.ood_acc for r in runs])
        rows.append(row)
    return rows


def format_summary(rows: list[dict]) -> str:
    """The rows of `summarise` as a text table."""
    lines = [f"{'task':<11} {'epochs':>6} {'strategy':<17} {'lr':>7} {'test acc':>15} {'trainable':>10}"]
    for r in rows:
        lines.append(f"{r['task']:<11} {r['epochs']:>6} {r['strategy']:<17} {r['lr']:>7.0e} "
                     f"{r['mean_acc']:>7.3f} ± {r['std_acc']:.3f} {r['trainable']:>10,}")
    return "\n".join(lines)


def as_rows(results: list[RunResult]) -> list[dict]:
    """Results as plain dicts (for printing, saving or a DataFrame)."""
    return [asdict(r) for r in results]


def plot_comparison(rows: list[dict], ax=None):
    """Bar chart of `summarise` rows: mean test accuracy per strategy, one group per task and budget."""
    import matplotlib.pyplot as plt

    def group(r: dict) -> str:
        return f"{r['task']} ({r['k']}-shot, {r['epochs']} ep)"

    groups = list(dict.fromkeys(group(r) for r in rows))
    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    if ax is None:
        _, ax = plt.subplots(figsize=(1.6 + 1.4 * len(groups) * max(1, len(strategies)) / 3, 3.4))
    width = 0.8 / len(strategies)
    hatches = ["", "//", "..", "xx", "\\\\", "oo", "--"]
    for i, strategy in enumerate(strategies):
        found = [next((r for r in rows if group(r) == g and r["strategy"] == strategy), None) for g in groups]
        xs = [j + (i - (len(strategies) - 1) / 2) * width for j in range(len(groups))]
        ax.bar(xs, [r["mean_acc"] if r else float("nan") for r in found], width,
               yerr=[r["std_acc"] if r else 0.0 for r in found], capsize=3, label=strategy,
               hatch=hatches[i % len(hatches)], edgecolor="black", linewidth=0.5)
    ax.set_xticks(range(len(groups)), groups)
    ax.set(ylabel="test accuracy", ylim=(0, 1.05),
           title="few-shot transfer, lr chosen on validation (mean ± std over seeds)")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    return ax
