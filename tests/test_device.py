"""Tests for freezelab.device: device choice, the FREEZELAB_DEVICE override, reproducible seeding."""

import random

import numpy as np
import pytest
import torch

from freezelab.device import (
    describe_device,
    model_device,
    pick_device,
    resolve_device,
    seed_everything,
    synchronize,
)


@pytest.fixture(autouse=True)
def restore_determinism():
    before = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(before)


def test_env_var_forces_cpu(monkeypatch):
    monkeypatch.setenv("FREEZELAB_DEVICE", "CPU ")  # case and spaces are forgiven
    assert pick_device() == torch.device("cpu")
    assert describe_device(pick_device()).startswith("cpu (")


def test_prefer_beats_env_var(monkeypatch):
    monkeypatch.setenv("FREEZELAB_DEVICE", "tpu")
    assert pick_device("cpu") == torch.device("cpu")


def test_bad_env_value_is_one_clear_line(monkeypatch):
    monkeypatch.setenv("FREEZELAB_DEVICE", "tpu")
    with pytest.raises(ValueError) as exc:
        pick_device()
    message = str(exc.value)
    assert "\n" not in message and "'tpu'" in message and "cuda, mps, cpu" in message


def test_unavailable_cuda_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("FREEZELAB_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        pick_device()


def test_default_order_without_accelerators(monkeypatch):
    monkeypatch.delenv("FREEZELAB_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("freezelab.device._mps_available", lambda: False)
    assert pick_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device() == torch.device("cuda")


def draws(seed: int):
    gen = seed_everything(seed)
    return (random.random(), float(np.random.rand()), torch.rand(3).tolist(),
            torch.randint(0, 1000, (4,), generator=gen).tolist(), torch.nn.Linear(3, 2).weight.tolist())


def test_seed_everything_reproduces_all_generators():
    assert draws(7) == draws(7)
    assert draws(7) != draws(8)
    assert torch.are_deterministic_algorithms_enabled()


def test_resolve_device_takes_the_argument_then_the_default_then_the_pick(monkeypatch):
    monkeypatch.setenv("FREEZELAB_DEVICE", "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("meta"), default="cpu") == torch.device("meta")
    assert resolve_device(None, default="meta") == torch.device("meta")
    assert resolve_device() == pick_device() == torch.device("cpu")


def test_model_device_and_synchronize_on_the_cpu():
    assert model_device(torch.nn.Linear(2, 2).to("meta")) == torch.device("meta")
    assert model_device(torch.nn.ReLU()) == torch.device("cpu"), "no parameters: the CPU"
    synchronize(torch.device("cpu"))  # nothing queued on the CPU: returns at once


def test_synchronize_waits_for_the_accelerator_it_is_given(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append(("cuda", device)))
    monkeypatch.setattr(torch.mps, "synchronize", lambda: calls.append(("mps", None)))
    synchronize(torch.device("cuda", 1))
    synchronize(torch.device("mps"))
    assert calls == [("cuda", torch.device("cuda", 1)), ("mps", None)]
