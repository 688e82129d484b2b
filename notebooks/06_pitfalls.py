# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (freezelab)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 6 — Pitfalls: each one failing, then fixed
#
# Freezing is one flag, yet frozen models misbehave in the same few ways again and again. For each
# pitfall below you first **predict**, then watch it fail, then apply the fix and watch it pass.
#
# 1. BatchNorm statistics drift although the layer is frozen (and `model.eval()` switches off dropout too)
# 2. An optimizer built before unfreezing never updates the unfrozen layer
# 3. Zero gradients are not `None`: momentum and weight decay move "frozen" weights
# 4. Fake freezes: `model.requires_grad = False`, `param.grad = False`
# 5. Freezing everything: nothing can learn
# 6. Forgetting to freeze: the pretrained features drift away
# 7. The old torchvision API: `resnet18(pretrained=True)`
# 8. One call that checks for all of them: `freezelab.audit(model, optimizer)`
#
# Sources: Ioffe & Szegedy 2015 (BatchNorm); PyTorch docs for `BatchNorm2d`, `Optimizer.zero_grad`,
# `Optimizer.add_param_group` and `torch.optim.SGD`; torchvision docs (`ops.FrozenBatchNorm2d`,
# the multi-weight API introduced in torchvision 0.13).

# %%
import warnings

import matplotlib.pyplot as plt
import torch
import torchvision
from torch import nn

from freezelab.backbones import load_pretrained
from freezelab.data import loaders, target_task
from freezelab.device import describe_device, pick_device, seed_everything
from freezelab.lessons.l06_pitfalls import DRIFT_SETUPS, TASK, drift_run
from freezelab.plans import eval_frozen_batchnorm, train_only
from freezelab.quiz import show
from freezelab.training import fit

device = pick_device()
seed_everything(0)
print(describe_device())

# Real target data: inverted digits (ink and paper swapped), a strong input-level shift.
task = target_task("inverted")
batch = task.x_train[:64].to(device)

# %% [markdown]
# ## 1. BatchNorm keeps learning while "frozen"
#
# A BatchNorm layer holds two kinds of state (Ioffe & Szegedy 2015):
#
# - **parameters** `weight` and `bias` (learned by gradient descent — `requires_grad_(False)` freezes them);
# - **buffers** `running_mean` and `running_var` (updated by a moving average during every forward pass
#   in *train mode*, with no gradient involved — `requires_grad` does not touch them).
#
# **Commit to your answer:** we freeze the whole backbone, put the model in train mode (as every
# training loop does) and run *one forward pass*, no optimizer at all. Do the stem's running statistics
# change?

# %%
show(ids=["pit-predict-bn-forward"])

# %% tags=["check-output"]
model = train_only(load_pretrained(), ["fc"]).to(device)
stats_before = model.bn1.running_mean.clone()
model.train()
model(batch)
print("bn1 parameters frozen:", not model.bn1.weight.requires_grad)
print("running_mean changed:", not torch.equal(stats_before, model.bn1.running_mean))

# %% [markdown]
# They do. In train mode BatchNorm normalises with the *batch's* statistics and blends them into its
# running averages, whatever `requires_grad` says. On a shifted input (here: inverted digits) the
# "frozen" backbone quietly re-calibrates to the new data — and no longer computes the features it was
# pretrained to compute.
#
# **Fix:** put frozen BatchNorm layers in eval mode. The catch: a training loop calls `model.train()`
# at the start of every epoch, which flips them back. So re-apply the fix *after* each `model.train()`:
# `freezelab.training.fit` calls `before_epoch(model, epoch)` right there.

# %%
from inspect import getsource

print(getsource(eval_frozen_batchnorm))

# %% tags=["check-output"]
def bn_drift(**fit_kwargs) -> bool:
    """Train the head for one epoch; did the frozen stem's running statistics move?"""
    model = train_only(load_pretrained(), ["fc"]).to(device)
    model.eval()  # looks like the fix... but fit() calls model.train() every epoch
    before = model.bn1.running_mean.clone()
    optimizer = torch.optim.Adam(model.fc.parameters(), lr=1e-3)
    fit(model, loaders(task, seed=0)["train"], optimizer, 1, device=device, progress=False, **fit_kwargs)
    return not torch.equal(before, model.bn1.running_mean)


print("model.eval() once, before fit:         drift =", bn_drift())
print("before_epoch=eval_frozen_batchnorm: drift =", bn_drift(before_epoch=eval_frozen_batchnorm))

# %% [markdown]
# A second fix removes the problem at the source: torchvision's `ops.FrozenBatchNorm2d` stores weight,
# bias and statistics as *buffers* and always normalises with the stored statistics, in train and eval
# mode alike (torchvision's detection models use it in their backbones).

# %%
def to_frozen_bn(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d inside `module` with a FrozenBatchNorm2d holding the same numbers."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            frozen = torchvision.ops.FrozenBatchNorm2d(child.num_features, eps=child.eps)
            frozen.load_state_dict(child.state_dict())  # it drops num_batches_tracked itself
            setattr(module, name, frozen.to(child.running_mean.device))
        else:
            to_frozen_bn(child)
    return module


# %% tags=["check-output"]
model = load_pretrained().to(device).eval()
reference = model(batch)
model = to_frozen_bn(train_only(model, ["fc"]))
model.train()
stats_before = model.bn1.running_mean.clone()
model(batch)  # a forward pass in train mode
model.eval()
print("running_mean changed in train mode:", not torch.equal(stats_before, model.bn1.running_mean))
print("same outputs as the original in eval mode:", torch.allclose(reference, model(batch), atol=1e-4))
print("BatchNorm parameters left:", sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()))

# %% [markdown]
# ### Does the drift matter? Measured.
#
# We train only a new head on 10 inverted images per class (the backbone frozen), then read the
# backbone out with its **original** digits-0–4 head on the original source task. A truly frozen
# backbone must still score what it scored before. (`drift_run` and the three set-ups, `DRIFT_SETUPS`,
# live in `freezelab.lessons.l06_pitfalls`, which this lesson's claims test re-runs; 15 steps of SGD with
# momentum.)
#
# **Commit to your answer:** how much source accuracy does a frozen backbone lose if its BatchNorm layers
# stay in train mode?

# %%
show(ids=["pit-predict-bn-source"])

# %%
runs = {label: drift_run(**setup, task_name=TASK, seed=0, device=device)
        for label, setup in DRIFT_SETUPS.items()}
for label, r in runs.items():
    print(f"{label:26} source accuracy {r['source_before']:.1%} -> {r['source_after']:.1%}   "
          f"target accuracy {r['target_acc']:.1%}")

# %%
fig, ax = plt.subplots(figsize=(6, 2.6))
labels = list(runs)
ax.barh(labels, [runs[k]["source_after"] for k in labels], color=["#2b8a3e", "#f08c00", "#c92a2a"])
ax.axvline(runs[labels[0]]["source_before"], color="black", ls="--", label="before training")
ax.set(xlim=(0, 1.05), xlabel="source-task accuracy after training on inverted digits")
ax.invert_yaxis()
ax.legend(loc="lower right")
plt.show()

# %% [markdown]
# What the runs above show (re-checked on these seeds by `tests/test_lesson06_claims.py`):
#
# - with BN in eval mode the frozen backbone is **exactly** as good on the source task as before —
#   frozen really means frozen;
# - with BN left in train mode the *same* frozen backbone loses a large share of its source accuracy,
#   although not a single weight changed: only the running statistics moved;
# - training everything (the last bar, pitfall 6 below) loses even more.
#
# Whether drifting statistics hurt the *target* task is another matter — sometimes re-estimating them
# on the new data even helps. The point is that it is a choice you should make on purpose: by default,
# a "frozen" BatchNorm network is not frozen. Libraries make the opposite choice on purpose: fastai's
# `freeze()` and Lightning's fine-tuning callbacks leave BatchNorm layers *trainable* by default
# (`train_bn=True`), weight, bias and running statistics alike, so that a frozen backbone can adapt its
# normalisation to the new data. `train_bn=False` freezes only BatchNorm's weight and bias: fastai then
# leaves the layers in train mode (its `BnFreeze` callback is what puts them in eval mode), and Lightning
# switches off `track_running_stats`, so they normalise with each batch's own statistics.

# %% [markdown]
# ### The side effect of the quick fix: `model.eval()` also switches off dropout
#
# Calling `model.eval()` on the whole model does stop BN drift — and it also turns off dropout in the
# head you are training (TinyResNet has `Dropout(0.1)` before `fc`). You lose that regularisation
# without noticing. Put only the frozen BN layers in eval mode.

# %% tags=["check-output"]
model = train_only(load_pretrained(), ["fc"]).to(device)
model.eval()
print("after model.eval(): dropout active =", model.dropout.training)
print("two forward passes identical:", torch.equal(model(batch), model(batch)))
model.train()
eval_frozen_batchnorm(model)
print("train() + eval_frozen_batchnorm: dropout active =", model.dropout.training,
      "| bn1 in train mode =", model.bn1.training)
print("two forward passes identical:", torch.equal(model(batch), model(batch)))

# %% [markdown]
# ## 2. The optimizer was built before unfreezing
#
# An optimizer keeps a list of the tensors it updates, fixed when you build it. Unfreezing a layer later
# gives it gradients, but if it is not in that list nothing ever applies them.
#
# **Commit to your answer:** the optimizer was built over `fc` only. We unfreeze `layer3` and take a
# step. Does `layer3` get a gradient? Does it change?

# %%
show(ids=["pit-predict-stale-optimizer"])

# %% tags=["check-output"]
torch.manual_seed(0)
model = train_only(load_pretrained(), ["fc"]).to(device)
optimizer = torch.optim.Adam(model.fc.parameters(), lr=1e-3)  # built while only fc trains
targets = task.y_train[:64].to(device)


def step(model: nn.Module, optimizer: torch.optim.Optimizer) -> bool:
    """One training step; did layer3 change?"""
    before = model.layer3.conv1.weight.detach().clone()
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(batch), targets).backward()
    optimizer.step()
    return not torch.equal(before, model.layer3.conv1.weight)


model.layer3.requires_grad_(True)  # unfreeze later in training
changed = step(model, optimizer)
print("layer3 has a gradient:", model.layer3.conv1.weight.grad is not None)
print("layer3 changed:", changed)

# %% [markdown]
# **Fix:** register the newly unfrozen parameters with the optimizer as a new *param group*, usually with
# a smaller learning rate than the head. Unfreezing schedules are built on this call: ULMFiT's gradual
# unfreezing (Howard & Ruder 2018) adds one more layer group per epoch, from the top down; Lightning's
# `BackboneFinetuning` adds the *whole* backbone as one group at its unfreezing epoch (by default epoch
# 10, at a tenth of the current learning rate, then doubles that rate each epoch until it matches).
# fastai avoids the problem differently: its optimizer holds every layer group from the start, and
# `freeze()` / `unfreeze()` only flip `requires_grad` (and clear the optimizer's state).

# %% tags=["check-output"]
optimizer.add_param_group({"params": model.layer3.parameters(), "lr": 1e-4})
print("param groups:", [len(g["params"]) for g in optimizer.param_groups])
print("layer3 changed:", step(model, optimizer))

# %% [markdown]
# ## 3. Zero gradients are not `None`
#
# An optimizer skips a parameter only when its `.grad` is `None`. A gradient tensor full of zeros is
# *not* skipped:
#
# - SGD with momentum keeps moving it with the velocity it built up before;
# - weight decay keeps shrinking it (`grad + wd * weight` is not zero);
# - Adam / AdamW keep stepping with their running averages.
#
# Where do zero gradients come from, if a frozen parameter never gets a new one? From zeroing in place:
# `optimizer.zero_grad(set_to_none=False)` (the default before PyTorch 2.0, and still what some code
# bases write) or `p.grad.zero_()` in a hand-written loop turn the gradient a layer had *before* it was
# frozen into zeros, and keep them there. The default `zero_grad()` sets it to `None` instead.
#
# **Commit to your answer:** which rows of the table below will print `True` ("the frozen layer moved")?

# %%
show(ids=["pit-predict-zero-grad-table"])

# %% tags=["check-output"]
def frozen_layer_moves(make_optimizer, set_to_none: bool) -> bool:
    """Train 2 steps, freeze layer1, train 2 more steps: did layer1 move after it was frozen?"""
    torch.manual_seed(0)
    model = load_pretrained().to(device)
    eval_frozen_batchnorm(model)
    optimizer = make_optimizer(model.parameters())
    for i in range(4):
        if i == 2:
            model.layer1.requires_grad_(False)
            weight_at_freeze = model.layer1.conv1.weight.detach().clone()
        optimizer.zero_grad(set_to_none=set_to_none)
        nn.functional.cross_entropy(model(batch[:16]), targets[:16]).backward()
        optimizer.step()
    return not torch.equal(weight_at_freeze, model.layer1.conv1.weight)


optimizers = {
    "SGD, momentum 0.9": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9),
    "SGD, weight decay 1e-2": lambda p: torch.optim.SGD(p, lr=0.01, weight_decay=1e-2),
    "plain SGD": lambda p: torch.optim.SGD(p, lr=0.01),
    "AdamW": lambda p: torch.optim.AdamW(p, lr=1e-3),
}
print(f"{'optimizer':24} set_to_none=False   set_to_none=True")
for name, make in optimizers.items():
    print(f"{name:24} {str(frozen_layer_moves(make, False)):18}  {frozen_layer_moves(make, True)}")

# %% [markdown]
# With zero gradients, every optimizer that carries state or decay moved the frozen layer; only plain
# SGD (zero gradient, zero update) left it alone. With `set_to_none=True` — the default since PyTorch 2.0
# — the frozen layer's gradient is `None` and every optimizer skips it.
#
# A *stale* gradient is worse than a zero one. Freeze a layer between `backward()` and `step()` (or in a
# gradient-accumulation loop that zeroes only every few steps) and its last gradient is still there:
# even plain SGD applies it.

# %% tags=["check-output"]
torch.manual_seed(0)
model = load_pretrained().to(device)
eval_frozen_batchnorm(model)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)  # plain SGD: no momentum, no weight decay
nn.functional.cross_entropy(model(batch[:16]), targets[:16]).backward()
model.layer1.requires_grad_(False)  # frozen after backward(), before step()
weight_at_freeze = model.layer1.conv1.weight.detach().clone()
optimizer.step()
print("plain SGD moved the layer frozen after backward():",
      not torch.equal(weight_at_freeze, model.layer1.conv1.weight))

# %% [markdown]
# **Fixes**, any one of them: call `zero_grad()` with its default `set_to_none=True` before the next
# step; set `p.grad = None` when you freeze `p`; or rebuild the optimizer over the trainable parameters
# only. The last one has a cost: a new optimizer starts with no state, so the parameters that *still*
# train lose their momentum buffers or Adam averages too.

# %% tags=["check-output"]
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
for _ in range(2):
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(batch[:16]), targets[:16]).backward()
    optimizer.step()
print("fc has Adam state before rebuilding:", model.fc.weight in optimizer.state)
optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
print("fc has Adam state after rebuilding: ", model.fc.weight in optimizer.state)

# %% [markdown]
# ## 4. Fake freezes (again, because they are everywhere)
#
# From lesson 1: `model.requires_grad = False` sets a plain attribute, `param.grad` is a gradient slot,
# not a switch.

# %% tags=["check-output"]
model = load_pretrained()
model.requires_grad = False
print("trainable tensors after model.requires_grad = False:",
      sum(p.requires_grad for p in model.parameters()), "of", len(list(model.parameters())))
try:
    model.fc.weight.grad = False
except TypeError as err:
    print("param.grad = False ->", err)
model.requires_grad_(False)  # the fix: the method, with the underscore
print("after model.requires_grad_(False):", sum(p.requires_grad for p in model.parameters()))

# %% [markdown]
# ## 5. Freezing everything: nothing can learn
#
# **Commit to your answer:** every parameter is frozen and we start training. What happens?

# %%
show(ids=["pit-predict-nothing-trainable"])

# %% tags=["check-output"]
model = load_pretrained(5).to(device).requires_grad_(False)
try:
    torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
except ValueError as err:
    print("building the optimizer:", err)
loss = nn.functional.cross_entropy(model(batch), targets)
try:
    loss.backward()
except RuntimeError as err:
    print("loss.backward():", str(err).split(" and ")[0])

# %% [markdown]
# PyTorch refuses loudly here. The quiet version happens in frameworks or loops that skip the backward
# pass when there is nothing to train: the loss curve is perfectly flat. A flat training loss from step
# one means "check what is trainable" (`param_count(model)` from lesson 2). **Fix:** unfreeze (or
# add) at least the head.

# %% [markdown]
# ## 6. Forgetting to freeze: the pretrained features drift
#
# The last bar in the plot of section 1 was a backbone *not* frozen, trained with a fairly large learning
# rate (0.05 with momentum) on 50 inverted images: its source-task accuracy, read through the original
# digits-0-4 head, fell far below where it started. A few noisy steps on a tiny dataset moved the
# features away from what that head was trained to read. (Whether a *new* probe could still read digits
# 0–4 from them is a different measurement; lesson 5 makes it.) Freezing prevents the drift completely;
# a much smaller learning rate for the backbone (lesson 5) limits it while still letting the features
# adapt to the new task.

# %% tags=["check-output"]
before = {label: r["source_before"] for label, r in runs.items()}
after = {label: r["source_after"] for label, r in runs.items()}
print("frozen + BN eval keeps the source accuracy exactly:",
      after["frozen, BN in eval mode"] == before["frozen, BN in eval mode"])
print("frozen + BN train loses source accuracy:",
      after["frozen, BN in train mode"] < before["frozen, BN in train mode"])
print("not frozen loses the most:", after["not frozen (lr 0.05)"] < after["frozen, BN in train mode"])

# %% [markdown]
# ## 7. `resnet18(pretrained=True)` is the old API
#
# Tutorials written before torchvision 0.13 (2022) load weights with `pretrained=True`. That argument is
# deprecated: today you choose *which* weights with an enum, which also carries their preprocessing:
#
# ```python
# from torchvision.models import resnet18, ResNet18_Weights
# model = resnet18(weights=ResNet18_Weights.DEFAULT)      # downloads once, then cached
# preprocess = ResNet18_Weights.DEFAULT.transforms()       # the matching resize / normalisation
# model = resnet18(weights=None)                           # same architecture, random weights, offline
# ```
#
# We do not download anything in this course, but we can still see the warning the old spelling gives
# (with `pretrained=False`, which downloads nothing) and the enum's metadata:

# %% tags=["check-output"]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    torchvision.models.resnet18(pretrained=False)
print("warning:", str(caught[0].message).split(",")[0])
print("new API default:", torchvision.models.ResNet18_Weights.DEFAULT)

# %% [markdown]
# ## 8. One call that checks for all of them: `freezelab.audit`
#
# `freezelab.audit(model, optimizer)` looks at a model and its optimizer (it changes nothing, runs
# nothing) and reports the pitfalls of this lesson by a short code. Below, four of them at once, then the
# fixes from the sections above; print `report` itself for messages that name the layers involved.

# %% tags=["check-output"]
import freezelab

model = load_pretrained().to(device)
nn.functional.cross_entropy(model(batch[:16]), targets[:16]).backward()  # gradients everywhere
model.requires_grad_(False)
model.fc.requires_grad_(True)
optimizer = torch.optim.Adam(model.fc.parameters(), lr=1e-3)
model.layer3.requires_grad_(True)  # pitfall 2: unfrozen after the optimizer was built
model.requires_grad = False        # pitfall 4: a fake freeze
model.train()                      # pitfall 1: frozen BatchNorm in train mode
print("before the fixes:", freezelab.audit(model, optimizer).codes)

optimizer.add_param_group({"params": model.layer3.parameters(), "lr": 1e-4})
del model.requires_grad
eval_frozen_batchnorm(model)
model.zero_grad()  # set_to_none=True: also clears the frozen layers' leftover gradients (pitfall 3)
print("after the fixes: ", freezelab.audit(model, optimizer).codes)

# %% [markdown]
# ## Check yourself

# %%
from freezelab.quiz import flashcards

show(topic="pitfalls", difficulty="easy")

# %%
show(topic="pitfalls", difficulty="medium")

# %%
show(topic="pitfalls", difficulty="hard")

# %% [markdown]
# ## Recap: symptom → cause → fix
#
# | symptom | cause | fix |
# |---|---|---|
# | frozen backbone, yet old-task accuracy changes | BN running stats update in train mode | frozen BN to eval after every `model.train()` (`before_epoch`), or `FrozenBatchNorm2d` |
# | head trains worse after "freezing with `model.eval()`" | `eval()` also disabled dropout | eval mode on the frozen BN layers only |
# | unfrozen layer never changes | optimizer built before unfreezing | `optimizer.add_param_group({...})` |
# | "frozen" weights still drift | zero grads + momentum / weight decay / Adam, or a stale gradient (any optimizer) | `zero_grad()` (set_to_none), `p.grad = None`, or rebuild the optimizer (drops the state of what still trains) |
# | nothing frozen at all | `model.requires_grad = False`, `param.grad = ...` | `model.requires_grad_(False)` |
# | loss flat, or "does not require grad" | everything frozen | unfreeze the head |
# | old task lost through the original head | backbone not frozen, large learning rate | freeze, or a small backbone learning rate |
# | new task stuck near chance | learning rate too large for the pretrained layers (lesson 5) | a smaller backbone rate, chosen on validation data |
# | deprecation warning | `pretrained=True` | `weights=...Weights.DEFAULT` |

# %%
flashcards(topic="pitfalls")
