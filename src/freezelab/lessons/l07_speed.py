"""Lesson 7: the batch every step is timed and counted on, and the frozen sets compared.

`notebooks/07_speed.py` and `tests/test_lesson07_claims.py` (and lesson 10's quoted numbers in
`tests/test_lesson10_claims.py`) measure the same batch with the same frozen sets.
"""

from __future__ import annotations

import torch

from ..data import target_task

BATCH_SIZE = 64
TASK = "new_digits"
COMPARED = ("none", "first 50%", "last 50%", "all but head")  # `freezelab.bench.frozen_sets` names (what is frozen)


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """The first `BATCH_SIZE` training images and labels of `TASK`, on the CPU."""
    task = target_task(TASK)
    return task.x_train[:BATCH_SIZE], task.y_train[:BATCH_SIZE]
