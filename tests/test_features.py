"""freezelab.features: a frozen feature extractor, features computed once, and one head epoch either way."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from freezelab.backbones import TinyResNet
from freezelab.features import extract_features, frozen_backbone, head_epoch


def test_feature_extractor_is_a_frozen_eval_copy_and_refuses_a_model_without_fc():
    model = TinyResNet(num_classes=5).train()
    backbone = frozen_backbone(model)
    assert model.training and all(p.requires_grad for p in model.parameters()), "the original is untouched"
    assert not backbone.training and not any(p.requires_grad for p in backbone.parameters())
    assert extract_features(backbone, torch.randn(7, 1, 16, 16), batch_size=3, device="cpu").shape == (7, 64)
    with pytest.raises(ValueError, match="has no `fc` head"):
        frozen_backbone(nn.Sequential(nn.Linear(2, 2)))


def test_a_head_epoch_on_cached_features_equals_one_through_the_backbone():
    torch.manual_seed(0)
    backbone = frozen_backbone(TinyResNet(num_classes=3))
    x, y = torch.randn(10, 1, 16, 16), torch.arange(10) % 3
    head = nn.Linear(64, 3)
    twin = copy.deepcopy(head)
    order = torch.randperm(10, generator=torch.Generator().manual_seed(0))
    cached = extract_features(backbone, x, device="cpu")
    losses = [head_epoch(h, data, y, torch.optim.SGD(h.parameters(), lr=0.1), order, 4, backbone=b)
              for h, data, b in ((head, x, backbone), (twin, cached, None))]
    assert len(losses[0]) == 3 and losses[0] == pytest.approx(losses[1], abs=1e-5)
