"""Tests for freezelab.bench: frozen sets, restoration of the model, and the activation-memory measure."""

import pytest
import torch
from torch import nn

from freezelab.backbones import TinyResNet, torchvision_model
from freezelab.bench import (
    StepStats,
    applied,
    compare_frozen_sets,
    default_stages,
    format_rows,
    frozen_sets,
    peak_memory,
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


def test_frozen_sets_freeze_what_they_say(tiny):
    sets = frozen_sets(tiny)
    assert sets["none"] == []
    assert sets["all but head"] == ["conv1", "bn1", "layer1", "layer2", "layer3"]
    assert sets["first 50%"] == ["conv1", "bn1", "layer1"]
    assert sets["last 50%"] == ["layer2", "layer3"]
    assert not set(sets["first 50%"]) & set(sets["last 50%"]), "the two halves must not overlap"
    for name, frozen in sets.items():
        assert "fc" not in frozen, name  # the head trains in every set
        with applied(tiny, frozen):
            for stage, child in tiny.named_children():
                flags = {p.requires_grad for p in child.parameters()}
                if flags:
                    assert flags == {stage not in frozen}, (name, stage)


def test_frozen_sets_reject_unknown_stages(tiny):
    with pytest.raises(ValueError, match="named_children"):
        frozen_sets(tiny, ["conv1", "encoder"])


def test_measuring_restores_flags_weights_and_mode(tiny, batch):
    tiny.layer3.requires_grad_(False)  # a user's own freezing must survive the benchmark
    tiny.eval()
    flags = [p.requires_grad for p in tiny.parameters()]
    state = {k: v.clone() for k, v in tiny.state_dict().items()}
    stats = step_time(tiny, batch, frozen_sets(tiny)["first 50%"], repeats=3, warmup=1)
    peak_memory(tiny, batch, frozen_sets(tiny)["all but head"])
    assert isinstance(stats, StepStats) and stats.median > 0 and stats.iqr >= 0 and len(stats.times) == stats.repeats == 3
    assert [p.requires_grad for p in tiny.parameters()] == flags
    assert all(torch.equal(state[k], v) for k, v in tiny.state_dict().items())
    assert not tiny.training


def test_step_really_trains_only_the_unfrozen_stages(tiny, batch):
    # Inside the frozen set, an SGD step must move fc but leave the frozen stem untouched.
    with applied(tiny, ["conv1", "bn1", "layer1", "layer2", "layer3"]):
        params = [p for p in tiny.parameters() if p.requires_grad]
        opt = torch.optim.SGD(params, lr=0.1)
        conv, fc = tiny.conv1.weight.clone(), tiny.fc.weight.clone()
        nn.functional.cross_entropy(tiny(batch[0]), batch[1]).backward()
        opt.step()
        assert torch.equal(conv, tiny.conv1.weight) and not torch.equal(fc, tiny.fc.weight)
        assert tiny.conv1.weight.grad is None


def test_all_frozen_set_is_refused(batch):
    model = nn.Sequential(nn.Flatten(), nn.Linear(256, 5))
    with pytest.raises(ValueError, match="freezes every parameter"):
        step_time(model, batch, ["1"], repeats=1, warmup=0)


def test_activation_memory_shrinks_when_leading_stages_are_frozen(tiny, batch):
    sets = frozen_sets(tiny)
    none = saved_activation_bytes(tiny, batch, sets["none"])
    first_half = saved_activation_bytes(tiny, batch, sets["first 50%"])
    head_only = saved_activation_bytes(tiny, batch, sets["all but head"])
    last_half = saved_activation_bytes(tiny, batch, sets["last 50%"])
    assert none > first_half > head_only > 0
    # Freezing late stages while early ones train keeps (almost) every activation for backward.
    assert last_half > first_half
    assert peak_memory(tiny, batch, sets["none"], "cpu") == none


def test_compare_frozen_sets_rows_and_table(batch):
    sets = {k: v for k, v in frozen_sets(TinyResNet()).items() if k in ("none", "first 50%", "all but head")}
    rows = compare_frozen_sets(lambda: TinyResNet(), batch, sets, repeats=2, warmup=0, progress=False)
    assert [r["name"] for r in rows] == ["none", "first 50%", "all but head"]
    by_name = {r["name"]: r for r in rows}
    assert by_name["none"]["time_ratio"] == 1.0 and by_name["none"]["memory_ratio"] == 1.0
    assert by_name["all but head"]["trainable"] == 64 * 5 + 5
    assert by_name["all but head"]["memory_ratio"] < 1.0
    table = format_rows(rows)
    assert len(table.splitlines()) == len(rows) + 1 and "all but head" in table
