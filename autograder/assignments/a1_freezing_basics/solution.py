"""Reference solutions for assignment a1_freezing_basics (instructor-only).

The single source of truth: `autograder/build_sources.py` copies each function into the solution region
of the source notebook. The multiple-choice keys are declared with their questions, in spec.py.
"""

from __future__ import annotations

from torch import nn


def freeze_module(module: nn.Module) -> nn.Module:
    """Freeze every parameter of `module` (in place) and return the module."""
    # requires_grad lives on each Parameter; on the Module it would only be a plain attribute.
    for param in module.parameters():
        param.requires_grad_(False)
    return module


def unfreeze_module(module: nn.Module) -> nn.Module:
    """Make every parameter of `module` trainable again (in place) and return the module."""
    for param in module.parameters():
        param.requires_grad_(True)
    return module


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements (shared tensors once); only trainable ones if asked."""
    # parameters() yields a tensor once even when two layers share it; numel() counts elements.
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def freeze_by_name(model: nn.Module, names: list[str]) -> nn.Module:
    """Freeze the submodules or parameters named by dotted `names`; ValueError for unknown ones."""
    modules = dict(model.named_modules(remove_duplicate=False))
    params = dict(model.named_parameters(remove_duplicate=False))
    # Check every name before touching anything, so a typo leaves the model as it was.
    unknown = [name for name in names if name not in modules and name not in params]
    if unknown:
        raise ValueError(f"unknown name(s) {unknown}: use names from model.named_modules() "
                         "or model.named_parameters().")
    for name in names:
        if name in params:
            params[name].requires_grad_(False)
        else:
            for param in modules[name].parameters():
                param.requires_grad_(False)
    return model
