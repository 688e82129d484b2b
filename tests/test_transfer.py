"""Transfer strategies freeze what they say, keep frozen weights intact, and the checkpoint really helps."""

import statistics

import pytest
import torch

from freezelab.backbones import load_pretrained
from freezelab.data import few_shot, target_task
from freezelab.transfer import (
    BACKBONE_STAGES,
    STRATEGIES,
    build_for_strategy,
    compare,
    run_strategy,
    summarise,
    train_strategy,
)


def trained_stages(model) -> set[str]:
    return {name.split(".")[0] for name, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_each_strategy_trains_exactly_its_stages_and_the_head(strategy):
    model = build_for_strategy(strategy, num_classes=5)
    _, stages = STRATEGIES[strategy]
    expected = {s for s in stages if s != "relu"} | {"fc"}
    assert trained_stages(model) == expected


def test_pretrained_strategies_start_from_the_checkpoint_and_scratch_does_not():
    reference = load_pretrained().layer1.conv1.weight
    assert torch.equal(build_for_strategy("linear_probe", 5).layer1.conv1.weight, reference)
    assert not torch.equal(build_for_strategy("scratch", 5).layer1.conv1.weight, reference)


def test_new_classes_get_a_fresh_head_and_input_shifts_keep_the_source_head():
    source_head = load_pretrained().fc.weight
    assert not torch.equal(build_for_strategy("linear_probe", 5, keep_head=False).fc.weight, source_head)
    assert torch.equal(build_for_strategy("linear_probe", 5, keep_head=True).fc.weight, source_head)


def test_unknown_strategy_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown strategy 'freeze_everything'"):
        run_strategy("freeze_everything")


def test_linear_probe_leaves_backbone_weights_and_bn_statistics_bit_identical():
    before = {k: v.clone() for k, v in load_pretrained().state_dict().items()}
    model = train_strategy("linear_probe", few_shot(target_task("new_digits"), 3, seed=0), epochs=3,
                           device="cpu")
    after = model.state_dict()
    backbone_keys = [k for k in before if k.split(".")[0] in BACKBONE_STAGES]
    assert backbone_keys and all(torch.equal(before[k], after[k]) for k in backbone_keys)
    assert after["fc.weight"].shape == (5, 64)


def test_first_block_changes_first_block_only():
    before = load_pretrained().state_dict()
    model = train_strategy("first_block", few_shot(target_task("inverted"), 3, seed=0), epochs=3, device="cpu")
    after = model.state_dict()
    assert not torch.equal(before["conv1.weight"], after["conv1.weight"])
    assert torch.equal(before["layer3.conv2.weight"], after["layer3.conv2.weight"])
    assert torch.equal(before["layer3.bn2.running_mean"], after["layer3.bn2.running_mean"])


def test_summarise_groups_runs_and_reports_spread():
    rows = summarise(compare(("linear_probe",), ("new_digits",), ks=(2,), seeds=(0, 1), epochs=2,
                             device="cpu", progress=False))
    assert len(rows) == 1 and rows[0]["runs"] == 2 and 0.0 <= rows[0]["mean_acc"] <= 1.0
    assert rows[0]["trainable"] == 64 * 5 + 5


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_pretrained_backbone_beats_training_from_scratch_with_five_labels_per_class():
    """The honest-transfer claim: fine-tuning from the checkpoint beats scratch clearly, over five seeds."""
    seeds = range(5)
    scratch = [run_strategy("scratch", "new_digits", 5, s, device="cpu").test_acc for s in seeds]
    partial = [run_strategy("partial", "new_digits", 5, s, device="cpu").test_acc for s in seeds]
    finetune = [run_strategy("finetune", "new_digits", 5, s, device="cpu").test_acc for s in seeds]
    margin = statistics.fmean(partial) - statistics.fmean(scratch)
    assert margin >= 0.04, f"partial fine-tuning {partial} vs scratch {scratch}"
    assert sum(p > s for p, s in zip(partial, scratch, strict=True)) >= 3
    assert statistics.fmean(finetune) > statistics.fmean(scratch)
    # Lesson 04: with this longer budget, scratch overtakes the frozen-backbone linear probe.
    probe = [run_strategy("linear_probe", "new_digits", 5, s, device="cpu").test_acc for s in seeds]
    assert statistics.fmean(scratch) > statistics.fmean(probe)
