"""freezelab.plans: the freezing API and the registry of named plans (what trains)."""

from __future__ import annotations

import pytest
import torch

from freezelab.backbones import TinyResNet, load_pretrained
from freezelab.plans import (
    BACKBONE_STAGES,
    PLANS,
    bitfit,
    build_model,
    eval_frozen_batchnorm,
    train_only,
    trainable_count,
    trainable_parameters,
)


def trained_stages(model) -> set[str]:
    return {name.split(".")[0] for name, p in model.named_parameters() if p.requires_grad}


def test_train_only_leaves_only_named_modules_trainable():
    model = train_only(TinyResNet(), ["layer3", "fc"])
    names = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert names == {"layer3", "fc"}
    assert len(trainable_parameters(model)) == sum(p.requires_grad for p in model.parameters())


def test_train_only_rejects_unknown_module():
    with pytest.raises(AttributeError):
        train_only(TinyResNet(), ["layer9"])


def test_frozen_bn_to_eval_only_touches_frozen_batchnorm():
    model = train_only(TinyResNet(), ["layer3", "fc"]).train()
    eval_frozen_batchnorm(model)
    assert not model.bn1.training and not model.layer2.bn2.training
    assert model.layer3.bn1.training and model.dropout.training


def test_trainable_count_counts_elements_not_tensors():
    model = train_only(TinyResNet(num_classes=5), ["fc"])
    assert trainable_count(model) == 64 * 5 + 5 and len(trainable_parameters(model)) == 2


@pytest.mark.parametrize("name", [n for n, p in PLANS.items() if p.rule == "stages"])
def test_each_plan_trains_exactly_its_stages_and_the_head(name):
    model = build_model(name, num_classes=5)
    assert trained_stages(model) == set(PLANS[name].trains) | {"fc"}
    if name not in ("scratch", "finetune"):  # names say what trains
        assert name == "linear_probe" or name.endswith("+head")


def test_pretrained_plans_start_from_the_checkpoint_with_a_new_head_and_scratch_does_not():
    reference = load_pretrained()
    probe = build_model("linear_probe", 5)
    assert torch.equal(probe.layer1.conv1.weight, reference.layer1.conv1.weight)
    assert not torch.equal(probe.fc.weight, reference.fc.weight), "every plan gets a new head"
    kept = build_model("linear_probe", 5, keep_head=True)
    assert torch.equal(kept.fc.weight, reference.fc.weight), "keep_head keeps the source head"
    assert not torch.equal(build_model("scratch", 5).layer1.conv1.weight, reference.layer1.conv1.weight)


def test_bitfit_and_lora_plans_train_their_small_sets_and_the_head():
    bit = build_model("bitfit", 5)
    assert all(name.endswith("bias") or name.startswith("fc.") for name, p in bit.named_parameters()
               if p.requires_grad)
    assert all(p.requires_grad == n.endswith("bias") for n, p in bitfit(TinyResNet()).named_parameters())
    lora = build_model("lora", 5, r=2)
    assert {n.split(".")[-2] for n, p in lora.named_parameters() if p.requires_grad} <= {"lora_a", "lora_b", "fc"}
    assert trainable_count(bit) < trainable_count(lora) < trainable_count(build_model("finetune", 5))
    assert set(BACKBONE_STAGES) < {name for name, _ in TinyResNet().named_children()}


def test_unknown_plan_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown plan 'everything_frozen': choose one of scratch"):
        build_model("everything_frozen")
