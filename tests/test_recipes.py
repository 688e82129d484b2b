"""freezelab.recipes: recipes freeze what their plans say, keep frozen weights intact, evaluate one run at
several budgets, and `summarise` picks each recipe's learning rate on validation."""

from __future__ import annotations

import pytest
import torch

from freezelab.backbones import load_pretrained
from freezelab.data import few_shot, target_task
from freezelab.plans import BACKBONE_STAGES
from freezelab.recipes import (
    RECIPES,
    build,
    compare,
    discriminative_groups,
    lr_grid,
    run,
    summarise,
    train,
    train_recipe,
)


def test_every_recipe_names_a_plan_and_lp_ft_ends_training_everything():
    model = build("lp_ft", 5)
    assert all(p.requires_grad for p in model.parameters())
    assert {RECIPES[name].phases for name in RECIPES} == {"single", "lp_ft", "two_phase", "gradual",
                                                          "discriminative"}
    assert lr_grid("linear_probe") != lr_grid("finetune") and lr_grid("bitfit") == lr_grid("linear_probe")


def test_phased_recipes_refuse_budgets():
    task = few_shot(target_task("new_digits"), 1, seed=0)
    with pytest.raises(ValueError, match="takes no budgets"):
        train(build("two_phase", 5, keep_head=True), task, "two_phase", torch.Generator(), epochs=2,
              device="cpu", budgets=(1,))


def test_discriminative_groups_shrink_the_rate_going_down():
    groups = discriminative_groups(load_pretrained(num_classes=5), head_lr=1.0, factor=2.0)
    assert [g["lr"] for g in groups] == [1.0, 0.5, 0.25, 0.125]


def test_unknown_recipe_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown recipe 'freeze_everything'"):
        run("freeze_everything")


def test_linear_probe_leaves_backbone_weights_and_bn_statistics_bit_identical():
    before = {k: v.clone() for k, v in load_pretrained().state_dict().items()}
    model = train_recipe("linear_probe", few_shot(target_task("new_digits"), 3, seed=0), epochs=3,
                           device="cpu")
    after = model.state_dict()
    backbone_keys = [k for k in before if k.split(".")[0] in BACKBONE_STAGES]
    assert backbone_keys and all(torch.equal(before[k], after[k]) for k in backbone_keys)
    assert after["fc.weight"].shape == (5, 64)


def test_first_block_changes_first_block_only():
    before = load_pretrained().state_dict()
    model = train_recipe("stem+layer1+head", few_shot(target_task("inverted"), 3, seed=0), epochs=3,
                           device="cpu")
    after = model.state_dict()
    assert not torch.equal(before["conv1.weight"], after["conv1.weight"])
    assert torch.equal(before["layer3.conv2.weight"], after["layer3.conv2.weight"])
    assert torch.equal(before["layer3.bn2.running_mean"], after["layer3.bn2.running_mean"])


def test_budgets_are_checkpoints_of_one_run():
    both = run("layer3+head", "new_digits", k=2, seed=0, epochs=4, lr=3e-3, device="cpu", budgets=(2,))
    short = run("layer3+head", "new_digits", k=2, seed=0, epochs=2, lr=3e-3, device="cpu")
    assert [r.epochs for r in both] == [2, 4]
    assert both[0].test_acc == short[0].test_acc and both[0].val_acc == short[0].val_acc
    with pytest.raises(ValueError, match="head alone"):
        run("lp_ft", epochs=20, budgets=(5,), device="cpu")


def test_summarise_picks_the_lr_on_validation_and_reports_test_spread():
    results = compare(("linear_probe",), ("new_digits",), ks=(2,), seeds=(0, 1), epochs=2, lrs={
        "linear_probe": (1e-4, 3e-2)}, device="cpu", progress=False)
    rows = summarise(results)
    assert len(rows) == 1 and rows[0]["runs"] == 2 and rows[0]["lrs_tried"] == [1e-4, 3e-2]
    val = {lr: sum(r.val_acc for r in results if r.lr == lr) for lr in (1e-4, 3e-2)}
    assert rows[0]["lr"] == max(val, key=val.get)
    chosen = [r.test_acc for r in results if r.lr == rows[0]["lr"]]
    assert rows[0]["test_accs"] == chosen and rows[0]["trainable"] == 64 * 5 + 5
