"""Reference solutions for assignment a2_transfer_setup (instructor-only).

The single source of truth: `autograder/build_sources.py` copies each function into the solution region
of the source notebook. The multiple-choice keys are declared with their questions, in spec.py.
"""

from __future__ import annotations

import torch
from torch import nn


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Swap the final Linear for a new trainable one with `num_classes` outputs; return model."""
    # ResNets (and the course's TinyResNet) call the head `fc`; DenseNet has a Linear `classifier`;
    # MobileNet, EfficientNet and VGG end their `classifier` Sequential with it: replace only that.
    head = getattr(model, "fc", None)
    classifier = getattr(model, "classifier", None)
    if isinstance(head, nn.Linear):
        model.fc = nn.Linear(head.in_features, num_classes).to(head.weight.device)
    elif isinstance(classifier, nn.Linear):
        new = nn.Linear(classifier.in_features, num_classes)
        model.classifier = new.to(classifier.weight.device)
    elif isinstance(classifier, nn.Sequential) and isinstance(classifier[-1], nn.Linear):
        old = classifier[-1]
        classifier[-1] = nn.Linear(old.in_features, num_classes).to(old.weight.device)
    else:
        raise ValueError(f"cannot find the head of {type(model).__name__}: expected a Linear `fc`, "
                         "a Linear `classifier`, or a `classifier` Sequential ending in a Linear.")
    return model


def feature_extractor(model: nn.Module, num_classes: int) -> nn.Module:
    """Freeze the whole pretrained model, then give it a new trainable head; return the model."""
    # Freeze first: the new head is created afterwards, so it starts trainable.
    model.requires_grad_(False)
    return replace_head(model, num_classes)


def trainable_optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    """SGD (momentum 0.9) over the trainable parameters of `model` only."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.SGD(trainable, lr=lr, momentum=0.9)


def layerwise_param_groups(model: nn.Module, base_lr: float, decay: float = 2.6) -> list[dict]:
    """One param group per top-level child with trainable parameters.

    The last group gets `base_lr`, each earlier one `decay` times less.
    """
    groups = []
    seen: set[int] = set()  # a tensor shared by two children must be in one group only
    for child in model.children():
        params = [p for p in child.parameters() if p.requires_grad and id(p) not in seen]
        seen.update(id(p) for p in params)
        if params:
            groups.append({"params": params})
    for depth, group in enumerate(reversed(groups)):
        group["lr"] = base_lr / decay**depth
    return groups
