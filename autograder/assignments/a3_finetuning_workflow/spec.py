"""Assignment 3: a fine-tuning workflow (BatchNorm-safe freezing, gradual unfreezing, a two-phase run)."""

from ..records import answer, free, hidden, mcq, md, public, setup

CELLS = [
    md("""
# Assignment 3: a fine-tuning workflow

You will fine-tune the course's pretrained `TinyResNet` (trained on digits 0-4) to recognise digits 5-9, the
careful way: the head first, then the top block, with BatchNorm handled so that frozen layers really stay frozen.

**Rules.** Plain PyTorch (graded answers that call the course package's helpers, such as `freezelab.inspect` or
`freezelab.plans`, lose the points; `freezelab.data` and `freezelab.backbones` are fine to use for experiments). Keep names and signatures. The run at
the end takes a few seconds on a laptop CPU. Hidden tests run your functions on other models and check the trained
weights bit by bit; run `freezelab check` on this notebook before you submit.
"""),
    setup("""
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader

from freezelab.backbones import TinyResNet, load_pretrained
from freezelab.data import loaders, target_task

torch.manual_seed(0)
"""),
    *mcq("ANSWER_Q1", text="""
## 0. Before you start: predict (multiple choice)

Commit to an answer before you write any code; section 2 shows what really happens. Answer with one letter as a
string, e.g. `ANSWER_Q1 = "a"`.

**Q1.** A ResNet's backbone is frozen with `requires_grad_(False)` and the new head trains with the model in
`model.train()` mode. What happens to the backbone's BatchNorm layers?

* a) Nothing: frozen means nothing in the backbone changes.
* b) Their weight and bias stay fixed, but their running mean and variance keep moving towards the new data.
* c) Their weight and bias are updated, because BatchNorm ignores `requires_grad`.
* d) PyTorch raises an error because frozen BatchNorm cannot run in train mode.
""", key="b", hint="Which tensors of a BatchNorm layer are not parameters, and when are they updated?",
         wrong={"a": "requires_grad=False freezes everything in a BatchNorm layer, running statistics included"}),
    md("""
## 1. Unfreeze a block and tell the optimizer

An optimizer only ever updates the tensors it was given when it was built. Unfreezing a block later is therefore
two steps: set `requires_grad` back to `True`, and add the block's parameters to the **same** optimizer as a new
param group (`optimizer.add_param_group`), so the state of the groups already there (momentum) is kept.

`unfreeze_and_add(model, optimizer, name, lr)` does both for the submodule with dotted name `name` (for example
`"layer3"` or `"layer2.0"`), with learning rate `lr` for the new group. Parameters the optimizer already holds
are not added again; when it already holds all of them (for example when the same block is unfrozen twice), no
group is added at all, not even an empty one, and the existing groups keep their learning rates. It returns
nothing.
"""),
    answer("unfreeze_and_add"),
    public("unfreeze_and_add", """
net = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2)).requires_grad_(False)
net[1].requires_grad_(True)
opt = torch.optim.SGD(net[1].parameters(), lr=0.1)
unfreeze_and_add(net, opt, "0", 0.01)
assert len(opt.param_groups) == 2, f"expected 2 param groups (the old one and the new block), got {len(opt.param_groups)}"
assert opt.param_groups[1]["lr"] == 0.01, f"the new group's lr is {opt.param_groups[1]['lr']}, not 0.01"
frozen = [n for n, p in net.named_parameters() if not p.requires_grad]
assert not frozen, f"still frozen after unfreeze_and_add: {frozen}"
"""),
    hidden("unfreeze_and_add"),
    md("""
## 2. Freeze BatchNorm safely

A BatchNorm layer keeps *running statistics* (`running_mean`, `running_var`). They are buffers, not parameters:
`requires_grad=False` does not stop them, and in train mode every batch moves them. To keep a frozen BatchNorm
layer really frozen, put it in eval mode (some libraries, fastai and Lightning among them, leave BatchNorm trainable
by default instead). `model.train()` switches every layer back to train mode, so this has to be re-applied after it.

`set_frozen_bn_eval(model)` puts every BatchNorm layer (1d, 2d or 3d) whose parameters are all frozen into eval
mode, leaves every other layer as it is (trainable BatchNorm, and dropout, keep training), and returns the model.
"""),
    answer("set_frozen_bn_eval"),
    public("set_frozen_bn_eval", """
net = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3), nn.Dropout(), nn.Linear(3, 2), nn.BatchNorm1d(2))
net[1].requires_grad_(False)
set_frozen_bn_eval(net.train())
modes = [m.training for m in net]
assert modes == [True, False, True, True, True], (
    f"training flags {modes}; only the frozen BatchNorm (index 1) should be in eval mode")
"""),
    hidden("set_frozen_bn_eval"),
    md("""
## 3. A gradual-unfreezing schedule

ULMFiT (Howard & Ruder 2018) unfreezes a pretrained network gradually: from the top down, one more layer group
per epoch. (fastai's `fine_tune` and Lightning's `BackboneFinetuning` are two-phase instead: the head alone, then
the whole backbone at once.) `gradual_unfreezer(optimizer, schedule, lr)` returns a function
`before_epoch(model, epoch)` to be called at the start of every epoch, right after `model.train()`
(`freezelab.training.fit` accepts it as `before_epoch=`). When `epoch` is a key of `schedule` (a dict such as
`{2: "layer3", 4: "layer2"}`), it unfreezes that block with `unfreeze_and_add` at learning rate `lr`; at every epoch
it puts frozen BatchNorm back in eval mode with `set_frozen_bn_eval`.
"""),
    answer("gradual_unfreezer"),
    public("gradual_unfreezer", """
net = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2)).requires_grad_(False)
net[1].requires_grad_(True)
opt = torch.optim.SGD(net[1].parameters(), lr=0.1)
hook = gradual_unfreezer(opt, {1: "0"}, 0.01)
hook(net, 0)
assert len(opt.param_groups) == 1, "epoch 0 is not in the schedule: nothing should be unfrozen yet"
hook(net, 1)
assert len(opt.param_groups) == 2, "at epoch 1 the schedule unfreezes block '0': a new param group is expected"
"""),
    hidden("gradual_unfreezer"),
    md("""
## 4. Two-phase fine-tuning

`two_phase_finetune(model, train_loader, head_epochs=3, finetune_epochs=3, head_lr=0.05, finetune_lr=0.01)`
fine-tunes a `TinyResNet` whose `fc` head is new:

1. **Phase 1** (`head_epochs` epochs): only `fc` trains, with SGD (momentum 0.9) at `head_lr`.
2. **Phase 2** (`finetune_epochs` more epochs): `layer3` is unfrozen and joins the optimizer at `finetune_lr`; the
   head keeps training.

Use cross-entropy loss and train in `model.train()` mode with frozen BatchNorm in eval mode. `conv1`, `bn1`,
`layer1` and `layer2` must come out **bit-identical**, BatchNorm statistics included. Return the model (in eval
mode). The hidden tests run it on digits 5-9 and expect a clearly better accuracy than training the head alone.
"""),
    answer("two_phase_finetune"),
    public("two_phase_finetune", """
task = target_task("new_digits")
model = load_pretrained(num_classes=5)
model.fc = nn.Linear(model.fc.in_features, task.num_classes)
stem = model.bn1.running_mean.clone()
model = two_phase_finetune(model, loaders(task, batch_size=32)["train"], head_epochs=1, finetune_epochs=1)
assert torch.equal(model.bn1.running_mean, stem), (
    "bn1's running statistics changed: the frozen stem's BatchNorm must stay in eval mode while training")
"""),
    hidden("two_phase_finetune"),
    *mcq("ANSWER_Q2", text="""
## 5. Multiple choice

Answer with one letter as a string, e.g. `ANSWER_Q2 = "a"`.

**Q2.** `optimizer = torch.optim.SGD(model.fc.parameters(), lr=0.01)` is built; two epochs later
`model.layer4.requires_grad_(True)` runs and training goes on with the same optimizer. What happens to `layer4`?

* a) It trains at the head's learning rate.
* b) It trains at PyTorch's default learning rate.
* c) Its parameters get gradients but are never updated: the optimizer does not know them.
* d) `backward()` raises an error.
""", key="c", hint="Which tensors does an optimizer ever update?",
         wrong={"a": "an optimizer picks up newly unfrozen parameters by itself"}),
    *mcq("ANSWER_Q3", text="""
**Q3.** A layer trained for a while with `SGD(momentum=0.9)`, then was frozen, but its parameters are still in
the optimizer and the loop calls `optimizer.zero_grad(set_to_none=False)`. What happens in the next steps?

* a) The layer keeps moving for a while: its gradient is a tensor of zeros, not None, so SGD still applies the
  momentum left in its buffer (and any weight decay).
* b) It stays exactly fixed, because `requires_grad` is False.
* c) PyTorch raises an error about frozen parameters in an optimizer.
* d) Its gradients become None and the optimizer removes it.
""", key="a", hint="What does SGD do with a parameter whose .grad is a tensor of zeros but whose momentum "
                   "buffer is not?",
         wrong={"b": "requires_grad=False alone keeps a parameter fixed, whatever the optimizer holds"}),
    md("""
## 6. In your own words (graded by hand)

You are fine-tuning with the two phases above and watching training and validation loss and accuracy after each
epoch. Explain what you would look for to decide that phase 1 is done and it is time to unfreeze more, and
describe one sign that unfreezing is hurting. Why should the learning rate of phase 2 be smaller?
"""),
    free("explain_two_phase_signals", points=3, rubric="""
**Rubric (3 points)**

* 1 point: phase 1 is done when validation loss/accuracy stop improving (a plateau), even if training loss still
  falls; decisions are made on validation data, never on the test set.
* 1 point: a warning sign after unfreezing: validation loss rises or accuracy drops while training loss keeps
  falling (overfitting of a small data set), or a sudden jump in loss (pretrained features being wrecked).
* 1 point: the smaller rate: pretrained weights are already good; large updates (and gradients from a still
  imperfect head) destroy useful features ("catastrophic forgetting"), so they should move gently.

Half points for partly right answers; the ideas count, not the wording.
"""),
]
