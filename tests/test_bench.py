"""Tests for freezelab.bench: plans, restoration of the model, and the activation-memory measure."""

import pytest
import torch
from torch import nn

from freezelab.backbones import TinyResNet, torchvision_model
from freezelab.bench import (
    StepStats,
    applied,
    compare_plans,
    default_stages,
    format_rows,
    peak_memory,
    plans_for,
    saved_activation_bytes,
    step_time,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return TinyResNet()


@pytest.fixture
def batch():
    gen = torch.Generator().manual_seed(0)
    return torch.randn(8, 1, 16, 16, generator=gen), torch.randint(0, 5, (8,), generator=gen)


def test_default_stages_are_the_resnet_children(tiny):
    assert default_stages(tiny) == ["conv1", "bn1", "layer1", "layer2", "layer3", "fc"]
    assert default_stages(torchvision_model("resnet18")) == [
        "conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"]


def test_plans_freeze_what_they_say(tiny):
    plans = plans_for(tiny)
    assert plans["none"] == []
    assert plans["all but head"] == ["conv1", "bn1", "layer1", "layer2", "layer3"]
    assert plans["first 50%"] == ["conv1", "bn1", "layer1"]
    assert plans["last 50%"] == ["layer2", "layer3"]
    assert not set(plans["first 50%"]) & set(plans["last 50%"]), "the two halves must not overlap"
    for name, plan in plans.items():
        assert "fc" not in plan, name  # the head trains in every plan
        with applied(tiny, plan):
            for stage, child in tiny.named_children():
                flags = {p.requires_grad for p in child.parameters()}
                if flags:
                    assert flags == {stage not in plan}, (name, stage)


def test_plans_reject_unknown_stages(tiny):
    with pytest.raises(ValueError, match="named_children"):
        plans_for(tiny, ["conv1", "encoder"])


def test_measuring_restores_flags_weights_and_mode(tiny, batch):
    tiny.layer3.requires_grad_(False)  # a user's own freezing must survive the benchmark
    tiny.eval()
    flags = [p.requires_grad for p in tiny.parameters()]
    state = {k: v.clone() for k, v in tiny.state_dict().items()}
    stats = step_time(tiny, batch, plans_for(tiny)["first 50%"], repeats=3, warmup=1)
    peak_memory(tiny, batch, plans_for(tiny)["all but head"])
    assert isinstance(stats, StepStats) and stats.median > 0 and stats.iqr >= 0 and len(stats.times) == stats.repeats == 3
    assert [p.requires_grad for p in tiny.parameters()] == flags
    assert all(torch.equal(state[k], v) for k, v in tiny.state_dict().items())
    assert not tiny.training


def test_step_really_trains_only_the_unfrozen_stages(tiny, batch):
    # Inside the plan, an SGD step must move fc but leave the frozen stem untouched.
    with applied(tiny, ["conv1", "bn1", "layer1", "layer2", "layer3"]):
        params = [p for p in tiny.parameters() if p.requires_grad]
        opt = torch.optim.SGD(params, lr=0.1)
        conv, fc = tiny.conv1.weight.clone(), tiny.fc.weight.clone()
        nn.functional.cross_entropy(tiny(batch[0]), batch[1]).backward()
        opt.step()
        assert torch.equal(conv, tiny.conv1.weight) and not torch.equal(fc, tiny.fc.weight)
        assert tiny.conv1.weight.grad is None


def test_all_frozen_plan_is_refused(batch):
    model = nn.Sequential(nn.Flatten(), nn.Linear(256, 5))
    with pytest.raises(ValueError, match="freezes every parameter"):
        step_time(model, batch, ["1"], repeats=1, warmup=0)


def test_activation_memory_shrinks_when_leading_stages_are_frozen(tiny, batch):
    plans = plans_for(tiny)
    none = saved_activation_bytes(tiny, batch, plans["none"])
    first_half = saved_activation_bytes(tiny, batch, plans["first 50%"])
    head_only = saved_activation_bytes(tiny, batch, plans["all but head"])
    last_half = saved_activation_bytes(tiny, batch, plans["last 50%"])
    assert none > first_half > head_only > 0
    # Freezing late stages while early ones train keeps (almost) every activation for backward.
    assert last_half > first_half
    assert peak_memory(tiny, batch, plans["none"], "cpu") == none


def test_compare_plans_rows_and_table(batch):
    plans = {k: v for k, v in plans_for(TinyResNet()).items() if k in ("none", "first 50%", "all but head")}
    rows = compare_plans(lambda: TinyResNet(), batch, plans, repeats=2, warmup=0, progress=False)
    assert [r["plan"] for r in rows] == ["none", "first 50%", "all but head"]
    by_plan = {r["plan"]: r for r in rows}
    assert by_plan["none"]["time_ratio"] == 1.0 and by_plan["none"]["memory_ratio"] == 1.0
    assert by_plan["all but head"]["trainable"] == 64 * 5 + 5
    assert by_plan["all but head"]["memory_ratio"] < 1.0
    table = format_rows(rows)
    assert len(table.splitlines()) == len(rows) + 1 and "all but head" in table
