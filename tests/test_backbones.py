"""Tests for freezelab.backbones: the shipped checkpoint, clear errors, heads, offline torchvision models."""

import shutil
import socket
import urllib.error

import pytest
import torch
from torch import nn

from freezelab.backbones import (
    CheckpointError,
    OfflineError,
    TinyResNet,
    checkpoint_info,
    default_checkpoint_path,
    load_pretrained,
    torchvision_model,
)
from freezelab.data import source_task
from freezelab.inspect import param_count, trainable_names


@pytest.fixture
def ckpt_copy(tmp_path):
    src = default_checkpoint_path()
    dst = tmp_path / src.name
    shutil.copy(src, dst)
    shutil.copy(src.with_suffix(".sha256"), dst.with_suffix(".sha256"))
    return dst


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr("urllib.request.urlopen", refuse)
    monkeypatch.setattr("torch.hub.urlopen", refuse)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # no cached weights either


def test_checkpoint_loads_and_knows_the_source_task():
    torch.manual_seed(0)
    model = load_pretrained().eval()
    assert isinstance(model, TinyResNet) and model.fc.out_features == 5
    assert 70_000 < param_count(model).total < 85_000
    task = source_task()
    with torch.no_grad():
        accuracy = (model(task.x_val).argmax(1) == task.y_val).float().mean().item()
    assert accuracy > 0.9  # really pretrained: a random network scores about 0.2
    assert checkpoint_info()["source_val_accuracy"] == pytest.approx(accuracy, abs=0.02)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match=r"not found.*python -m freezelab\.pretrain"):
        load_pretrained(path=tmp_path / "nope.pt")


def test_corrupt_checkpoint_caught_by_hash(ckpt_copy):
    blob = bytearray(ckpt_copy.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    ckpt_copy.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match=r"corrupt.*python -m freezelab\.pretrain"):
        load_pretrained(path=ckpt_copy)


def test_garbage_without_sidecar_is_unreadable(ckpt_copy):
    ckpt_copy.with_suffix(".sha256").unlink()
    ckpt_copy.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match=r"unreadable.*python -m freezelab\.pretrain"):
        load_pretrained(path=ckpt_copy)


def test_env_var_points_at_a_checkpoint(monkeypatch, ckpt_copy):
    monkeypatch.setenv("FREEZELAB_CHECKPOINT", str(ckpt_copy))
    assert default_checkpoint_path() == ckpt_copy
    assert isinstance(load_pretrained(), TinyResNet)


def test_new_head_for_other_class_counts():
    pretrained, model = load_pretrained(), load_pretrained(num_classes=3)
    assert model.fc.out_features == 3 and model.fc.in_features == 64
    assert torch.equal(model.layer3.conv2.weight, pretrained.layer3.conv2.weight)  # backbone kept
    assert model(torch.zeros(2, 1, 16, 16)).shape == (2, 3)


def test_torchvision_weights_none_builds_offline(no_network):
    model = torchvision_model("resnet18", num_classes=5)
    assert model.fc.out_features == 5
    with pytest.raises(ValueError, match="unknown torchvision model"):
        torchvision_model("resnet19")


@pytest.mark.timeout(120)
def test_pretrained_offline_raises_offline_error(no_network):
    with pytest.raises(OfflineError, match="pretrained=False"):
        torchvision_model("resnet18", pretrained=True, timeout=2)


def freeze_all_but_head(model: nn.Module) -> nn.Module:
    """The learner's freezing code: only attribute names, no knowledge of the architecture."""
    model.requires_grad_(False)
    model.fc.requires_grad_(True)
    return model


@pytest.mark.parametrize("build", [lambda: TinyResNet(), lambda: torchvision_model("resnet18")])
def test_same_freezing_code_works_on_tiny_and_resnet18(build):
    model = freeze_all_but_head(build())
    assert trainable_names(model) == ["fc.weight", "fc.bias"]
    for name in ("conv1", "bn1", "layer1", "layer2", "layer3", "avgpool", "fc"):
        assert hasattr(model, name)
