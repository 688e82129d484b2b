"""The measured claims in the prose of lesson 05 (fine-tuning recipes), re-run with the lesson's own
settings (`freezelab.lessons.l05_workflows`: k, epochs, base learning rate, seeds)."""

from __future__ import annotations

import numpy as np
import pytest

from freezelab.backbones import load_pretrained
from freezelab.lessons import l05_workflows as lesson
from freezelab.lessons.l05_workflows import run_recipe
from freezelab.recipes import discriminative_groups

CPU = "cpu"


pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


def test_05_discriminative_groups_cover_every_parameter_once():
    model = load_pretrained(num_classes=5)
    groups = discriminative_groups(model, head_lr=lesson.HEAD_LR, factor=2.6)
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())
    assert [g["lr"] for g in groups] == pytest.approx([1e-2 / 2.6**d for d in range(4)])


@pytest.mark.slow
def test_05_large_learning_rate_wrecks_the_target_not_the_source_probe():
    names = ("head_only", "full_small_lr", "two_phase", "full_large_lr")
    runs = [run_recipe(name, seed=seed, device=CPU) for name in names for seed in lesson.SEEDS]
    target = {n: [r.test_acc for r in runs if r.recipe == n] for n in names}
    source = {n: [r.source_acc for r in runs if r.recipe == n] for n in names}
    assert max(target["full_large_lr"]) < 0.32, "prose: near chance on the target on every seed"
    assert min(source["full_large_lr"]) > 0.9, "prose: its source probe stayed above 0.9"
    assert np.mean(source["full_large_lr"]) == min(np.mean(v) for v in source.values()), "the most forgetting"
    assert 1.0 - np.mean(source["full_large_lr"]) < 0.08, "prose: only a few points"
    assert abs(np.mean(source["two_phase"]) - np.mean(source["full_small_lr"])) < 0.02, "prose: same probe"
    assert source["head_only"] == [1.0, 1.0, 1.0], "prose: head_only kept it exactly"
    assert min(target["two_phase"]) < 0.3, "prose: one two-phase run ended near chance"
    careful = ("head_only", "full_small_lr", "two_phase")
    assert max(max(target[n]) - min(target[n]) for n in careful) > 0.2, "prose: swings by tens of points"
