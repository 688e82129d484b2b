"""Lesson 3, section 7: a head (and a block) trained on a few labels on top of a frozen backbone.

`notebooks/03_strategies.py` runs every set-up in `SETUPS` on `NOTEBOOK_SEED`; `tests/test_lesson03_claims.py`
re-runs them on `CLAIM_SEEDS`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from ..backbones import TinyResNet, load_pretrained
from ..data import few_shot, loaders, target_task
from ..device import resolve_device, seed_everything
from ..plans import eval_frozen_batchnorm, train_only, trainable_count, trainable_parameters
from ..training import History, fit, loss_and_accuracy

# Learning rates `head_run` tries: a lone head trained for 15 steps wants large steps; a pretrained block
# trained with it wants smaller ones, or its features are wrecked.
HEAD_LRS = (1e-2, 3e-2, 1e-1)
BLOCK_LRS = (1e-3, 3e-3, 1e-2)
# label -> head_run arguments: which backbone, what trains, the learning rates tried.
SETUPS = {
    "pretrained, head only": {"backbone": "pretrained", "train": ("fc",), "lrs": HEAD_LRS},
    "pretrained, layer3 + head": {"backbone": "pretrained", "train": ("layer3", "fc"), "lrs": BLOCK_LRS},
    "random, head only": {"backbone": "random", "train": ("fc",), "lrs": HEAD_LRS},
}
NOTEBOOK_SEED = 0
CLAIM_SEEDS = (0, 1, 2)


@dataclass
class HeadRun:
    """A head trained on a few-shot target task on top of a (partly) frozen backbone."""

    backbone: str
    trainable: int
    lr: float
    val_acc: float
    test_acc: float
    history: History


def head_run(backbone: str = "pretrained", train: Iterable[str] = ("fc",), task_name: str = "new_digits",
             k: int = 10, seed: int = 0, epochs: int = 15, lrs: Iterable[float] = HEAD_LRS,
             device: torch.device | str | None = None, progress: bool = True) -> HeadRun:
    """Freeze a 'pretrained' or 'random' TinyResNet except `train`, fit it on k labels per class once per
    learning rate in `lrs`, and return the run with the best *validation* accuracy (and its test accuracy)."""
    if backbone not in ("pretrained", "random"):
        raise ValueError(f"backbone must be 'pretrained' or 'random', not {backbone!r}.")
    lrs = tuple(lrs)
    if not lrs:
        raise ValueError("lrs is empty: give head_run at least one learning rate to try.")
    device = resolve_device(device)
    runs = []
    for lr in lrs:
        seed_everything(seed)  # every lr starts from the same new head and sees the same batches
        task = few_shot(target_task(task_name), k, seed=seed)
        data = loaders(task, batch_size=64, seed=seed)
        model = load_pretrained(task.num_classes) if backbone == "pretrained" else TinyResNet(task.num_classes)
        train_only(model, train)
        optimizer = torch.optim.Adam(trainable_parameters(model), lr=lr)
        history = fit(model, data["train"], optimizer, epochs, device=device, before_epoch=eval_frozen_batchnorm,
                      progress=progress, desc=f"{backbone} backbone, training {', '.join(train)}, lr {lr:g}")
        _, val_acc = loss_and_accuracy(model, data["val"], device)
        _, test_acc = loss_and_accuracy(model, data["test"], device)
        runs.append(HeadRun(backbone, trainable_count(model), lr, val_acc, test_acc, history))
    return max(runs, key=lambda run: run.val_acc)


def run_setups(seed: int = NOTEBOOK_SEED, device: torch.device | str | None = None,
               progress: bool = True) -> dict[str, HeadRun]:
    """Every set-up of `SETUPS` on one seed, each at its own learning rate chosen on validation."""
    return {label: head_run(**setup, seed=seed, device=device, progress=progress) for label, setup in SETUPS.items()}
