"""Beyond freezing: BitFit (train biases only) and LoRA adapters, in plain PyTorch.

Both are freezing, generalised: the pretrained weights stay frozen and a small set of parameters trains.
BitFit (Zaken et al. 2022) unfreezes only the bias terms. LoRA (Hu et al. 2021) adds a low-rank update
``B @ A`` next to a frozen weight, with ``B`` zero-initialised so that training starts from the base model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from .backbones import TinyResNet, load_pretrained
from .data import augment, few_shot, loaders, target_task
from .device import pick_device, seed_everything
from .strategies import frozen_bn_to_eval
from .training import fit, loss_and_accuracy

METHODS = ("linear_probe", "bitfit", "lora", "partial", "finetune")


class LoRALinear(nn.Module):
    """A frozen `nn.Linear` plus a trainable low-rank update: y = base(x) + (alpha / r) * B(A(x))."""

    def __init__(self, base: nn.Linear, r: int = 4, alpha: float = 8.0) -> None:
        super().__init__()
        self.base = base.requires_grad_(False)
        self.lora_a = nn.Linear(base.in_features, r, bias=False)
        self.lora_b = nn.Linear(r, base.out_features, bias=False)
        nn.init.zeros_(self.lora_b.weight)  # the update starts at zero: same outputs as the base layer
        self.scale = alpha / r

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scale * self.lora_b(self.lora_a(x))


class LoRAConv2d(nn.Module):
    """A frozen `nn.Conv2d` plus a low-rank update: a k x k conv down to r channels, then a 1x1 conv up."""

    def __init__(self, base: nn.Conv2d, r: int = 4, alpha: float = 8.0) -> None:
        super().__init__()
        self.base = base.requires_grad_(False)
        self.lora_a = nn.Conv2d(base.in_channels, r, base.kernel_size, stride=base.stride,
                                padding=base.padding, dilation=base.dilation, bias=False)
        self.lora_b = nn.Conv2d(r, base.out_channels, 1, bias=False)
        nn.init.zeros_(self.lora_b.weight)
        self.scale = alpha / r

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scale * self.lora_b(self.lora_a(x))


def add_lora(model: nn.Module, r: int = 4, alpha: float = 8.0, skip: tuple[str, ...] = ("fc",)) -> nn.Module:
    """Freeze `model` and wrap every Conv2d / Linear (except those named in `skip`) in a LoRA adapter."""
    model.requires_grad_(False)
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if full in skip:
                continue
            if isinstance(child, nn.Conv2d) and child.groups == 1:
                setattr(module, child_name, LoRAConv2d(child, r, alpha))
            elif isinstance(child, nn.Linear):
                setattr(module, child_name, LoRALinear(child, r, alpha))
    return model


def bitfit(model: nn.Module) -> nn.Module:
    """Freeze everything except the bias terms (in TinyResNet: BatchNorm shifts and the head's bias)."""
    for name, param in model.named_parameters():
        param.requires_grad_(name.endswith("bias"))
    return model


def trainable_count(model: nn.Module) -> int:
    """Number of trainable parameter elements."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def build(method: str, num_classes: int = 5, r: int = 4, keep_head: bool = False) -> TinyResNet:
    """The pretrained TinyResNet prepared for `method`; the head is always trained."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}.")
    model = load_pretrained()
    if not keep_head:
        model.fc = nn.Linear(model.fc.in_features, num_classes)
    if method == "lora":
        add_lora(model, r=r)
    elif method == "bitfit":
        bitfit(model)
    elif method == "linear_probe":
        model.requires_grad_(False)
    elif method == "partial":
        model.requires_grad_(False)
        model.layer3.requires_grad_(True)
    model.fc.requires_grad_(True)
    return model


@dataclass
class PeftResult:
    """One run of a parameter-efficient method on a few-shot task."""

    method: str
    task: str
    k: int
    seed: int
    test_acc: float
    trainable: int
    seconds: float


def run_method(method: str, task_name: str = "inverted", k: int = 5, seed: int = 0, epochs: int = 20,
               lr: float = 1e-2, device: torch.device | str | None = None) -> PeftResult:
    """Train one method on a k-shot target task with one seed; return its test accuracy."""
    device = torch.device(device) if device is not None else pick_device()
    started = time.perf_counter()
    generator = seed_everything(seed)
    task = few_shot(target_task(task_name), k, seed=seed)
    data = loaders(task, batch_size=64, seed=seed)
    # Same classes as the source on input-level shifts: the pretrained head is a fair start there.
    model = build(method, task.num_classes, keep_head=task_name != "new_digits").to(device)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)

    def shifted(x: torch.Tensor) -> torch.Tensor:
        return augment(x.cpu(), generator).to(x.device)

    fit(model, data["train"], optimizer, epochs, device=device, before_epoch=frozen_bn_to_eval,
        augment=shifted, progress=False)
    _, test_acc = loss_and_accuracy(model, data["test"], device)
    return PeftResult(method, task_name, k, seed, test_acc, trainable_count(model),
                      time.perf_counter() - started)
