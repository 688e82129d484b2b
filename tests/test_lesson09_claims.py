"""The measured claims in the prose of lesson 09 (BitFit and LoRA): the recorded sweep `peft` and the runs
the lesson looks inside, with the lesson's own settings (`freezelab.lessons.l09_peft`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _claims import best, within_spread
from torch import nn

from freezelab.backbones import load_pretrained
from freezelab.device import seed_everything
from freezelab.lessons import l09_peft as lesson
from freezelab.lessons.l09_peft import COMPARED_PLANS, train_for_inspection
from freezelab.peft import LoRALinear, add_lora, lora_weight_change
from freezelab.plans import bitfit, build_model, trainable_count
from freezelab.sweeps import measured

CPU = "cpu"


pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


def test_09_lora_starts_as_the_base_model_and_counts_are_right():
    seed_everything(0)
    plain = load_pretrained(num_classes=5).eval()
    adapted = add_lora(load_pretrained(num_classes=5), r=4)
    adapted.fc.load_state_dict(plain.fc.state_dict())
    x = torch.randn(4, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(adapted.eval()(x), plain(x), atol=1e-6)
    counts = {m: trainable_count(build_model(m)) for m in COMPARED_PLANS}
    assert counts["linear_probe"] < counts["bitfit"] < counts["lora"] < counts["layer3+head"] < counts[
        "finetune"]
    assert counts["bitfit"] < 0.01 * counts["finetune"], "prose: BitFit under 1% of the network"
    assert 0.09 < counts["lora"] / counts["finetune"] < 0.12, "prose: LoRA trains about a tenth"
    bit = bitfit(load_pretrained())
    assert all(name.endswith("bias") == p.requires_grad for name, p in bit.named_parameters())


def test_09_lora_linear_trains_only_the_adapter():
    layer = LoRALinear(nn.Linear(6, 3), r=2)
    assert torch.count_nonzero(layer.lora_b.weight) == 0
    layer(torch.randn(5, 6)).sum().backward()
    assert layer.base.weight.grad is None and layer.lora_b.weight.grad is not None


def test_09_fair_learning_rates_change_the_verdict_on_full_fine_tuning():
    runs = measured(lesson.SWEEP)
    acc = best(lesson.SWEEP)
    assert acc["finetune", 20]["lr"] == 1e-3 and acc["finetune", 40]["lr"] == 3e-3, "prose: its best rates"
    rows_40 = [r for (m, e), r in acc.items() if e == 40]
    assert acc["finetune", 40]["mean_acc"] == max(r["mean_acc"] for r in rows_40), "prose: most accurate at 40"
    assert acc["finetune", 40]["std_acc"] == min(r["std_acc"] for r in rows_40), "...with the smallest spread"
    shared = {m: np.mean([r.test_acc for r in runs if r.recipe == m and r.lr == 1e-2 and r.epochs == 20])
              for m in COMPARED_PLANS}
    assert abs(shared["finetune"] - 0.51) < 0.01, "prose: about 0.51 at 1e-2"
    assert shared["finetune"] == min(shared.values()), "prose: a shared 1e-2 would have put it last"


def test_09_lora_bitfit_and_the_probe():
    acc = best(lesson.SWEEP)
    for rival in ("finetune", "layer3+head"):
        assert abs(acc["lora", 20]["mean_acc"] - acc[rival, 20]["mean_acc"]) < 0.02, "prose: within 0.02"
        assert within_spread(acc["lora", 20], acc[rival, 20])
        assert acc[rival, 40]["mean_acc"] > 0.88, "prose: kept improving to about 0.90"
    assert abs(acc["lora", 40]["mean_acc"] - 0.80) < 0.01, "prose: LoRA stayed near 0.80"
    for epochs in (20, 40):
        assert within_spread(acc["bitfit", epochs], acc["linear_probe", epochs]), "prose: within spread"


def test_09_lora_effective_weight_moves():
    lr = best(lesson.SWEEP)["lora", 20]["lr"]
    model = train_for_inspection("lora", lr, CPU)
    changes = lora_weight_change(model)
    assert len(changes) == 9 and min(changes.values()) > 0.14, "prose: every one moved by 15% or more"
    before = load_pretrained().state_dict()
    for name, module in model.named_modules():
        if name in changes:
            assert torch.equal(module.base.weight, before[f"{name}.weight"]), "the stored base stays frozen"
    full = train_for_inspection("finetune", best(lesson.SWEEP)["finetune", 20]["lr"], CPU)
    after = full.state_dict()
    full_changes = {n: ((after[f"{n}.weight"] - before[f"{n}.weight"]).norm() / before[f"{n}.weight"].norm())
                    .item() for n in changes}
    assert sum(changes[n] > full_changes[n] for n in changes) >= 6, "prose: in most layers more than full FT"
