"""Cache a frozen backbone's features, so that training a new head costs a fraction of an epoch.

When every backbone parameter is frozen and its BatchNorm layers are in eval mode, the backbone is a
fixed function: running it again every epoch recomputes the same numbers. Compute them once instead.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import TinyResNet
from .device import resolve_device, synchronize


class Features(nn.Module):
    """A TinyResNet without its classifier: forward returns the pooled 64-d feature vector."""

    def __init__(self, model: TinyResNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features(x)


def frozen_backbone(model: nn.Module) -> nn.Module:
    """A frozen, eval-mode copy of `model` that outputs features (TinyResNet, or a ResNet with `fc`)."""
    backbone = copy.deepcopy(model)
    if isinstance(backbone, TinyResNet):
        backbone = Features(backbone)
    elif isinstance(getattr(backbone, "fc", None), nn.Linear):
        backbone.fc = nn.Identity()  # torchvision ResNets: the pooled vector goes straight out
    else:
        raise ValueError(f"{type(model).__name__} has no `fc` head: pass a TinyResNet or a ResNet.")
    return backbone.requires_grad_(False).eval()


@torch.no_grad()
def extract_features(backbone: nn.Module, x: torch.Tensor, batch_size: int = 256,
                     device: torch.device | str | None = None) -> torch.Tensor:
    """Run a frozen `backbone` over `x` once (eval mode, no graph); return the features on the CPU."""
    device = resolve_device(device)
    backbone = backbone.to(device).eval()
    chunks = [backbone(x[i:i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(chunks)


def head_epoch(head: nn.Module, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer,
               order: torch.Tensor, batch_size: int = 32, backbone: nn.Module | None = None) -> list[float]:
    """Train `head` for one epoch in the given example `order`; return the loss of every step.

    With `backbone`, each batch goes through the frozen backbone first (the recomputing way); without it,
    `x` must already hold the cached features.
    """
    device = next(head.parameters()).device
    losses = []
    for i in range(0, len(order), batch_size):
        idx = order[i:i + batch_size]
        inputs, targets = x[idx].to(device), y[idx].to(device)
        if backbone is not None:
            with torch.no_grad():
                inputs = backbone(inputs)
        loss = F.cross_entropy(head(inputs), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@dataclass
class CachingResult:
    """One head epoch recomputing the backbone vs one on cached features, measured in the same run."""

    recompute_s: float
    cached_s: float
    cache_s: float
    max_loss_diff: float
    max_logit_diff: float

    @property
    def ratio(self) -> float:
        """How many times faster the cached epoch was."""
        return self.recompute_s / self.cached_s


def compare_caching(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int,
                    batch_size: int = 32, seed: int = 0, lr: float = 1e-2,
                    device: torch.device | str | None = None) -> CachingResult:
    """Time one head epoch with the frozen backbone recomputed vs on cached features (same init, order)."""
    device = resolve_device(device)
    backbone = frozen_backbone(model).to(device)
    dim = extract_features(backbone, x[:2], device=device).shape[1]
    torch.manual_seed(seed)
    head_a = nn.Linear(dim, num_classes).to(device)
    head_b = copy.deepcopy(head_a)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    opt_a = torch.optim.SGD(head_a.parameters(), lr=lr, momentum=0.9)
    opt_b = torch.optim.SGD(head_b.parameters(), lr=lr, momentum=0.9)

    synchronize(device)
    start = time.perf_counter()
    losses_a = head_epoch(head_a, x, y, opt_a, order, batch_size, backbone=backbone)
    synchronize(device)
    recompute_s = time.perf_counter() - start

    start = time.perf_counter()
    cached = extract_features(backbone, x, device=device).to(device)
    synchronize(device)
    cache_s = time.perf_counter() - start

    start = time.perf_counter()
    losses_b = head_epoch(head_b, cached, y, opt_b, order, batch_size)
    synchronize(device)
    cached_s = time.perf_counter() - start

    with torch.no_grad():
        logit_diff = (head_a(cached) - head_b(cached)).abs().max().item()
    loss_diff = max(abs(a - b) for a, b in zip(losses_a, losses_b, strict=True))
    return CachingResult(recompute_s, cached_s, cache_s, loss_diff, logit_diff)
