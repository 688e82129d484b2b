"""Lesson 5: six fine-tuning recipes on the pretrained network (source head kept), target vs source.

`notebooks/05_workflows.py` runs every recipe of `RECIPES` on `SEEDS` with `K` labels per class for
`EPOCHS` epochs; `tests/test_lesson05_claims.py` re-runs the ones its claims name.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ..data import few_shot, loaders, target_task
from ..device import resolve_device, seed_everything
from ..evaluation import source_probe
from ..recipes import build, train
from ..training import loss_and_accuracy

# In `freezelab.recipes.RECIPES`; each starts from one base rate, `HEAD_LR` (what the head trains at).
RECIPES = ("head_only", "full_small_lr", "two_phase", "gradual", "discriminative", "full_large_lr")
K = 5
EPOCHS = 12
HEAD_LR = 1e-2
SEEDS = (0, 1, 2)


@dataclass
class RecipeResult:
    """One recipe run: target test accuracy and how much of the source task the features still know."""

    recipe: str
    seed: int
    test_acc: float
    source_acc: float
    seconds: float


def run_recipe(name: str, k: int = K, seed: int = 0, epochs: int = EPOCHS, head_lr: float = HEAD_LR,
               device: torch.device | str | None = None) -> RecipeResult:
    """Fine-tune the pretrained network (its source head kept) on k-shot new_digits with one recipe;
    measure target test accuracy and a source-task probe."""
    if name not in RECIPES:
        raise ValueError(f"unknown lesson-5 recipe {name!r}: choose one of {', '.join(RECIPES)}.")
    device = resolve_device(device)
    started = time.perf_counter()
    generator = seed_everything(seed)
    task = few_shot(target_task("new_digits"), k, seed=seed)
    model = build(name, task.num_classes, keep_head=True).to(device)
    train(model, task, name, generator, seed, epochs, head_lr, device)
    _, test_acc = loss_and_accuracy(model, loaders(task, batch_size=64, seed=seed)["test"], device)
    return RecipeResult(name, seed, test_acc, source_probe(model, device), time.perf_counter() - started)
