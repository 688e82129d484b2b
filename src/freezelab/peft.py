"""Beyond freezing: BitFit (train biases only) and LoRA adapters, in plain PyTorch.

Both are freezing, generalised: the pretrained weights stay frozen and a small set of parameters trains.
BitFit (Ben Zaken et al. 2022) unfreezes only the bias terms (`freezelab.plans.bitfit`). LoRA (Hu et al. 2021) adds a low-rank update
``B @ A`` next to a frozen weight, with ``B`` zero-initialised so that training starts from the base model.
Plans "bitfit" and "lora" in `freezelab.plans.PLANS` build them; `freezelab.recipes` trains and compares them.
"""

from __future__ import annotations

import torch
from torch import nn


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
