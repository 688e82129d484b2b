"""Backbones: the course's small pretrained CNN and real torchvision architectures.

`TinyResNet` uses the same attribute names as torchvision's ResNets (`conv1`, `bn1`, `layer1`..., `fc`),
so the freezing code a learner writes for it works unchanged on `resnet18` or `resnet50`.
"""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .paths import checkpoint_path

STAGES = ("conv1", "bn1", "layer1", "layer2", "layer3", "fc")


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm and a residual connection (as in ResNet-18)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.downsample(x))


class TinyResNet(nn.Module):
    """A ~77k-parameter ResNet for 1x16x16 images: conv1/bn1 stem, layer1-3, avgpool, dropout, fc."""

    def __init__(self, num_classes: int = 5, in_channels: int = 1, widths: tuple[int, int, int] = (16, 32, 64),
                 dropout: float = 0.1) -> None:
        super().__init__()
        w1, w2, w3 = widths
        self.conv1 = nn.Conv2d(in_channels, w1, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(w1)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = BasicBlock(w1, w1)
        self.layer2 = BasicBlock(w1, w2, stride=2)
        self.layer3 = BasicBlock(w2, w3, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(w3, num_classes)
        self.config = {"num_classes": num_classes, "in_channels": in_channels, "widths": list(widths),
                       "dropout": dropout}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled feature vector the head sees, shape (N, widths[-1])."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(x)))


# ---------------------------------------------------------------------------------------------------------
# The shipped checkpoint
# ---------------------------------------------------------------------------------------------------------

class CheckpointError(RuntimeError):
    """The pretrained checkpoint is missing, unreadable or does not match the architecture."""


def default_checkpoint_path() -> Path:
    """Where the course checkpoint lives: $FREEZELAB_CHECKPOINT, else course_content/ in the repo or bundle."""
    return checkpoint_path()


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_checkpoint(model: TinyResNet, path: Path, meta: dict[str, Any]) -> str:
    """Write the model and its metadata, plus a `.sha256` sidecar; return the hash."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    torch.save({"format": "freezelab-checkpoint-v1", "config": model.config, "meta": meta,
                "state_dict": state}, path)
    digest = file_sha256(path)
    path.with_suffix(".sha256").write_text(f"{digest}  {path.name}\n")
    return digest


def load_checkpoint(path: Path | None = None) -> dict[str, Any]:
    """Read and verify the checkpoint file; raise `CheckpointError` saying what is wrong and how to fix it."""
    path = Path(path) if path is not None else default_checkpoint_path()
    fix = "rebuild it with `python -m freezelab.pretrain` (about a minute on a CPU)"
    if not path.exists():
        raise CheckpointError(f"pretrained checkpoint not found at {path}: {fix}.")
    sidecar = path.with_suffix(".sha256")
    if sidecar.exists():
        expected = sidecar.read_text().split()[0]
        if file_sha256(path) != expected:
            raise CheckpointError(f"checkpoint {path} is corrupt (SHA-256 does not match {sidecar.name}): {fix}.")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same thing to the learner
        raise CheckpointError(f"checkpoint {path} is unreadable ({type(exc).__name__}): {fix}.") from exc
    if not isinstance(blob, dict) or blob.get("format") != "freezelab-checkpoint-v1":
        raise CheckpointError(f"{path} is not a freezelab checkpoint: {fix}.")
    return blob


def load_pretrained(num_classes: int | None = None, path: Path | None = None) -> TinyResNet:
    """The course backbone with its pretrained weights (source task: digits 0-4).

    With `num_classes` different from the source's 5, the `fc` head is freshly initialised for the new task.
    """
    blob = load_checkpoint(path)
    config = dict(blob["config"])
    model = TinyResNet(num_classes=config["num_classes"], in_channels=config["in_channels"],
                       widths=tuple(config["widths"]), dropout=config["dropout"])
    missing, unexpected = model.load_state_dict(blob["state_dict"], strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint does not fit TinyResNet (missing {missing[:3]}, unexpected {unexpected[:3]}): "
            "rebuild it with `python -m freezelab.pretrain`.")
    if num_classes is not None and num_classes != config["num_classes"]:
        model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


def checkpoint_info(path: Path | None = None) -> dict[str, Any]:
    """The metadata stored with the checkpoint (source task, accuracy, seed, versions)."""
    return dict(load_checkpoint(path)["meta"])


# ---------------------------------------------------------------------------------------------------------
# torchvision architectures
# ---------------------------------------------------------------------------------------------------------

TORCHVISION_MODELS = ("resnet18", "resnet34", "resnet50", "mobilenet_v2", "mobilenet_v3_small",
                      "efficientnet_b0", "vgg11", "vgg16", "densenet121", "convnext_tiny", "vit_b_16")


class OfflineError(RuntimeError):
    """Real pretrained weights were asked for but cannot be downloaded."""


def torchvision_model(name: str, num_classes: int = 1000, pretrained: bool = False,
                      timeout: float = 10.0) -> nn.Module:
    """Build a torchvision architecture; `weights=None` (random, offline) unless `pretrained=True`.

    With `pretrained=True` the ImageNet weights are used from torch's cache, or downloaded; offline, this
    raises `OfflineError` within `timeout` seconds instead of hanging.
    """
    import torchvision

    if name not in torchvision.models.list_models(module=torchvision.models):
        raise ValueError(f"unknown torchvision model {name!r}: try one of {', '.join(TORCHVISION_MODELS)}.")
    if not pretrained:
        return torchvision.models.get_model(name, weights=None, num_classes=num_classes)
    if num_classes != 1000:
        raise ValueError("pretrained=True gives the 1000-class ImageNet model: build it, then replace its head.")
    weights = torchvision.models.get_model_weights(name).DEFAULT
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        model = torchvision.models.get_model(name, weights=weights)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError
        raise OfflineError(
            f"could not fetch the {weights} weights for {name} ({type(exc).__name__}: {exc}). You look offline: "
            f"use pretrained=False (random weights, same shapes), or copy the file into "
            f"{Path(torch.hub.get_dir()) / 'checkpoints'}.") from exc
    finally:
        socket.setdefaulttimeout(old_timeout)
    return model
