"""The course's freezing API and its one registry of named plans.

A *plan* says what trains; everything else is frozen (`requires_grad=False`). Plan names say what trains
too: `linear_probe` (a new head only), `layer3+head`, `finetune` (everything). Every lesson that freezes
by name uses `train_only`; every comparison that names a set-up builds it with `build_model`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from torch import nn

from .backbones import TinyResNet, load_pretrained

# The course backbone's stages from the input to the head (`fc` is the head).
BACKBONE_STAGES = ("conv1", "bn1", "layer1", "layer2", "layer3")


def train_only(model: nn.Module, names: Iterable[str] = ("fc",)) -> nn.Module:
    """Freeze every parameter, then unfreeze the named submodules (e.g. "fc", "layer3"); returns the model."""
    model.requires_grad_(False)
    for name in names:
        model.get_submodule(name).requires_grad_(True)
    return model


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters an optimizer should receive: those with `requires_grad=True`."""
    return [p for p in model.parameters() if p.requires_grad]


def trainable_count(model: nn.Module) -> int:
    """Number of trainable parameter elements."""
    return sum(p.numel() for p in trainable_parameters(model))


def bitfit(model: nn.Module) -> nn.Module:
    """BitFit: freeze everything except the bias terms (in TinyResNet: BatchNorm shifts and the head's bias)."""
    for name, param in model.named_parameters():
        param.requires_grad_(name.endswith("bias"))
    return model


def eval_frozen_batchnorm(model: nn.Module, _epoch: int = 0) -> None:
    """Put every BatchNorm whose parameters are all frozen in eval mode (use as `fit(before_epoch=...)`)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not any(
                p.requires_grad for p in module.parameters()):
            module.eval()


@dataclass(frozen=True)
class Plan:
    """What trains: the named stages (the head always trains), or a rule for BitFit and LoRA."""

    trains: tuple[str, ...]
    description: str
    pretrained: bool = True
    rule: str = "stages"  # "stages": train the named stages; "biases": BitFit; "lora": LoRA adapters


PLANS: dict[str, Plan] = {
    "scratch": Plan(BACKBONE_STAGES, "random initialisation, train everything", pretrained=False),
    "linear_probe": Plan((), "pretrained, freeze the backbone, train only a new head"),
    "bitfit": Plan((), "pretrained, train only the biases (BatchNorm shifts) and a new head", rule="biases"),
    "lora": Plan((), "pretrained, frozen, low-rank adapters on every conv and a new head", rule="lora"),
    "stem+layer1+head": Plan(("conv1", "bn1", "layer1"),
                             "pretrained, train conv1, bn1, layer1 and a new head (the first block)"),
    "layer3+head": Plan(("layer3",), "pretrained, train layer3 and a new head (the last block)"),
    "finetune": Plan(BACKBONE_STAGES, "pretrained, train everything with a new head"),
}


def plan(name: str) -> Plan:
    """The plan called `name`, or a ValueError listing the plans."""
    if name not in PLANS:
        raise ValueError(f"unknown plan {name!r}: choose one of {', '.join(PLANS)}.")
    return PLANS[name]


def build_model(name: str, num_classes: int = 5, r: int = 4, keep_head: bool = False) -> TinyResNet:
    """The model plan `name` starts from (a new head unless `keep_head`), with `requires_grad` set by the plan.

    `r` is the LoRA rank (plan "lora" only).
    """
    chosen = plan(name)
    if not chosen.pretrained:
        return TinyResNet(num_classes=num_classes)
    model = load_pretrained()
    if not keep_head:
        model.fc = nn.Linear(model.fc.in_features, num_classes)
    if chosen.rule == "lora":
        from .peft import add_lora

        add_lora(model, r=r)
    elif chosen.rule == "biases":
        bitfit(model)
    else:
        train_only(model, chosen.trains)
    model.fc.requires_grad_(True)
    return model
