"""Hidden checks for assignment a2_transfer_setup: heads, feature extractors, optimizers, param groups."""

from __future__ import annotations

import copy
import random
from collections import OrderedDict
from collections.abc import Callable
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
    names_of,
    net_specs,
    short,
    snapshot,
    unique_params,
)


def MiniVGG() -> nn.Sequential:  # noqa: N802 - named like the model family it stands for
    """A small stand-in with VGG's layout: `features`, `avgpool`, then a `classifier` Sequential.

    Built from torch.nn layers only, so that the grader can send it to the sandboxed child and read it back.
    """
    return nn.Sequential(OrderedDict(
        features=nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),
        avgpool=nn.AdaptiveAvgPool2d(2), flatten=nn.Flatten(),
        classifier=nn.Sequential(nn.Linear(32, 16), nn.ReLU(), nn.Dropout(), nn.Linear(16, 10))))


_PRISTINE: dict[str, nn.Module] = {}  # building a torchvision model costs more than copying one


def _fresh(name: str, make: Callable[[], nn.Module]) -> nn.Module:
    """A new copy of a randomly initialised model (built once per process)."""
    if name not in _PRISTINE:
        _PRISTINE[name] = make()
    return copy.deepcopy(_PRISTINE[name])


def _families() -> list[tuple[str, Callable[[], nn.Module], str]]:
    """(name, builder, dotted name of the head) for the architectures the checks use."""
    import torchvision

    from freezelab.backbones import TinyResNet

    def tv(name: str) -> Callable[[], nn.Module]:
        return lambda: _fresh(name, lambda: torchvision.models.get_model(name, weights=None))

    return [("resnet18", tv("resnet18"), "fc"),
            ("mobilenet_v3_small", tv("mobilenet_v3_small"), "classifier.3"),
            ("efficientnet_b0", tv("efficientnet_b0"), "classifier.1"),
            ("densenet121", tv("densenet121"), "classifier"),
            ("TinyResNet", lambda: TinyResNet(num_classes=5), "fc"),
            ("a VGG-style model", MiniVGG, "classifier.3")]


def _input_for(model: nn.Module) -> torch.Tensor:
    from freezelab.backbones import TinyResNet

    return torch.randn(2, 1, 16, 16) if isinstance(model, TinyResNet) else torch.randn(2, 3, 32, 32)


def _check_head(model: nn.Module, family: str, head: str, num_classes: int,
                before: dict[str, int]) -> None:
    modules = dict(model.named_modules())
    new = modules.get(head)
    expect(isinstance(new, nn.Linear) and new.out_features == num_classes,
           f"for {family}, the head `{head}` should now be an nn.Linear with {num_classes} outputs, "
           f"but it is {type(new).__name__ if new is not None else 'missing'}.")
    expect(id(new) != before.get(head), f"for {family}, `{head}` is still the old layer: create a new one.")
    expect(new.bias is not None, f"for {family}, the new head has no bias (bias=False), but the head it replaces "
                                 "had one: a new nn.Linear(in_features, num_classes) keeps it by default.")
    gone = {name for name, ident in before.items()
            if name != head and not name.startswith(head + ".") and id(modules.get(name)) != ident}
    expect(not gone, f"for {family}, only the last Linear layer should change, but {short(gone)} were "
                     "removed or replaced too (keep the dropout and the layers before the head).")
    expect(all(p.requires_grad for p in new.parameters()), f"for {family}, the new head is frozen; it "
                                                          "must be trainable.")
    model.eval()
    try:
        with torch.no_grad():
            out = model(_input_for(model))
    except RuntimeError as exc:
        raise CheckFailed(f"for {family}, the model no longer runs after the change: {exc}") from None
    expect(tuple(out.shape) == (2, num_classes), f"for {family}, the output shape is {tuple(out.shape)}; "
                                                 f"expected (2, {num_classes}).")


@hidden_check("replace_head", points=3)
def check_replace_head(replace_head: Any) -> None:
    """A new trainable Linear of the right size replaces exactly the head, for several families."""
    for num_classes, (family, make, head) in zip((3, 7, 2, 5, 4, 6), _families(), strict=True):
        model = make()
        before = {name: id(m) for name, m in model.named_modules()}
        result = call(replace_head, "replace_head", model, num_classes)
        expect(result is model, "replace_head should change the model in place and return it.")
        _check_head(model, family, head, num_classes, before)


@hidden_check("replace_head")
def check_replace_head_in_features(replace_head: Any) -> None:
    """The new head reads the feature size of the old one (not a hard-coded number)."""
    from freezelab.backbones import TinyResNet

    model = TinyResNet(num_classes=5, widths=(8, 16, 24))
    call(replace_head, "replace_head", model, 3)
    expect(isinstance(model.fc, nn.Linear) and model.fc.in_features == 24,
           "for a TinyResNet whose last stage has 24 channels, the new head should take 24 inputs: read "
           "in_features from the old head instead of writing the number in.")


@hidden_check("feature_extractor", points=3)
def check_feature_extractor(feature_extractor: Any) -> None:
    """Only the new head trains: a step moves the head alone and the backbone's features stay identical."""
    for num_classes, (family, make, head) in zip((4, 3, 6), _families()[::2], strict=True):
        model = make()
        before = {name: id(m) for name, m in model.named_modules()}
        result = call(feature_extractor, "feature_extractor", model, num_classes)
        expect(result is model, "feature_extractor should change the model in place and return it.")
        _check_head(model, family, head, num_classes, before)
        trainable = {n for n, p in model.named_parameters() if p.requires_grad}
        expected = {f"{head}.weight", f"{head}.bias"}
        expect(trainable == expected, f"for {family}, the trainable parameters should be exactly the new "
                                      f"head's ({short(expected)}), but they are {short(trainable) or 'none'}.")
        model.eval()  # compare deterministic outputs; BatchNorm statistics are a lesson of their own
        x = _input_for(model)
        state = snapshot(model)
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1, momentum=0.9)
        model(x).logsumexp(1).mean().backward()
        optimizer.step()
        moved = {n.rsplit(".", 1)[0] for n, t in model.state_dict().items() if not torch.equal(t, state[n])}
        expect(moved == {head}, f"for {family}, a training step should change only `{head}`, but it changed "
                                f"{short(moved) or 'nothing'}.")


@hidden_check("trainable_optimizer", points=2)
def check_trainable_optimizer(trainable_optimizer: Any) -> None:
    """The optimizer holds every trainable parameter once, no frozen one, with the asked learning rate."""

    def body(spec) -> None:
        model = build(spec)
        rng = random.Random(spec.seed)
        for p in model.parameters():
            p.requires_grad_(rng.random() < 0.5)
        if not any(p.requires_grad for p in model.parameters()):
            next(model.parameters()).requires_grad_(True)
        lr = rng.choice([0.1, 0.03, 1e-3])
        opt = call(trainable_optimizer, "trainable_optimizer", model, lr)
        expect(isinstance(opt, torch.optim.SGD), f"trainable_optimizer should return a torch.optim.SGD, "
                                                 f"got {type(opt).__name__}.")
        held = [p for g in opt.param_groups for p in g["params"]]
        frozen = names_of(model, [p for p in held if not p.requires_grad])
        expect(not frozen, f"the optimizer holds frozen parameters ({short(frozen)}): give it only trainable "
                           f"ones. Model: {describe(model)}")
        missing = names_of(model, [p for p in unique_params(model) if p.requires_grad
                                   and all(p is not q for q in held)])
        expect(not missing, f"the optimizer is missing trainable parameters {short(missing)}. "
                            f"Model: {describe(model)}")
        for group in opt.param_groups:
            expect(group["lr"] == lr, f"the learning rate should be {lr}, got {group['lr']}.")
            expect(group.get("momentum") == 0.9, f"use momentum=0.9, got {group.get('momentum')}.")

    for_all(net_specs(), body)


def _stages() -> nn.Sequential:
    stages = OrderedDict([("stem", nn.Linear(4, 8)), ("act", nn.ReLU()), ("layer1", nn.Linear(8, 8)),
                          ("layer2", nn.Linear(8, 8)), ("head", nn.Linear(8, 3))])
    return nn.Sequential(stages)


def _groups_ok(groups: Any, model: nn.Module, base_lr: float, decay: float) -> None:
    expect(isinstance(groups, list) and all(isinstance(g, dict) for g in groups),
           f"layerwise_param_groups should return a list of dicts, got {type(groups).__name__}.")
    expect(all("params" in g and "lr" in g for g in groups), "every group needs a 'params' and an 'lr' key.")
    expected = []
    seen: set[int] = set()
    for name, child in model.named_children():
        params = [p for p in child.parameters() if p.requires_grad and id(p) not in seen]
        seen.update(id(p) for p in params)
        if params:
            expected.append((name, params))
    got_ids = [[id(p) for p in g["params"]] for g in groups]
    flat = [i for ids in got_ids for i in ids]
    expect(len(flat) == len(set(flat)), "a parameter appears in more than one group (PyTorch refuses that); "
                                        "a tensor shared by two layers belongs to the first one only.")
    frozen = names_of(model, [p for g in groups for p in g["params"] if not p.requires_grad])
    expect(not frozen, f"the groups contain frozen parameters: {short(frozen)}.")
    names = [n for n, _ in expected]
    expect(len(groups) == len(expected), f"expected {len(expected)} groups (one per top-level child with "
                                         f"trainable parameters: {short(names, 8)}), got {len(groups)}. "
                                         f"Model: {describe(model)}")
    for (name, params), ids, group, depth in zip(expected, got_ids, groups,
                                                 range(len(expected) - 1, -1, -1), strict=True):
        expect(set(ids) == {id(p) for p in params}, f"the group for `{name}` should hold exactly its trainable "
                                                    f"parameters. Model: {describe(model)}")
        lr = base_lr / decay**depth
        expect(abs(group["lr"] - lr) <= 1e-9 * lr, f"the group for `{name}` has lr {group['lr']:.3g}; with "
                                                   f"base_lr={base_lr} and decay={decay} it should be {lr:.3g} "
                                                   "(the last group gets base_lr, earlier ones less).")
    torch.optim.SGD(groups, lr=base_lr)


@hidden_check("layerwise_param_groups", points=2)
def check_layerwise_param_groups(layerwise_param_groups: Any) -> None:
    """Groups follow the top-level children, skip frozen ones, and divide the rate by `decay` per level."""
    model = _stages()
    model.stem.requires_grad_(False)
    groups = call(layerwise_param_groups, "layerwise_param_groups", model, 1e-3, decay=2.0)
    _groups_ok(groups, model, 1e-3, 2.0)


@hidden_check("layerwise_param_groups", points=2)
def check_layerwise_param_groups_random(layerwise_param_groups: Any) -> None:
    """The same rules on random architectures (nested blocks, tied weights, partly frozen)."""

    def body(spec) -> None:
        model = build(spec)
        rng = random.Random(spec.seed)
        for p in model.parameters():
            p.requires_grad_(rng.random() < 0.7)
        base_lr, decay = rng.choice([(0.01, 2.6), (0.1, 10.0), (1e-3, 1.5)])
        groups = call(layerwise_param_groups, "layerwise_param_groups", model, base_lr, decay=decay)
        _groups_ok(groups, model, base_lr, decay)

    for_all(net_specs(min_linear=2), body)


# Multiple choice (questions, keys and hints: assignments/a2_transfer_setup/spec.py)
check_answer_q1, check_answer_q2, check_answer_q3 = multiple_choice_checks(__name__, "a2_transfer_setup")
