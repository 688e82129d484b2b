"""Lesson 9: the plans compared (BitFit and LoRA next to freezing), their recorded sweep, and the run
whose weights the lesson looks inside.

`notebooks/09_peft.py` and `tests/test_lesson09_claims.py` use these.
"""

from __future__ import annotations

import torch
from torch import nn

from ..data import few_shot, target_task
from ..recipes import train_recipe

COMPARED_PLANS = ("linear_probe", "bitfit", "lora", "layer3+head", "finetune")  # `freezelab.plans.PLANS` names
SWEEP = "peft"  # `freezelab.sweeps.SWEEPS`: bitfit and lora, the other three shared with "new_digits"
TASK = "new_digits"
K = 5
SEED = 0
EPOCHS = 20


def train_for_inspection(name: str, lr: float, device: torch.device | str | None = None) -> nn.Module:
    """Train plan `name` once (seed `SEED`, `EPOCHS` epochs, k-shot `TASK`) and return the model."""
    return train_recipe(name, few_shot(target_task(TASK), K, seed=SEED), SEED, EPOCHS, lr, device)
