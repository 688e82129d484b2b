"""The measured claims in the prose of lesson 07 (speed and memory), checked on the lesson's own batch.

Each test calls the same package function with the same arguments as the notebook cell that prints the
number (`freezelab.lessons.l07_speed`), so the text a student reads cannot drift from what the code measures.
"""

from __future__ import annotations

import pytest
import torch

from freezelab.backbones import load_pretrained
from freezelab.bench import (
    frozen_sets,
    saved_activation_bytes,
    stage_flops,
    step_flops,
    timing_verdict,
)
from freezelab.data import target_task
from freezelab.features import compare_caching, extract_features, frozen_backbone
from freezelab.lessons import l07_speed as lesson

CPU = "cpu"
pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


def test_07_cached_head_epoch_is_faster_and_identical():
    new_digits = target_task(lesson.TASK)
    result = compare_caching(load_pretrained(), new_digits.x_train, new_digits.y_train, num_classes=5,
                             device=CPU)
    assert result.cached_s < result.recompute_s, "the cached epoch must be faster than recomputing"
    assert result.max_loss_diff < 1e-4 and result.max_logit_diff < 1e-4, "caching changed the result"


def test_07_feature_extractor_is_frozen_and_matches_the_model():
    model = load_pretrained().eval()
    backbone = frozen_backbone(model)
    assert not any(p.requires_grad for p in backbone.parameters())
    x = target_task(lesson.TASK).x_val[:16]
    with torch.no_grad():
        expected = model.features(x)
    assert torch.allclose(extract_features(backbone, x, batch_size=5, device=CPU), expected, atol=1e-5)


def test_07_first_and_last_half_do_not_overlap():
    sets = frozen_sets(load_pretrained(num_classes=5))
    assert sets["first 50%"] == ["conv1", "bn1", "layer1"] and sets["last 50%"] == ["layer2", "layer3"]
    model = load_pretrained(num_classes=5)
    count = {name: sum(p.numel() for s in sets[name] for p in getattr(model, s).parameters())
             for name in ("first 50%", "last 50%")}
    assert 14 < count["last 50%"] / count["first 50%"] < 16, "prose: about 15 times more parameters"
    assert 4_000 < count["first 50%"] < 6_000 and 70_000 < count["last 50%"] < 74_000


def test_07_freezing_first_half_saves_activation_memory_last_half_saves_none():
    batch = lesson.batch()
    sets = frozen_sets(load_pretrained(num_classes=5))
    saved = {name: saved_activation_bytes(load_pretrained(num_classes=5), batch, sets[name], CPU)
             for name in lesson.COMPARED}
    assert 0.4 * saved["none"] < saved["first 50%"] < 0.6 * saved["none"], "prose: cuts it by half"
    assert saved["last 50%"] == saved["none"], "prose: freezing the last half saves nothing at all"
    assert saved["all but head"] < 0.05 * saved["none"]


def test_07_flop_counts_of_the_frozen_sets():
    batch = lesson.batch()
    sets = frozen_sets(load_pretrained(num_classes=5))
    flops = {name: step_flops(load_pretrained(num_classes=5), batch, sets[name])
             for name in lesson.COMPARED}
    assert len({forward for forward, _ in flops.values()}) == 1, "prose: the same forward work in every frozen set"
    backward = {name: b for name, (_, b) in flops.items()}
    assert backward["first 50%"] < 0.6 * backward["none"], "prose: cut the backward work almost in half"
    assert backward["first 50%"] < backward["last 50%"] < backward["none"], "prose: last 50% did more"
    assert backward["all but head"] < 0.001 * backward["none"]


def test_07_resnet18_last_stage_is_about_a_quarter_of_forward_flops():
    import torchvision

    model = torchvision.models.resnet18(weights=None).eval()
    shares = stage_flops(model, torch.randn(1, 3, 224, 224))
    assert 0.21 < shares["layer4"] < 0.25, "prose: about 23% of the forward work"
    assert all(abs(shares[s] - shares["layer4"]) < 0.04 for s in ("layer2", "layer3")), "about as much as"
    params = sum(p.numel() for p in model.layer4.parameters()) / sum(p.numel() for p in model.parameters())
    assert params > 0.5, "prose: it holds most of the parameters"


def test_07_timing_verdict_states_a_direction_only_outside_the_noise():
    def row(name, q1, q3):
        return {"name": name, "q1_s": q1, "q3_s": q3}

    apart = [row("a", 1.0, 1.1), row("b", 1.5, 1.6)]
    assert timing_verdict(apart, "a", "b").startswith("a was faster than b")
    assert timing_verdict(apart, "b", "a").startswith("a was faster than b")
    assert "within the noise" in timing_verdict([row("a", 1.0, 1.4), row("b", 1.3, 1.6)], "a", "b")
