"""Reference solutions for assignment a3_finetuning_workflow (instructor-only).

The single source of truth: `autograder/build_sources.py` copies each function into the solution region
of the source notebook. The multiple-choice keys are declared with their questions, in spec.py.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader


def set_frozen_bn_eval(model: nn.Module) -> nn.Module:
    """Put every BatchNorm layer whose parameters are all frozen in eval mode; return the model."""
    # In train mode BatchNorm updates its running statistics on every batch, even with frozen weight
    # and bias; eval mode makes it use (and keep) the pretrained ones. Dropout is left alone.
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            if not any(p.requires_grad for p in module.parameters()):
                module.eval()
    return model


def unfreeze_and_add(model: nn.Module, optimizer: torch.optim.Optimizer, name: str,
                     lr: float) -> None:
    """Unfreeze submodule `name`; add its parameters to `optimizer` as a new group at `lr`."""
    module = model.get_submodule(name)
    module.requires_grad_(True)
    # An optimizer built earlier never sees parameters it was not given; add only the ones it lacks.
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    new = [p for p in module.parameters() if id(p) not in held]
    if new:
        optimizer.add_param_group({"params": new, "lr": lr})


def gradual_unfreezer(optimizer: torch.optim.Optimizer, schedule: dict[int, str], lr: float
                      ) -> Callable[[nn.Module, int], None]:
    """A `before_epoch(model, epoch)` hook: unfreeze `schedule[epoch]`, keep frozen BN in eval."""

    def before_epoch(model: nn.Module, epoch: int) -> None:
        if epoch in schedule:
            unfreeze_and_add(model, optimizer, schedule[epoch], lr)
        # Called right after model.train(), which put every BatchNorm back in train mode.
        set_frozen_bn_eval(model)

    return before_epoch


def two_phase_finetune(model: nn.Module, train_loader: DataLoader, head_epochs: int = 3,
                       finetune_epochs: int = 3, head_lr: float = 0.05,
                       finetune_lr: float = 0.01) -> nn.Module:
    """Train only `fc`, then also `layer3` at a smaller rate; the rest stays exactly as it was."""
    model.requires_grad_(False)
    model.fc.requires_grad_(True)
    optimizer = torch.optim.SGD(model.fc.parameters(), lr=head_lr, momentum=0.9)
    before_epoch = gradual_unfreezer(optimizer, {head_epochs: "layer3"}, finetune_lr)
    for epoch in range(head_epochs + finetune_epochs):
        model.train()
        before_epoch(model, epoch)
        for x, y in train_loader:
            optimizer.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
    return model.eval()
