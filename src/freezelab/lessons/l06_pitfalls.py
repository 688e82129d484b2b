"""Lesson 6, sections 1 and 6: how much of the source task a fine-tuned backbone keeps.

`notebooks/06_pitfalls.py` runs every set-up in `DRIFT_SETUPS` on `TASK` with `NOTEBOOK_SEED`;
`tests/test_lesson06_claims.py` re-runs them on `CLAIM_SEEDS`.
"""

from __future__ import annotations

import torch
from torch import nn

from ..backbones import load_pretrained
from ..data import few_shot, loaders, target_task
from ..device import resolve_device, seed_everything
from ..evaluation import source_accuracy
from ..plans import eval_frozen_batchnorm, train_only, trainable_parameters
from ..training import fit, loss_and_accuracy

TASK = "inverted"
# label -> drift_run arguments: train only a new head? keep frozen BatchNorm layers in eval mode?
DRIFT_SETUPS = {
    "frozen, BN in eval mode": {"freeze_backbone": True, "bn_eval": True},
    "frozen, BN in train mode": {"freeze_backbone": True, "bn_eval": False},
    "not frozen (lr 0.05)": {"freeze_backbone": False, "bn_eval": False},
}
NOTEBOOK_SEED = 0
CLAIM_SEEDS = (0, 1)


def drift_run(freeze_backbone: bool, bn_eval: bool, task_name: str = "new_digits", k: int = 10,
              seed: int = 0, epochs: int = 15, lr: float = 0.05, device: torch.device | str | None = None,
              progress: bool = True) -> dict[str, float]:
    """Fine-tune the pretrained backbone on a target task and measure how much of the source task it keeps.

    `freeze_backbone`: train only a new head; `bn_eval`: keep frozen BatchNorm layers in eval mode.
    Returns source accuracy (original head) before and after, and target test accuracy.
    """
    device = resolve_device(device)
    seed_everything(seed)
    task = few_shot(target_task(task_name), k, seed=seed)
    data = loaders(task, batch_size=64, seed=seed)
    model = load_pretrained().to(device)
    source_head = model.fc  # keep the original digits-0-4 head to read the backbone out later
    model.fc = nn.Linear(model.fc.in_features, task.num_classes)
    before = source_accuracy(model, source_head)
    if freeze_backbone:
        train_only(model, ["fc"])
    optimizer = torch.optim.SGD(trainable_parameters(model), lr=lr, momentum=0.9)
    fit(model, data["train"], optimizer, epochs, device=device,
        before_epoch=eval_frozen_batchnorm if bn_eval else None, progress=progress, desc="fine-tuning")
    _, target_acc = loss_and_accuracy(model, data["test"], device)
    return {"source_before": before, "source_after": source_accuracy(model, source_head),
            "target_acc": target_acc}


def run_setups(seed: int = NOTEBOOK_SEED, device: torch.device | str | None = None,
               progress: bool = True) -> dict[str, dict[str, float]]:
    """Every set-up of `DRIFT_SETUPS` on `TASK` with one seed."""
    return {label: drift_run(**setup, task_name=TASK, seed=seed, device=device, progress=progress)
            for label, setup in DRIFT_SETUPS.items()}
