"""Freezing helpers and the small, seeded training runs behind lessons 3 and 6.

The lessons show the freezing code inline; the runs whose numbers the prose quotes live here, so that the
notebooks and `tests/test_lesson_claims_d1.py` measure exactly the same thing on the same seeds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from .backbones import TinyResNet, load_pretrained
from .data import few_shot, loaders, source_task, target_task
from .device import pick_device, seed_everything
from .training import History, fit, loss_and_accuracy


def freeze_all_but(model: nn.Module, trainable: Iterable[str] = ("fc",)) -> nn.Module:
    """Freeze every parameter, then unfreeze the named submodules (e.g. "fc", "layer3"); returns the model."""
    model.requires_grad_(False)
    for name in trainable:
        model.get_submodule(name).requires_grad_(True)
    return model


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters an optimizer should receive: those with `requires_grad=True`."""
    return [p for p in model.parameters() if p.requires_grad]


def frozen_bn_to_eval(model: nn.Module, _epoch: int = 0) -> None:
    """Put every BatchNorm whose parameters are all frozen in eval mode (use as `fit(before_epoch=...)`)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not any(
                p.requires_grad for p in module.parameters()):
            module.eval()


# Learning rates `head_run` tries (lesson 3): a lone head trained for 15 steps wants large steps; a
# pretrained block trained with it wants smaller ones, or its features are wrecked.
HEAD_LRS = (1e-2, 3e-2, 1e-1)
BLOCK_LRS = (1e-3, 3e-3, 1e-2)


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
    device = torch.device(device) if device is not None else pick_device()
    runs = []
    for lr in lrs:
        seed_everything(seed)  # every lr starts from the same new head and sees the same batches
        task = few_shot(target_task(task_name), k, seed=seed)
        data = loaders(task, batch_size=64, seed=seed)
        model = load_pretrained(task.num_classes) if backbone == "pretrained" else TinyResNet(task.num_classes)
        freeze_all_but(model, train)
        optimizer = torch.optim.Adam(trainable_parameters(model), lr=lr)
        history = fit(model, data["train"], optimizer, epochs, device=device, before_epoch=frozen_bn_to_eval,
                      progress=progress, desc=f"{backbone} backbone, training {', '.join(train)}, lr {lr:g}")
        _, val_acc = loss_and_accuracy(model, data["val"], device)
        _, test_acc = loss_and_accuracy(model, data["test"], device)
        runs.append(HeadRun(backbone, sum(p.numel() for p in trainable_parameters(model)), lr, val_acc,
                            test_acc, history))
    return max(runs, key=lambda run: run.val_acc)


@torch.no_grad()
def source_accuracy(model: TinyResNet, source_head: nn.Module) -> float:
    """Accuracy on the source task (digits 0-4) of `model`'s backbone read out by the original head."""
    task = source_task()
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    logits = source_head.to(device)(model.features(task.x_val.to(device)))
    model.train(was_training)
    return float((logits.argmax(1).cpu() == task.y_val).float().mean())


def drift_run(freeze_backbone: bool, bn_eval: bool, task_name: str = "new_digits", k: int = 10,
              seed: int = 0, epochs: int = 15, lr: float = 0.05, device: torch.device | str | None = None,
              progress: bool = True) -> dict[str, float]:
    """Fine-tune the pretrained backbone on a target task and measure how much of the source task it keeps.

    `freeze_backbone`: train only a new head; `bn_eval`: keep frozen BatchNorm layers in eval mode.
    Returns source accuracy (original head) before and after, and target test accuracy.
    """
    device = torch.device(device) if device is not None else pick_device()
    seed_everything(seed)
    task = few_shot(target_task(task_name), k, seed=seed)
    data = loaders(task, batch_size=64, seed=seed)
    model = load_pretrained().to(device)
    source_head = model.fc  # keep the original digits-0-4 head to read the backbone out later
    model.fc = nn.Linear(model.fc.in_features, task.num_classes)
    before = source_accuracy(model, source_head)
    if freeze_backbone:
        freeze_all_but(model, ["fc"])
    optimizer = torch.optim.SGD(trainable_parameters(model), lr=lr, momentum=0.9)
    fit(model, data["train"], optimizer, epochs, device=device,
        before_epoch=frozen_bn_to_eval if bn_eval else None, progress=progress, desc="fine-tuning")
    _, target_acc = loss_and_accuracy(model, data["test"], device)
    return {"source_before": before, "source_after": source_accuracy(model, source_head),
            "target_acc": target_acc}
