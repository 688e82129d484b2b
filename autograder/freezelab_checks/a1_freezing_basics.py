"""Hidden checks for assignment a1_freezing_basics: freeze, unfreeze, count, freeze by name, MCQ."""

from __future__ import annotations

import random
from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from ._common import (
    CheckFailed,
    build,
    call,
    describe,
    expect,
    for_all,
    hidden_check,
    multiple_choice_checks,
    net_specs,
    sgd_step,
    short,
    unique_params,
)


def _trainable_names(model: nn.Module) -> set[str]:
    return {name for name, p in model.named_parameters() if p.requires_grad}


def _frozen_names(model: nn.Module) -> set[str]:
    return {name for name, p in model.named_parameters() if not p.requires_grad}


# ---------------------------------------------------------------------------------------------------------
# freeze_module / unfreeze_module
# ---------------------------------------------------------------------------------------------------------

@hidden_check("freeze_module", points=2)
def check_freeze_module(freeze_module: Any) -> None:
    """Every parameter frozen, the module returned, forward output and train/eval mode unchanged."""

    def body(spec) -> None:
        model = build(spec).train()
        x = torch.randn(4, spec.width)
        model.eval()
        with torch.no_grad():
            before = model(x)
        model.train()
        result = call(freeze_module, "freeze_module", model)
        expect(result is model, "freeze_module should return the module it was given (the same object).")
        left = _trainable_names(model)
        expect(not left, f"after freeze_module(model), {len(left)} parameter tensor(s) still have "
                         f"requires_grad=True ({short(left)}). Model: {describe(model)}")
        expect(all(m.training for m in model.modules()),
               "freeze_module changed the module's train/eval mode: freezing is about requires_grad only. "
               "(model.eval() switches off dropout and BatchNorm updates; it does not freeze.)")
        moved = sgd_step(model, x) if any(p.requires_grad for p in model.parameters()) else set()
        expect(not moved, f"an optimizer step still changed {short(moved)} after freezing.")
        model.eval()
        with torch.no_grad():
            after = model(x)
        expect(torch.equal(before, after), "freezing must not change what the model computes, but the "
                                           "forward output changed.")

    for_all(net_specs(), body)


def _encoder_head() -> nn.Sequential:
    encoder = nn.Sequential(OrderedDict(
        embed=nn.Linear(6, 8), norm=nn.BatchNorm1d(8), act=nn.ReLU(),
        deep=nn.Sequential(OrderedDict(proj=nn.Linear(8, 8), act=nn.ReLU()))))
    return nn.Sequential(OrderedDict(encoder=encoder, head=nn.Linear(8, 3)))


@hidden_check("freeze_module")
def check_freeze_module_submodule(freeze_module: Any) -> None:
    """Freezing a submodule freezes all of it (nested layers included) and nothing else."""
    model = _encoder_head().train()
    call(freeze_module, "freeze_module", model.encoder)
    left = {f"encoder.{n}" for n in _trainable_names(model.encoder)}
    expect(not left, f"freeze_module(model.encoder) left {short(left)} trainable: nested layers "
                     "belong to the module too.")
    head = {f"head.{n}" for n, p in model.head.named_parameters() if not p.requires_grad}
    expect(not head, f"freeze_module(model.encoder) also froze {short(head)}, outside the encoder.")
    moved = sgd_step(model, torch.randn(5, 6))
    expect(moved == {"head.weight", "head.bias"},
           f"after freezing the encoder, a training step should move only the head, but it moved "
           f"{short(moved) or 'nothing'}.")


def _own_parameters_model() -> nn.MultiheadAttention:
    """A module with parameters of its own (in_proj_weight, in_proj_bias) next to a child (out_proj)."""
    torch.manual_seed(3)
    return nn.MultiheadAttention(8, 2)


def _own_parameters_hint(names: set[str]) -> str:
    return (" A module's own direct parameters count too, not only its children's: module.parameters() yields "
            "both." if any("." not in n for n in names) else "")


@hidden_check("freeze_module")
def check_freeze_module_own_parameters(freeze_module: Any) -> None:
    """A module's own direct parameters are frozen too (not only those of its children), and a bare layer."""
    for model, label in ((_own_parameters_model(), "nn.MultiheadAttention(8, 2)"), (nn.Linear(4, 3), "nn.Linear(4, 3)")):
        call(freeze_module, "freeze_module", model)
        left = _trainable_names(model)
        expect(not left, f"freeze_module({label}) left {short(left)} trainable.{_own_parameters_hint(left)}")


@hidden_check("unfreeze_module", points=2)
def check_unfreeze_module(unfreeze_module: Any) -> None:
    """Every parameter trainable again and receiving gradients; the module returned."""

    def body(spec) -> None:
        model = build(spec)
        for p in model.parameters():
            p.requires_grad_(False)
        result = call(unfreeze_module, "unfreeze_module", model)
        expect(result is model, "unfreeze_module should return the module it was given (the same object).")
        frozen = _frozen_names(model)
        expect(not frozen, f"after unfreeze_module(model), {short(frozen)} still have requires_grad=False. "
                           f"Model: {describe(model)}")
        model.eval()
        model(torch.randn(3, spec.width)).sum().backward()
        no_grad = {n for n, p in model.named_parameters() if p.grad is None}
        expect(not no_grad, f"after unfreezing, backward() gave no gradient to {short(no_grad)}.")

    for_all(net_specs(), body)
    model = _own_parameters_model().requires_grad_(False)
    call(unfreeze_module, "unfreeze_module", model)
    frozen = _frozen_names(model)
    expect(not frozen, f"unfreeze_module(nn.MultiheadAttention(8, 2)) left {short(frozen)} frozen."
                       f"{_own_parameters_hint(frozen)}")


# ---------------------------------------------------------------------------------------------------------
# count_parameters
# ---------------------------------------------------------------------------------------------------------

def _hint(got: Any, model: nn.Module, trainable_only: bool) -> str:
    params = [p for p in unique_params(model) if p.requires_grad or not trainable_only]
    total = sum(p.numel() for p in unique_params(model))
    per_layer = sum(p.numel() for _, m in model.named_modules(remove_duplicate=False)
                    for p in m.parameters(recurse=False) if p.requires_grad or not trainable_only)
    if got == len(params):
        return " It looks like you counted parameter tensors, not their elements (numel)."
    if trainable_only and got == total:
        return " It looks like frozen parameters were counted too."
    if got == per_layer:
        return " It looks like a weight shared by two layers was counted twice."
    if got == sum(t.numel() for t in model.state_dict().values()):
        return " It looks like you counted the state_dict, which also holds buffers (BatchNorm statistics)."
    return ""


def _expect_count(got: Any, expected: int, model: nn.Module, trainable_only: bool) -> None:
    what = "trainable parameter elements" if trainable_only else "parameter elements"
    expect(isinstance(got, int) and not isinstance(got, bool),
           f"count_parameters should return a Python int, got {type(got).__name__} ({got!r}).")
    expect(got == expected, f"count_parameters returned {got}, but the model has {expected} {what}."
                            f"{_hint(got, model, trainable_only)} Model: {describe(model)}")


@hidden_check("count_parameters", points=2)
def check_count_parameters(count_parameters: Any) -> None:
    """Total element count on random architectures (BatchNorm buffers and frozen layers included)."""

    def body(spec) -> None:
        model = build(spec)
        rng = random.Random(spec.seed)
        for p in model.parameters():
            p.requires_grad_(rng.random() < 0.6)
        expected = sum(p.numel() for p in unique_params(model))
        _expect_count(call(count_parameters, "count_parameters", model), expected, model, False)

    for_all(net_specs(), body)


@hidden_check("count_parameters", points=2)
def check_count_parameters_trainable(count_parameters: Any) -> None:
    """trainable_only=True counts only the elements of parameters with requires_grad=True."""

    def body(spec) -> None:
        model = build(spec)
        rng = random.Random(spec.seed + 1)
        for p in model.parameters():
            p.requires_grad_(rng.random() < 0.5)
        expected = sum(p.numel() for p in unique_params(model) if p.requires_grad)
        got = call(count_parameters, "count_parameters", model, trainable_only=True)
        _expect_count(got, expected, model, True)

    for_all(net_specs(), body)


@hidden_check("count_parameters")
def check_count_parameters_shared(count_parameters: Any) -> None:
    """A weight shared by two layers is counted once."""
    encoder, decoder = nn.Linear(7, 7), nn.Linear(7, 7)
    decoder.weight = encoder.weight
    model = nn.Sequential(OrderedDict(encoder=encoder, act=nn.Tanh(), decoder=decoder))
    expected = 49 + 7 + 7
    got = call(count_parameters, "count_parameters", model)
    expect(got == expected, f"count_parameters returned {got} for two Linear(7, 7) layers that share one "
                            f"weight matrix; a shared tensor is one set of numbers, so count it once "
                            f"(expected {expected}).")
    attention = _own_parameters_model()
    expected = sum(p.numel() for p in attention.parameters())
    got = call(count_parameters, "count_parameters", attention)
    expect(got == expected, f"count_parameters(nn.MultiheadAttention(8, 2)) returned {got}; it has {expected} "
                            "parameter elements.{}".format(_own_parameters_hint({"in_proj_weight"})))


# ---------------------------------------------------------------------------------------------------------
# freeze_by_name
# ---------------------------------------------------------------------------------------------------------

@hidden_check("freeze_by_name", points=2)
def check_freeze_by_name(freeze_by_name: Any) -> None:
    """Exactly the named submodules and parameters are frozen, on random architectures."""

    def body(spec) -> None:
        model = build(spec)
        rng = random.Random(spec.seed)
        candidates = [n for n, _ in model.named_modules() if n] + [n for n, _ in model.named_parameters()]
        names = rng.sample(candidates, k=rng.randint(1, min(3, len(candidates))))
        modules, params = dict(model.named_modules()), dict(model.named_parameters())
        to_freeze = {id(p) for n in names for p in (modules[n].parameters() if n in modules else [params[n]])}
        result = call(freeze_by_name, "freeze_by_name", model, list(names))
        expect(result is model, "freeze_by_name should return the model it was given.")
        wrong_frozen = {n for n, p in model.named_parameters() if not p.requires_grad and id(p) not in to_freeze}
        wrong_trainable = {n for n, p in model.named_parameters() if p.requires_grad and id(p) in to_freeze}
        expect(not wrong_trainable, f"freeze_by_name(model, {names}) left {short(wrong_trainable)} trainable. "
                                    f"Model: {describe(model)}")
        expect(not wrong_frozen, f"freeze_by_name(model, {names}) also froze {short(wrong_frozen)}, which "
                                 f"were not named. Model: {describe(model)}")

    for_all(net_specs(), body)


def _layers_model() -> nn.Sequential:
    return nn.Sequential(OrderedDict((f"layer{i}", nn.Linear(3, 3)) for i in (1, 2, 10, 11)))


@hidden_check("freeze_by_name")
def check_freeze_by_name_exact(freeze_by_name: Any) -> None:
    """Names match whole dotted components: 'layer1' is not 'layer10', 'layer2.bias' is one tensor."""
    model = _layers_model()
    call(freeze_by_name, "freeze_by_name", model, ["layer1", "layer2.bias"])
    frozen = _frozen_names(model)
    expected = {"layer1.weight", "layer1.bias", "layer2.bias"}
    expect(frozen == expected, f"with layers named layer1, layer2, layer10 and layer11, "
                               f"freeze_by_name(model, ['layer1', 'layer2.bias']) froze "
                               f"{short(frozen, 8) or 'nothing'}; expected {short(expected)}. Compare whole "
                               "names, not prefixes of strings.")


@hidden_check("freeze_by_name")
def check_freeze_by_name_unknown(freeze_by_name: Any) -> None:
    """An unknown name raises ValueError naming it, before anything is frozen."""
    model = _layers_model()
    try:
        freeze_by_name(model, ["layer1", "layr2"])
    except NotImplementedError:
        raise CheckFailed("freeze_by_name is not implemented yet.") from None
    except ValueError as exc:
        expect("layr2" in str(exc), f"the ValueError should name the unknown name 'layr2'; its message was "
                                    f"{str(exc)!r}.")
    except Exception as exc:  # noqa: BLE001
        raise CheckFailed(f"for an unknown name, freeze_by_name should raise ValueError, but it raised "
                          f"{type(exc).__name__}: {exc}") from None
    else:
        raise CheckFailed("freeze_by_name(model, ['layer1', 'layr2']) raised nothing: a typo in a name must "
                          "not be silently ignored (raise ValueError naming it).")
    frozen = _frozen_names(model)
    expect(not frozen, f"freeze_by_name raised for the unknown name but had already frozen {short(frozen)}: "
                       "check every name before freezing anything.")


# ---------------------------------------------------------------------------------------------------------
# Multiple choice (questions, keys and hints: assignments/a1_freezing_basics/spec.py)
# ---------------------------------------------------------------------------------------------------------

check_answer_q1, check_answer_q2, check_answer_q3 = multiple_choice_checks(__name__, "a1_freezing_basics")
