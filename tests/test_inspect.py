"""Tests for freezelab.inspect: counting, tables and the freeze map, including property-based checks."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from freezelab.backbones import TinyResNet, torchvision_model
from freezelab.inspect import (
    freeze_map,
    frozen_names,
    group_by_module,
    param_count,
    parameter_table,
    summary,
    trainable_names,
)


def seed_model() -> nn.Sequential:
    return nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 2))


def test_seed_example_counts():
    model = seed_model()
    assert param_count(model).total == 67
    model[0].requires_grad_(False)
    count = param_count(model)
    assert (count.trainable_tensors, count.trainable, count.frozen, count.tensors) == (2, 12, 55, 4)
    assert count.percent_trainable == pytest.approx(100 * 12 / 67)
    assert trainable_names(model) == ["2.weight", "2.bias"]
    assert frozen_names(model) == ["0.weight", "0.bias"]


def test_inspect_does_not_change_flags():
    model = seed_model()
    model[2].weight.requires_grad_(False)
    before = [p.requires_grad for p in model.parameters()]
    parameter_table(model), param_count(model), summary(model)
    plt.close(freeze_map(model))
    assert [p.requires_grad for p in model.parameters()] == before


def test_tied_weights_counted_once_with_alias():
    first, second = nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False)
    second.weight = first.weight
    model = nn.Sequential(first, nn.Tanh(), second)
    rows = parameter_table(model)
    assert [r.name for r in rows] == ["0.weight"]
    assert rows[0].aliases == ("2.weight",)
    assert param_count(model).total == 16
    # Naive counting over every registered name double-counts: the reason de-duplication matters.
    assert sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False)) == 32


def test_lazy_module_errors_before_forward_then_counts():
    model = nn.Sequential(nn.LazyLinear(3), nn.ReLU(), nn.Linear(3, 1))
    with pytest.raises(ValueError, match=r"0\.weight.*one forward pass"):
        param_count(model)
    model(torch.zeros(2, 7))
    assert param_count(model).total == 7 * 3 + 3 + 3 + 1


def test_summary_has_rows_and_totals_line():
    model = seed_model()
    model[0].requires_grad_(False)
    text = summary(model)
    lines = text.splitlines()
    assert lines[-1] == "Trainable: 12 / Total: 67 (17.9%)"
    assert any(line.startswith("0 ") and "frozen" in line for line in lines)
    assert any(line.startswith("2 ") and line.endswith("trainable") for line in lines)


def test_group_by_module_depth_and_partial_status():
    model = TinyResNet()
    model.conv1.requires_grad_(False)
    model.layer1.requires_grad_(False)
    model.layer2.conv1.requires_grad_(False)
    groups = {g["name"]: g for g in group_by_module(model, depth=1)}
    assert list(groups) == ["conv1", "bn1", "layer1", "layer2", "layer3", "fc"]
    assert groups["conv1"]["status"] == "frozen"
    assert groups["layer1"]["status"] == "frozen"
    assert groups["layer2"]["status"] == "partly frozen"
    assert groups["fc"]["status"] == "trainable"
    assert sum(g["total"] for g in groups.values()) == param_count(model).total


def test_freeze_map_is_a_labelled_figure():
    model = TinyResNet()
    model.requires_grad_(False)
    model.fc.requires_grad_(True)
    model.layer3.conv2.requires_grad_(True)
    fig = freeze_map(model, depth=1, log=True)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["conv1", "bn1", "layer1", "layer2", "layer3", "fc"]
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "frozen" in texts and "partly frozen" in texts and "trainable" in texts
    assert ax.get_xscale() == "log"
    hatches = [bar.get_hatch() for bar in ax.patches[:6]]
    assert hatches[0] == "xx" and hatches[4] == "//" and not hatches[5]  # readable without colour
    plt.close(fig)


# ---------------------------------------------------------------------------------------------------------
# Property-based: random stacks of Linear / Conv / BatchNorm with random frozen subsets
# ---------------------------------------------------------------------------------------------------------

@st.composite
def random_stack(draw):
    """A random nn.Sequential (conv part then linear part) and a random set of frozen parameter names."""
    layers: list[nn.Module] = []
    channels = draw(st.integers(1, 4))
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["conv", "bn", "relu"]))
        if kind == "conv":
            out = draw(st.integers(1, 6))
            layers.append(nn.Conv2d(channels, out, draw(st.sampled_from([1, 3])), padding=1,
                                    bias=draw(st.booleans())))
            channels = out
        elif kind == "bn":
            layers.append(nn.BatchNorm2d(channels, affine=draw(st.booleans())))
        else:
            layers.append(nn.ReLU())
    layers.append(nn.Flatten())
    features = draw(st.integers(1, 8))
    layers.append(nn.Linear(channels, features))
    for _ in range(draw(st.integers(0, 3))):
        out = draw(st.integers(1, 8))
        layers.append(nn.Linear(features, out, bias=draw(st.booleans())))
        features = out
    model = nn.Sequential(*layers)
    names = [n for n, _ in model.named_parameters()]
    frozen = draw(st.sets(st.sampled_from(names))) if names else set()
    for name, param in model.named_parameters():
        param.requires_grad_(name not in frozen)
    return model, frozen


def brute_force(model: nn.Module) -> tuple[int, int, int]:
    seen, total, trainable, tensors = set(), 0, 0, 0
    for _, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
        tensors += 1
    return total, trainable, tensors


@settings(max_examples=30, deadline=None)
@given(random_stack(), st.booleans())
def test_counts_match_brute_force(stack, tie):
    model, frozen = stack
    linears = [m for m in model if isinstance(m, nn.Linear)]
    if tie and len(linears) >= 2 and linears[-1].weight.shape == linears[-2].weight.shape:
        linears[-1].weight = linears[-2].weight  # a tied pair must still be counted once
    count = param_count(model)
    total, trainable, tensors = brute_force(model)
    assert (count.total, count.trainable, count.tensors) == (total, trainable, tensors)
    assert count.trainable + count.frozen == count.total
    rows = parameter_table(model)
    assert sum(r.numel for r in rows) == count.total
    assert sum(r.numel for r in rows if r.trainable) == count.trainable
    assert set(frozen_names(model)) | set(trainable_names(model)) == {r.name for r in rows}
    assert set(frozen_names(model)).isdisjoint(trainable_names(model))
    if not tie:
        assert set(frozen_names(model)) == frozen


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6))
def test_lazy_linear_counts_after_first_forward(in_features, hidden, out):
    model = nn.Sequential(nn.LazyLinear(hidden), nn.ReLU(), nn.LazyLinear(out))
    with pytest.raises(ValueError, match="run one forward pass with a sample batch first"):
        param_count(model)
    model(torch.zeros(1, in_features))
    assert param_count(model).total == in_features * hidden + hidden + hidden * out + out


# ---------------------------------------------------------------------------------------------------------
# Real torchvision numbers, computed live with weights=None (same shapes as the pretrained models)
# ---------------------------------------------------------------------------------------------------------

def test_resnet18_total():
    assert param_count(torchvision_model("resnet18")).total == 11_689_512


def test_resnet50_feature_extraction_counts():
    model = torchvision_model("resnet50")
    model.requires_grad_(False)
    model.fc = nn.Linear(model.fc.in_features, 5)
    count = param_count(model)
    assert (count.total, count.trainable, count.trainable_tensors) == (23_518_277, 10_245, 2)
    assert str(count) == "Trainable: 10,245 / Total: 23,518,277 (0.0%)"
