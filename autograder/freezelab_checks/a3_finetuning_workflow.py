"""Hidden checks for assignment a3_finetuning_workflow: BatchNorm-safe freezing, gradual unfreezing, and a
short two-phase fine-tuning run on the offline digits that must reach a target accuracy."""

from __future__ import annotations

import random
from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from ._common import (
    build,
    call,
    describe,
    expect,
    for_all,
    hidden_check,
    multiple_choice_checks,
    net_specs,
    short,
    snapshot,
)

TARGET_TASK = "new_digits"
TARGET_ACCURACY = 0.85  # the reference reaches about 0.95; training the head alone about 0.7
FROZEN_STAGES = ("conv1", "bn1", "layer1", "layer2")


def _bn_layers(model: nn.Module) -> dict[str, nn.Module]:
    return {n: m for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}


def _expect_modes(model: nn.Module, where: str) -> None:
    """Frozen BatchNorm in eval mode; trainable BatchNorm and every dropout still in train mode."""
    for name, bn in _bn_layers(model).items():
        frozen = not any(p.requires_grad for p in bn.parameters())
        if frozen:
            expect(not bn.training, f"{where}: the frozen BatchNorm `{name}` is still in train mode, so its "
                                    f"running statistics keep changing. Model: {describe(model)}")
        else:
            expect(bn.training, f"{where}: the trainable BatchNorm `{name}` was put in eval mode; only frozen "
                                f"ones should be. Model: {describe(model)}")
    for name, m in model.named_modules():
        if isinstance(m, nn.Dropout):
            expect(m.training, f"{where}: dropout `{name}` was switched off (eval mode); keep it training. "
                               "model.eval() is too blunt here.")


def _running_stats_moved(model: nn.Module, before: dict[str, torch.Tensor]) -> set[str]:
    after = snapshot(model)
    return {n.rsplit(".", 1)[0] for n in before if n.endswith("running_mean") and not torch.equal(before[n], after[n])}


@hidden_check("set_frozen_bn_eval", points=2)
def check_set_frozen_bn_eval(set_frozen_bn_eval: Any) -> None:
    """Random models: frozen BN stops updating its statistics, trainable BN and dropout keep training."""

    def body(spec) -> None:
        model = build(spec)
        rng = random.Random(spec.seed)
        for m in model.modules():
            if not list(m.children()):
                m.requires_grad_(rng.random() < 0.5)
        model.train()
        result = call(set_frozen_bn_eval, "set_frozen_bn_eval", model)
        expect(result is model, "set_frozen_bn_eval should return the model it was given.")
        _expect_modes(model, "after set_frozen_bn_eval(model)")
        before = snapshot(model)
        with torch.no_grad():
            model(torch.randn(8, spec.width) * 3 + 1)
        moved = _running_stats_moved(model, before)
        frozen_bn = {n for n, bn in _bn_layers(model).items() if not any(p.requires_grad for p in bn.parameters())}
        expect(not moved & frozen_bn, f"the running statistics of frozen BatchNorm {short(moved & frozen_bn)} "
                                      "changed during a forward pass in training.")

    bn_specs = net_specs().filter(lambda s: "bn" in repr(s.layers))
    for_all(bn_specs, body)


@hidden_check("set_frozen_bn_eval")
def check_set_frozen_bn_eval_conv(set_frozen_bn_eval: Any) -> None:
    """Works for BatchNorm2d in a CNN (the course backbone), with a partly frozen network."""
    from freezelab.backbones import TinyResNet

    model = TinyResNet(num_classes=5)
    model.requires_grad_(False)
    model.layer3.requires_grad_(True)
    model.fc.requires_grad_(True)
    model.train()
    call(set_frozen_bn_eval, "set_frozen_bn_eval", model)
    _expect_modes(model, "for a TinyResNet with layer3 and fc trainable")


@hidden_check("set_frozen_bn_eval")
def check_set_frozen_bn_eval_partly_frozen(set_frozen_bn_eval: Any) -> None:
    """Judged from all of a BatchNorm's parameters (not the weight alone); a BatchNorm given on its own counts."""
    model = nn.Sequential(OrderedDict(lin=nn.Linear(4, 4), weight_frozen=nn.BatchNorm1d(4),
                                      bias_frozen=nn.BatchNorm1d(4), head=nn.Linear(4, 2))).train()
    model.weight_frozen.weight.requires_grad_(False)
    model.bias_frozen.bias.requires_grad_(False)
    call(set_frozen_bn_eval, "set_frozen_bn_eval", model)
    for name in ("weight_frozen", "bias_frozen"):
        expect(getattr(model, name).training, f"a BatchNorm with a frozen {name.split('_')[0]} but a trainable "
                                              f"{'bias' if name == 'weight_frozen' else 'weight'} was put in eval "
                                              "mode: only BatchNorm whose parameters are *all* frozen goes to eval "
                                              "(look at every parameter, not the weight alone).")
    bn = nn.BatchNorm2d(3).requires_grad_(False).train()
    call(set_frozen_bn_eval, "set_frozen_bn_eval", bn)
    expect(not bn.training, "set_frozen_bn_eval(bn) on a frozen BatchNorm2d itself left it in train mode: "
                            "model.modules() includes the model itself, model.children() does not.")


def _stages() -> nn.Sequential:
    torch.manual_seed(1)

    def stage(width: int) -> nn.Sequential:
        return nn.Sequential(OrderedDict(lin=nn.Linear(width, width), bn=nn.BatchNorm1d(width), act=nn.ReLU()))

    return nn.Sequential(OrderedDict(layer1=stage(6), layer2=stage(6), layer3=stage(6),
                                     drop=nn.Dropout(0.2), fc=nn.Linear(6, 3)))


def _head_only(model: nn.Module, momentum: float = 0.9) -> torch.optim.Optimizer:
    model.requires_grad_(False)
    model.fc.requires_grad_(True)
    optimizer = torch.optim.SGD(model.fc.parameters(), lr=0.1, momentum=momentum)
    optimizer.zero_grad()
    model(torch.randn(4, 6)).pow(2).mean().backward()
    optimizer.step()  # the head now has momentum state that must survive
    return optimizer


def _group_ids(optimizer: torch.optim.Optimizer) -> list[set[int]]:
    return [{id(p) for p in g["params"]} for g in optimizer.param_groups]


@hidden_check("unfreeze_and_add", points=2)
def check_unfreeze_and_add(unfreeze_and_add: Any) -> None:
    """The named block trains again and joins the same optimizer as a new group at the given rate."""
    model = _stages().train()
    optimizer = _head_only(model)
    head_state = {id(p) for p in optimizer.state}
    call(unfreeze_and_add, "unfreeze_and_add", model, optimizer, "layer3", 0.01)
    frozen = {f"layer3.{n}" for n, p in model.layer3.named_parameters() if not p.requires_grad}
    expect(not frozen, f"after unfreeze_and_add(model, optimizer, 'layer3', 0.01), {short(frozen)} are still "
                       "frozen.")
    groups = _group_ids(optimizer)
    layer3 = {id(p) for p in model.layer3.parameters()}
    expect(len(groups) == 2, f"the optimizer should now have 2 param groups (the head's and a new one for "
                             f"layer3), but it has {len(groups)}. Add a group to the optimizer you were given.")
    lacking = sorted(set(optimizer.defaults) - set(optimizer.param_groups[1]))
    expect(not lacking, f"the new param group has no {short(lacking)} setting: a dict appended to "
                        "optimizer.param_groups misses the optimizer's defaults, and the next step() fails. Use "
                        "optimizer.add_param_group({'params': ..., 'lr': lr}), which fills them in.")
    expect(groups[1] == layer3, "the new param group should hold exactly layer3's parameters.")
    expect(optimizer.param_groups[1]["lr"] == 0.01, f"the new group's lr should be 0.01, got "
                                                    f"{optimizer.param_groups[1]['lr']}.")
    expect(optimizer.param_groups[0]["lr"] == 0.1, "the head's group must keep its own learning rate.")
    expect(head_state <= {id(p) for p in optimizer.state}, "the head's momentum state was lost: keep using the "
                                                           "same optimizer instead of building a new one.")
    before = snapshot(model)
    optimizer.zero_grad()
    model(torch.randn(4, 6)).pow(2).mean().backward()
    optimizer.step()
    moved = {n.rsplit(".", 2)[0] for n, t in snapshot(model).items() if not torch.equal(t, before[n])
             and not n.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    expect(moved == {"layer3", "fc"}, f"after unfreezing layer3, a step should move layer3 and fc only, but it "
                                      f"moved {short(moved) or 'nothing'}.")


@hidden_check("unfreeze_and_add")
def check_unfreeze_and_add_twice(unfreeze_and_add: Any) -> None:
    """Unfreezing a block whose parameters the optimizer already holds adds nothing twice."""
    model = _stages()
    optimizer = _head_only(model)
    call(unfreeze_and_add, "unfreeze_and_add", model, optimizer, "layer3", 0.01)
    call(unfreeze_and_add, "unfreeze_and_add", model, optimizer, "layer3", 0.01)
    call(unfreeze_and_add, "unfreeze_and_add", model, optimizer, "layer2.lin", 0.005)
    ids = [i for g in _group_ids(optimizer) for i in g]
    expect(len(ids) == len(set(ids)), "a parameter ended up in two param groups.")
    expect(len(optimizer.param_groups) == 3, f"after unfreezing layer3 twice and then layer2.lin, expected 3 groups "
                                             f"(head, layer3, layer2.lin), got {len(optimizer.param_groups)}.")
    expect(_group_ids(optimizer)[2] == {id(p) for p in model.layer2.lin.parameters()},
           "the group for 'layer2.lin' should hold exactly that submodule's parameters (dotted names work).")


@hidden_check("gradual_unfreezer", points=2)
def check_gradual_unfreezer(gradual_unfreezer: Any) -> None:
    """Epoch by epoch: the scheduled blocks unfreeze on time, join the optimizer, and frozen BN stays in eval."""
    model = _stages()
    optimizer = _head_only(model)
    hook = call(gradual_unfreezer, "gradual_unfreezer", optimizer, {1: "layer3", 3: "layer2"}, 0.02)
    expect(callable(hook), "gradual_unfreezer should return a function before_epoch(model, epoch).")
    expected_trainable = {0: {"fc"}, 1: {"fc", "layer3"}, 2: {"fc", "layer3"}, 3: {"fc", "layer3", "layer2"},
                          4: {"fc", "layer3", "layer2"}}
    for epoch, stages in expected_trainable.items():
        model.train()
        call(hook, "the hook from gradual_unfreezer", model, epoch)
        trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
        expect(trainable == stages, f"after the hook for epoch {epoch} (schedule {{1: 'layer3', 3: 'layer2'}}), "
                                    f"the trainable blocks should be {short(stages)}, got {short(trainable)}.")
        expect(len(optimizer.param_groups) == len(stages), f"after epoch {epoch}'s hook the optimizer should have "
                                                           f"{len(stages)} param groups, got "
                                                           f"{len(optimizer.param_groups)}.")
        expect(all(g["lr"] == 0.02 for g in optimizer.param_groups[1:]), "unfrozen blocks should join with "
                                                                          "lr=0.02.")
        _expect_modes(model, f"after the hook for epoch {epoch}")


# ---------------------------------------------------------------------------------------------------------
# The two-phase run on real (offline) data
# ---------------------------------------------------------------------------------------------------------

# One training run per learner function, shared by the two checks. Keyed by the function itself (not its id,
# which Python may reuse once a function is freed).
_RUNS: dict[Any, dict[str, Any]] = {}


def _two_phase_run(two_phase_finetune: Any) -> dict[str, Any]:
    if two_phase_finetune in _RUNS:
        return _RUNS[two_phase_finetune]
    from freezelab.backbones import load_pretrained
    from freezelab.data import loaders, target_task

    task = target_task(TARGET_TASK)
    torch.manual_seed(0)
    model = load_pretrained(num_classes=5)
    model.fc = nn.Linear(model.fc.in_features, task.num_classes)  # a fresh head for the new classes
    before = snapshot(model)
    train = loaders(task, batch_size=32, seed=0)["train"]
    result = call(two_phase_finetune, "two_phase_finetune", model, train)
    expect(result is model, "two_phase_finetune should train the model it was given and return it.")
    model.cpu()  # a learner may have trained on a GPU; moving back does not change any value
    after = snapshot(model)
    model.eval()
    with torch.no_grad():
        accuracy = (model(task.x_test).argmax(1) == task.y_test).float().mean().item()
    run = {"before": before, "after": after, "accuracy": accuracy}
    _RUNS[two_phase_finetune] = run
    return run


@hidden_check("two_phase_finetune", points=3)
def check_two_phase_finetune_frozen(two_phase_finetune: Any) -> None:
    """conv1, bn1, layer1, layer2 (weights and BatchNorm statistics) stay bit-identical; layer3 and fc learn."""
    run = _two_phase_run(two_phase_finetune)
    changed_names = {n for n in run["before"] if not torch.equal(run["before"][n], run["after"][n])}
    drifted = {n for n in changed_names if n.split(".")[0] in FROZEN_STAGES}
    stats = {n for n in drifted if "running" in n or "num_batches" in n}
    expect(not stats, f"the BatchNorm statistics of frozen layers changed ({short(stats)}): frozen BatchNorm "
                      "must be in eval mode while the rest of the model trains.")
    expect(not drifted, f"layers that should stay frozen changed during training: {short(drifted)}.")
    for stage in ("layer3", "fc"):
        expect(any(n.startswith(stage + ".") for n in changed_names),
               f"`{stage}` did not change at all: it should be trained (check what the optimizer holds).")


@hidden_check("two_phase_finetune", points=3)
def check_two_phase_finetune_accuracy(two_phase_finetune: Any) -> None:
    """The fine-tuned model reaches the target accuracy on the held-out digits 5-9."""
    run = _two_phase_run(two_phase_finetune)
    expect(run["accuracy"] >= TARGET_ACCURACY,
           f"after two_phase_finetune the test accuracy on digits 5-9 is {run['accuracy']:.1%}; it should reach "
           f"{TARGET_ACCURACY:.0%}. Check that phase 2 really trains layer3 (and that the head trains in phase 1).")


def _prescribed_run(model: nn.Module, loader: Any, head_epochs: int, finetune_epochs: int, head_lr: float,
                    finetune_lr: float) -> None:
    """What the specification prescribes: one SGD optimizer; layer3 joins it as a new group in phase 2."""
    model.requires_grad_(False)
    model.fc.requires_grad_(True)
    optimizer = torch.optim.SGD(model.fc.parameters(), lr=head_lr, momentum=0.9)
    for epoch in range(head_epochs + finetune_epochs):
        if epoch == head_epochs:
            model.layer3.requires_grad_(True)
            optimizer.add_param_group({"params": list(model.layer3.parameters()), "lr": finetune_lr})
        model.train()
        for bn in _bn_layers(model).values():
            if not any(p.requires_grad for p in bn.parameters()):
                bn.eval()
        for x, y in loader:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()


def _update_gap(start: dict, got: dict, want: dict, stage: str) -> float:
    """How far the learner's update of `stage` is from the prescribed one, relative to the latter's size."""
    names = [n for n in start if n.startswith(stage + ".") and "running" not in n and "num_batches" not in n]
    diff = sum(float((got[n] - want[n]).double().pow(2).sum()) for n in names) ** 0.5
    size = sum(float((want[n] - start[n]).double().pow(2).sum()) for n in names) ** 0.5
    return diff / max(size, 1e-12)


@hidden_check("two_phase_finetune", points=2)
def check_two_phase_finetune_schedule(two_phase_finetune: Any) -> None:
    """Phase 2 adds layer3 to the same optimizer at finetune_lr: the head keeps its momentum, layer3 its rate."""
    import copy

    from torch.utils.data import DataLoader, TensorDataset

    from freezelab.backbones import load_pretrained
    from freezelab.data import target_task

    task = target_task(TARGET_TASK)
    torch.manual_seed(0)
    model = load_pretrained(num_classes=5)
    model.fc = nn.Linear(model.fc.in_features, task.num_classes)
    model.dropout.p = 0.0  # no random masks: the learner's run and the prescribed one see the same numbers
    loader = DataLoader(TensorDataset(task.x_train[:96], task.y_train[:96]), batch_size=32)
    reference = copy.deepcopy(model)
    start = snapshot(model)
    settings = dict(head_epochs=1, finetune_epochs=2, head_lr=0.05, finetune_lr=0.02)
    result = call(two_phase_finetune, "two_phase_finetune", model, loader, **settings)
    expect(result is model, "two_phase_finetune should train the model it was given and return it.")
    _prescribed_run(reference, loader, **settings)
    got, want = snapshot(model.cpu()), snapshot(reference)
    gap = _update_gap(start, got, want, "layer3")
    expect(gap < 1e-3, f"with finetune_lr=0.02, layer3 did not learn as prescribed (its updates differ by "
                       f"{gap:.0%} from layer3 joining the optimizer as a new param group at lr=finetune_lr in "
                       "phase 2, with its BatchNorm training): check the new group's learning rate.")
    gap = _update_gap(start, got, want, "fc")
    expect(gap < 1e-3, f"the head did not train as prescribed (its updates differ by {gap:.0%} from one SGD "
                       "optimizer, momentum 0.9, kept from phase 1 to phase 2 at head_lr). A new optimizer in "
                       "phase 2 throws the head's momentum away: add layer3 to the existing one "
                       "(unfreeze_and_add).")


# Multiple choice (questions, keys and hints: assignments/a3_finetuning_workflow/spec.py)
check_answer_q1, check_answer_q2, check_answer_q3 = multiple_choice_checks(__name__, "a3_finetuning_workflow")
