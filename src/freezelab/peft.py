"""Beyond freezing: BitFit (train biases only) and LoRA adapters, in plain PyTorch.

Both are freezing, generalised: the pretrained weights stay frozen and a small set of parameters trains.
BitFit (Ben Zaken et al. 2022) unfreezes only the bias terms. LoRA (Hu et al. 2021) adds a low-rank update
``B @ A`` next to a frozen weight, with ``B`` zero-initialised so that training starts from the base model.
"""

from __future__ import annotations

import torch
from torch import nn
from tqdm.auto import tqdm

from .backbones import TinyResNet, load_pretrained
from .data import few_shot, target_task
from .device import seed_everything
from .transfer import LRS, PROBE_LRS, RunResult, run_model, train_model

METHODS = ("linear_probe", "bitfit", "lora", "layer3+head", "finetune")


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

    def delta_weight(self) -> torch.Tensor:
        """The change LoRA makes to the effective weight: (alpha / r) * B @ A, shape of `base.weight`."""
        return self.scale * self.lora_b.weight @ self.lora_a.weight


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

    def delta_weight(self) -> torch.Tensor:
        """The change to the effective kernel: (alpha / r) * sum over r of B[o, r] * A[r, i, :, :]."""
        b = self.lora_b.weight.flatten(1)  # (out, r): a 1x1 conv is a matrix
        return self.scale * torch.einsum("or,rikl->oikl", b, self.lora_a.weight)


def lora_weight_change(model: nn.Module) -> dict[str, float]:
    """For every LoRA layer: ||delta W|| / ||W||, how far the effective weight moved from the base."""
    return {name: (m.delta_weight().norm() / m.base.weight.norm()).item()
            for name, m in model.named_modules() if isinstance(m, LoRALinear | LoRAConv2d)}


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
    elif method == "layer3+head":
        model.requires_grad_(False)
        model.layer3.requires_grad_(True)
    model.fc.requires_grad_(True)
    return model


def method_lrs(method: str) -> tuple[float, ...]:
    """The learning rates a method is tuned on (a lone head or a few biases want larger steps)."""
    return PROBE_LRS if method in ("linear_probe", "bitfit") else LRS


def run_method(method: str, task_name: str = "new_digits", k: int = 5, seed: int = 0, epochs: int = 20,
               lr: float = 1e-2, device: torch.device | str | None = None,
               budgets: tuple[int, ...] = ()) -> list[RunResult]:
    """Train one method (new head) on a k-shot target task with one seed; one result per budget."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}.")
    return run_model(method, lambda n: build(method, n), task_name, k, seed, epochs, lr, device, budgets)


def compare_methods(methods=METHODS, task_name: str = "new_digits", k: int = 5, seeds=(0, 1, 2),
                    epochs: int = 20, budgets: tuple[int, ...] = (), device: torch.device | str | None = None,
                    progress: bool = True, lrs: tuple[float, ...] | None = None) -> list[RunResult]:
    """Every method at every learning rate of its grid (or `lrs`), on every seed (pick lrs with
    `transfer.summarise`)."""
    grid = [(m, lr, seed) for m in methods for lr in (lrs or method_lrs(m)) for seed in seeds]
    results: list[RunResult] = []
    for m, lr, seed in tqdm(grid, desc="PEFT runs", disable=not progress):
        results += run_method(m, task_name, k, seed, epochs, lr, device, budgets)
    return results


def train_method(method: str, task_name: str = "new_digits", k: int = 5, seed: int = 0, epochs: int = 20,
                 lr: float = 1e-2, device: torch.device | str | None = None) -> nn.Module:
    """Train one method on a k-shot task and return the trained model (to look inside it)."""
    task = few_shot(target_task(task_name), k, seed=seed)
    generator = seed_everything(seed)
    return train_model(build(method, task.num_classes), task, generator, seed, epochs, lr, device)
