"""Tests for freezelab.data: deterministic, disjoint, balanced and offline tasks."""

import socket
import urllib.request

import pytest
import torch

from freezelab import data
from freezelab.data import TARGET_TASKS, augment, few_shot, loaders, source_task, target_task


@pytest.fixture(scope="module")
def tasks():
    return {"source": source_task(), **{name: target_task(name) for name in TARGET_TASKS}}


def test_no_network_needed(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("freezelab.data tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    for cached in (data._digits, data._source_and_holdout, data.pixel_stats):
        cached.cache_clear()  # force a real reload with the network blocked
    task = target_task("noisy")
    assert task.x_train.shape[1:] == (1, 16, 16)


def test_splits_are_deterministic(tasks):
    for name in TARGET_TASKS:
        again = target_task(name)
        assert torch.equal(again.x_train, tasks[name].x_train)
        assert torch.equal(again.y_test, tasks[name].y_test)


def rows(x: torch.Tensor) -> set[bytes]:
    return {img.numpy().tobytes() for img in x}


def test_splits_are_disjoint(tasks):
    for name, task in tasks.items():
        if name == "source":
            continue  # its test split is its validation split, on purpose
        train, val, test = rows(task.x_train), rows(task.x_val), rows(task.x_test)
        assert not train & val and not train & test and not val & test, name


def test_targets_use_images_unseen_in_pretraining(tasks):
    source_images = rows(tasks["source"].x_train)
    raw_holdout = data._digits()[0][data._source_and_holdout()["holdout"]]
    assert not rows(data._normalise(raw_holdout)) & source_images


def test_class_balance(tasks):
    for name, task in tasks.items():
        counts = torch.bincount(task.y_train, minlength=task.num_classes)
        assert task.num_classes == 5 and counts.min() > 0, name
        assert counts.max() - counts.min() <= 0.2 * counts.max(), (name, counts.tolist())


def test_shifts_really_differ_from_the_originals(tasks):
    images, _ = data._digits()
    holdout = images[data._source_and_holdout()["holdout"]]
    assert torch.allclose(data._shifted(holdout, "inverted"), 1.0 - holdout)
    noisy = data._shifted(holdout, "noisy")
    assert (noisy - holdout).abs().mean() > 0.1
    # After normalisation the shifted tasks look different too: inverted images are mostly "ink".
    assert tasks["inverted"].x_train.mean() > tasks["source"].x_train.mean() + 1.0
    assert set(tasks["new_digits"].classes).isdisjoint(tasks["source"].classes)


def test_unknown_target_task():
    with pytest.raises(ValueError, match="choose one of new_digits"):
        target_task("rotated")


def test_few_shot_k_per_class(tasks):
    task = tasks["new_digits"]
    small = few_shot(task, k=3, seed=1)
    assert torch.bincount(small.y_train, minlength=5).tolist() == [3] * 5
    assert rows(small.x_train) <= rows(task.x_train)
    assert torch.equal(few_shot(task, 3, seed=1).x_train, small.x_train)
    assert not torch.equal(few_shot(task, 3, seed=2).x_train, small.x_train)
    assert torch.equal(small.x_test, task.x_test)  # evaluation data untouched


@pytest.mark.parametrize("k", [0, -1, 10_000])
def test_few_shot_bad_k(tasks, k):
    with pytest.raises(ValueError, match="out of range"):
        few_shot(tasks["inverted"], k)


def test_loaders_and_augment(tasks):
    task = few_shot(tasks["inverted"], 4)
    dl = loaders(task, batch_size=8, seed=0)
    assert set(dl) == {"train", "val", "test"}
    first = [y.tolist() for _, y in dl["train"]]
    assert first == [y.tolist() for _, y in loaders(task, batch_size=8, seed=0)["train"]]
    assert sum(len(y) for _, y in dl["train"]) == 20
    x = task.x_train
    moved = augment(x, torch.Generator().manual_seed(0))
    assert moved.shape == x.shape and not torch.equal(moved, x)
    assert torch.equal(augment(x, torch.Generator().manual_seed(0)), moved)
