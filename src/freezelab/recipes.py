"""Recipes: a plan (what trains) + an optimizer + phases, trained by one loop and compared fairly.

A recipe names a plan from `freezelab.plans` and the phases it trains in: "single" (the plan at one
learning rate), "lp_ft" (a linear probe first, then everything; Kumar et al. 2022), "two_phase" (the head,
then everything with a 10x smaller rate), "gradual" (the head, then one more stage at a time, ULMFiT) and
"discriminative" (everything at once, the rate shrinking by 2.6 per stage going down from the head).

`run` trains one recipe on a few-shot target task from the course checkpoint with a new head and reports
validation and test accuracy; `compare` runs a grid of recipes x learning rates x seeds and `summarise`
gives every recipe its own learning rate, chosen on the *validation* split, with test accuracy over seeds
at that rate. One run is evaluated at several budgets (numbers of epochs) on the way, so "does the ranking
change with the budget?" costs nothing extra. Frozen stages keep their BatchNorm layers in eval mode.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from .data import Task, augment, few_shot, loaders, source_task, target_task
from .device import resolve_device, seed_everything
from .plans import PLANS, build_model, eval_frozen_batchnorm, trainable_count, trainable_parameters
from .training import fit, loss_and_accuracy

PHASES = ("single", "lp_ft", "two_phase", "gradual", "discriminative")


@dataclass(frozen=True)
class Recipe:
    """A plan (what trains at the end), the phases it trains in, and its lr as a multiple of the given lr."""

    plan: str
    phases: str = "single"
    lr_scale: float = 1.0


RECIPES: dict[str, Recipe] = {
    **{name: Recipe(name) for name in PLANS},  # each plan trained in one phase
    "lp_ft": Recipe("finetune", "lp_ft"),
    # Lesson 5: the pretrained network with its source head, one base rate (the head's) for every recipe.
    "head_only": Recipe("linear_probe"),
    "full_small_lr": Recipe("finetune", lr_scale=0.1),
    "two_phase": Recipe("finetune", "two_phase"),
    "gradual": Recipe("finetune", "gradual"),
    "discriminative": Recipe("finetune", "discriminative"),
    "full_large_lr": Recipe("finetune", lr_scale=10.0),
}
DESCRIPTIONS = {name: PLANS[name].description for name in PLANS} | {
    "lp_ft": "pretrained, train a new head alone for 10 epochs, then everything"}
LP_EPOCHS = 10     # lp_ft: epochs of head-only training before everything trains
LP_HEAD_LR = 1e-2  # lp_ft: learning rate of that head-only phase
DISCRIMINATIVE_FACTOR = 2.6  # ULMFiT: each stage down from the head trains 2.6x slower
# From the input to the head: the order in which gradual unfreezing works backwards.
STAGES = (("conv1", "bn1", "layer1"), ("layer2",), ("layer3",))
LRS = (1e-3, 3e-3, 1e-2)           # the grid every recipe is tuned on ...
PROBE_LRS = (3e-3, 1e-2, 3e-2)     # ... except a lone head or a few biases, which want larger steps
OOD_SETS = {"noisy": "clean digits 0-4 (images the backbone never trained on)"}


def recipe(name: str) -> Recipe:
    """The recipe called `name`, or a ValueError listing the recipes."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}: choose one of {', '.join(RECIPES)}.")
    return RECIPES[name]


def lr_grid(name: str) -> tuple[float, ...]:
    """The learning rates `compare` tries for a recipe."""
    return PROBE_LRS if name in ("linear_probe", "bitfit") else LRS


def stage_params(model: nn.Module, names: tuple[str, ...]) -> list[nn.Parameter]:
    """All parameters of the named child modules."""
    return [p for name in names for p in getattr(model, name).parameters()]


def discriminative_groups(model: nn.Module, head_lr: float, factor: float = DISCRIMINATIVE_FACTOR) -> list[dict]:
    """Param groups whose lr shrinks by `factor` per stage going down from the head (ULMFiT)."""
    groups = [{"params": list(model.fc.parameters()), "lr": head_lr}]
    for depth, names in enumerate(reversed(STAGES), start=1):
        groups.append({"params": stage_params(model, names), "lr": head_lr / factor**depth})
    return groups


@dataclass
class RunResult:
    """One training run evaluated after `epochs` epochs: recipe, task, seed, lr and accuracies."""

    recipe: str
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


def train(model: nn.Module, task: Task, name: str, generator: torch.Generator, seed: int = 0, epochs: int = 40,
          lr: float = 3e-3, device: torch.device | str | None = None, budgets: tuple[int, ...] = (),
          on_budget: Callable[[nn.Module, int], None] | None = None) -> nn.Module:
    """Train `model` (built by the recipe's plan) on `task` with recipe `name` and AdamW; return it.

    Augmentation draws from `generator`. `on_budget(model, epochs_done)` is called after each epoch count
    in `budgets` and at the end, so one run can be evaluated at several budgets ("single" and "lp_ft").
    """
    chosen = recipe(name)
    device = resolve_device(device)
    data = loaders(task, batch_size=64, seed=seed)
    model.to(device)
    lr = lr * chosen.lr_scale

    def shifted(x: torch.Tensor) -> torch.Tensor:
        return augment(x.cpu(), generator).to(x.device)

    def fit_for(optimizer: torch.optim.Optimizer, n: int) -> None:
        fit(model, data["train"], optimizer, n, device=device, before_epoch=eval_frozen_batchnorm,
            augment=shifted, progress=False)

    def head_alone(head_lr: float) -> torch.optim.Optimizer:
        model.requires_grad_(False)
        model.fc.requires_grad_(True)
        return torch.optim.AdamW(model.fc.parameters(), lr=head_lr)

    if chosen.phases in ("two_phase", "gradual", "discriminative"):
        if budgets:
            raise ValueError(f"recipe {name!r} trains in phases of its own: it takes no budgets.")
        if chosen.phases == "two_phase":
            fit_for(head_alone(lr), epochs // 2)
            model.requires_grad_(True)  # phase 2: everything, with a learning rate 10x smaller
            fit_for(torch.optim.AdamW(model.parameters(), lr=lr / 10), epochs - epochs // 2)
        elif chosen.phases == "gradual":
            per_stage = max(epochs // (len(STAGES) + 1), 1)
            optimizer = head_alone(lr)
            fit_for(optimizer, per_stage)
            for depth, names in enumerate(reversed(STAGES), start=1):
                params = stage_params(model, names)
                for p in params:
                    p.requires_grad_(True)
                # The optimizer only updates what it was given: hand it the newly unfrozen stage.
                optimizer.add_param_group({"params": params, "lr": lr / DISCRIMINATIVE_FACTOR**depth})
                fit_for(optimizer, per_stage)
        else:
            fit_for(torch.optim.AdamW(discriminative_groups(model, lr)), epochs)
        if on_budget is not None:
            on_budget(model, epochs)
        return model

    head_epochs = LP_EPOCHS if chosen.phases == "lp_ft" else 0
    stops = sorted({b for b in budgets if 0 < b < epochs} | {epochs})
    if head_epochs and stops[0] <= head_epochs:
        raise ValueError(f"the first {head_epochs} epochs train the head alone: use budgets above that.")
    if head_epochs:
        # Phase 1: the head alone, so phase 2 starts from a head that already fits the features (Kumar et al.).
        fit_for(head_alone(LP_HEAD_LR), head_epochs)
        model.requires_grad_(True)
    optimizer = torch.optim.AdamW(trainable_parameters(model), lr=lr)
    done = head_epochs
    for stop in stops:
        fit_for(optimizer, stop - done)  # the loader and augmentation continue where they stopped
        done = stop
        if on_budget is not None:
            on_budget(model, done)
    return model


def build(name: str, num_classes: int, keep_head: bool = False) -> nn.Module:
    """The model recipe `name` starts from: its plan's model."""
    return build_model(recipe(name).plan, num_classes, keep_head=keep_head)


def train_recipe(name: str, task: Task, seed: int = 0, epochs: int = 40, lr: float = 3e-3,
                 device: torch.device | str | None = None) -> nn.Module:
    """Build recipe `name`'s model (seeded, new head) and train it on `task`; return the trained model."""
    generator = seed_everything(seed)
    return train(build(name, task.num_classes), task, name, generator, seed, epochs, lr, device)


def _ood_loader(task_name: str):
    """Out-of-distribution test images for a target task (see `OOD_SETS`), or None."""
    if task_name not in OOD_SETS:
        return None
    return loaders(source_task(), batch_size=256)["val"]


def run(name: str, task_name: str = "new_digits", k: int = 5, seed: int = 0, epochs: int = 40,
        lr: float = 3e-3, device: torch.device | str | None = None,
        budgets: tuple[int, ...] = ()) -> list[RunResult]:
    """Train recipe `name` (new head) on a k-shot target task with one seed; one result per budget."""
    recipe(name)
    device = resolve_device(device)
    started = time.perf_counter()
    task = few_shot(target_task(task_name), k, seed=seed)
    data = loaders(task, batch_size=256, seed=seed)
    ood = _ood_loader(task_name)
    results: list[RunResult] = []

    def evaluate(model: nn.Module, done: int) -> None:
        _, test_acc = loss_and_accuracy(model, data["test"], device)
        _, val_acc = loss_and_accuracy(model, data["val"], device)
        ood_acc = loss_and_accuracy(model, ood, device)[1] if ood is not None else None
        results.append(RunResult(name, task_name, k, seed, lr, done, test_acc, val_acc, trainable_count(model),
                                 time.perf_counter() - started, ood_acc))

    generator = seed_everything(seed)
    train(build(name, task.num_classes), task, name, generator, seed, epochs, lr, device, budgets, evaluate)
    return results


def compare(names=("scratch", "linear_probe", "finetune"), tasks=("new_digits",), ks=(5,), seeds=(0, 1, 2),
            epochs: int = 40, budgets: tuple[int, ...] = (), lrs: dict | None = None,
            device: torch.device | str | None = None, progress: bool = True) -> list[RunResult]:
    """Every recipe x learning rate x task x k x seed (lrs from `lr_grid` unless given per recipe)."""
    lrs = lrs or {}
    grid = [(s, lr, t, k, seed) for t in tasks for k in ks for s in names
            for lr in lrs.get(s, lr_grid(s)) for seed in seeds]
    results: list[RunResult] = []
    for name, lr, task_name, k, seed in tqdm(grid, desc="recipe runs", disable=not progress):
        results += run(name, task_name, k, seed, epochs=epochs, lr=lr, device=device, budgets=budgets)
    return results


def _spread(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarise(results: list[RunResult]) -> list[dict]:
    """Per (task, k, recipe, epochs): the lr with the best mean *validation* accuracy over seeds, and
    the mean and standard deviation of *test* accuracy (and OOD accuracy, if measured) at that lr."""
    groups: dict[tuple, dict[float, list[RunResult]]] = {}
    for r in results:
        groups.setdefault((r.task, r.k, r.recipe, r.epochs), {}).setdefault(r.lr, []).append(r)
    rows = []
    for (task_name, k, name, epochs), by_lr in groups.items():
        lr = max(by_lr, key=lambda x: statistics.fmean(r.val_acc for r in by_lr[x]))
        runs = by_lr[lr]
        mean_acc, std_acc = _spread([r.test_acc for r in runs])
        row = {"task": task_name, "k": k, "recipe": name, "epochs": epochs, "lr": lr,
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
    lines = [f"{'task':<11} {'epochs':>6} {'recipe':<17} {'lr':>7} {'test acc':>15} {'trainable':>10}"]
    for r in rows:
        lines.append(f"{r['task']:<11} {r['epochs']:>6} {r['recipe']:<17} {r['lr']:>7.0e} "
                     f"{r['mean_acc']:>7.3f} ± {r['std_acc']:.3f} {r['trainable']:>10,}")
    return "\n".join(lines)


def as_rows(results: list[RunResult]) -> list[dict]:
    """Results as plain dicts (for printing, saving or a DataFrame)."""
    return [asdict(r) for r in results]


def plot_comparison(rows: list[dict], ax=None):
    """Bar chart of `summarise` rows: mean test accuracy per recipe, one group per task and budget."""
    import matplotlib.pyplot as plt

    def group(r: dict) -> str:
        return f"{r['task']} ({r['k']}-shot, {r['epochs']} ep)"

    groups = list(dict.fromkeys(group(r) for r in rows))
    names = list(dict.fromkeys(r["recipe"] for r in rows))
    if ax is None:
        _, ax = plt.subplots(figsize=(1.6 + 1.4 * len(groups) * max(1, len(names)) / 3, 3.4))
    width = 0.8 / len(names)
    hatches = ["", "//", "..", "xx", "\\\\", "oo", "--"]
    for i, name in enumerate(names):
        found = [next((r for r in rows if group(r) == g and r["recipe"] == name), None) for g in groups]
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(groups))]
        ax.bar(xs, [r["mean_acc"] if r else float("nan") for r in found], width,
               yerr=[r["std_acc"] if r else 0.0 for r in found], capsize=3, label=name,
               hatch=hatches[i % len(hatches)], edgecolor="black", linewidth=0.5)
    ax.set_xticks(range(len(groups)), groups)
    ax.set(ylabel="test accuracy", ylim=(0, 1.05),
           title="few-shot transfer, lr chosen on validation (mean ± std over seeds)")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    return ax
