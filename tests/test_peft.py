"""freezelab.peft: LoRA layers start as their base layer, their delta is the effective change, add_lora wraps."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from freezelab.backbones import TinyResNet
from freezelab.peft import LoRAConv2d, LoRALinear, add_lora, lora_weight_change


@pytest.mark.parametrize("layer, x", [(nn.Linear(6, 4), torch.randn(3, 6)),
                                      (nn.Conv2d(3, 5, 3, padding=1), torch.randn(2, 3, 8, 8))])
def test_lora_starts_as_its_base_and_delta_weight_is_the_effective_change(layer, x):
    torch.manual_seed(0)
    lora = (LoRALinear if isinstance(layer, nn.Linear) else LoRAConv2d)(layer, r=2)
    with torch.no_grad():
        assert torch.equal(lora(x), layer(x))
        nn.init.normal_(lora.lora_b.weight)  # as if trained
        weight = layer.weight + lora.delta_weight()
        expected = (F.linear(x, weight, layer.bias) if isinstance(layer, nn.Linear)
                    else F.conv2d(x, weight, layer.bias, padding=1))
        assert torch.allclose(lora(x), expected, atol=1e-5)
    assert not any(p.requires_grad for p in lora.base.parameters())


def test_add_lora_wraps_every_conv_but_skips_the_head():
    model = add_lora(TinyResNet(num_classes=5), r=2)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    wrapped = [m for m in model.modules() if isinstance(m, LoRAConv2d)]
    assert type(model.fc) is nn.Linear and not model.fc.weight.requires_grad, "skipped, and frozen"
    assert len(convs) == 3 * len(wrapped), "each wrapper holds its base conv and two adapter convs"
    changes = lora_weight_change(model)
    assert set(changes) == {n for n, m in model.named_modules() if isinstance(m, LoRAConv2d)}
    assert max(changes.values()) == 0.0, "B starts at zero: nothing has moved"
