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
# # Lesson 3 — Freezing strategies
#
# **Goal:** choose *what* to freeze, write it correctly for any architecture, and hand the optimizer the
# right parameters.
#
# By the end you can:
# - freeze everything but the head, or freeze by name / prefix (and avoid the substring trap);
# - freeze partially — early layers frozen, late layers trained — and say what Yosinski et al. (2014)
#   really found about it;
# - unfreeze a stage later on;
# - replace the head in torchvision families: `fc` (ResNet), `classifier[-1]` (MobileNet, VGG,
#   EfficientNet) — and see what goes wrong if you replace the whole `classifier`;
# - build the optimizer over trainable parameters only, and know what happens if you do not.
#
# Sources: PyTorch docs (`Module.requires_grad_`, `Module.named_parameters`, `torch.optim`); the
# torchvision models docs and the PyTorch *Transfer learning for computer vision* tutorial; Yosinski et
# al. 2014, "How transferable are features in deep neural networks?"; d2l.ai, *Fine-Tuning*.

# %%
import matplotlib.pyplot as plt
import torch
import torchvision
from torch import nn

from freezelab.backbones import load_pretrained
from freezelab.device import describe_device, pick_device, seed_everything
from freezelab.inspect import param_count, trainable_names
from freezelab.lessons.l03_strategies import BLOCK_LRS, HEAD_LRS, SETUPS, head_run
from freezelab.plans import train_only
from freezelab.quiz import show

device = pick_device()
seed_everything(0)
print(describe_device())

# %% [markdown]
# ## 1. Freeze everything but the head
#
# The course backbone, `TinyResNet`, was pre-trained on handwritten digits 0–4. Its layout copies
# torchvision's ResNets: a stem (`conv1`, `bn1`), three stages `layer1`–`layer3`, then `fc`. The
# freezing code below therefore works unchanged on `resnet18` or `resnet50`.
#
# The recipe is two lines: freeze the whole model, then unfreeze the head.

# %% tags=["check-output"]
model = load_pretrained()
model.requires_grad_(False)
model.fc.requires_grad_(True)
print(param_count(model))
print("trainable:", trainable_names(model))

# %% [markdown]
# For a *new* task with different classes you replace the head instead. A freshly built layer has
# `requires_grad=True`, so the order "freeze, then replace" needs no extra unfreeze line.
#
# **Commit to your answer:** we freeze everything and *then* assign a new `fc`. Is the new head
# trainable?

# %%
show(ids=["str-predict-new-head"])

# %% tags=["check-output"]
model = load_pretrained()
model.requires_grad_(False)
model.fc = nn.Linear(model.fc.in_features, 5)  # a new layer: trainable by default
print("trainable:", trainable_names(model))

# %% [markdown]
# (The reverse order — replace, then freeze everything — freezes the new head too, and nothing trains.)

# %% [markdown]
# ## 2. Freeze by name — and the substring trap
#
# `named_parameters()` gives dotted names like `layer2.conv1.weight`. Freezing "everything whose name
# starts with ..." is handy when a model's stages are not neat attributes.
#
# **Commit to your answer:** we want to freeze the stem (`conv1`, `bn1`) only, and write
# `if "bn1" in name or "conv1" in name`. Which parameters get frozen?

# %%
show(ids=["str-predict-substring"])

# %% tags=["check-output"]
model = load_pretrained()
for name, p in model.named_parameters():
    if "conv1" in name or "bn1" in name:  # substring test: too greedy
        p.requires_grad_(False)
print("frozen by the substring test:")
print([n for n, p in model.named_parameters() if not p.requires_grad])

# %% [markdown]
# Every block has its own `conv1` and `bn1`, so the substring test froze part of every stage as well.
# Match the *start* of the name (`str.startswith` takes a tuple), or go through the module itself:

# %% tags=["check-output"]
model = load_pretrained()
for name, p in model.named_parameters():
    if name.startswith(("conv1.", "bn1.")):
        p.requires_grad_(False)
print("frozen by prefix:", [n for n, p in model.named_parameters() if not p.requires_grad])

model = load_pretrained()
for stage in ("conv1", "bn1"):
    model.get_submodule(stage).requires_grad_(False)  # same result, no string matching at all
print("frozen by module:", [n for n, p in model.named_parameters() if not p.requires_grad])

# %% [markdown]
# ## 3. Partial freezing: early layers general, late layers specific
#
# Yosinski et al. (2014) split ImageNet's classes into two halves, trained a network on each, then
# copied the first *n* layers of one into a network for the other half and trained the rest. Three
# findings matter here:
#
# 1. **Generality falls with depth.** The first layers transferred almost perfectly (they detect edges,
#    blobs and colours, useful for any images); the last layers were specific to their original classes,
#    and the more distant the two tasks, the less the later layers transferred.
# 2. **Keeping copied layers frozen hurt most in the middle.** Cutting the network between two middle
#    layers and freezing the bottom part lost accuracy even when the copy came from the *same* task:
#    neighbouring layers had co-adapted during training, and the fresh layers above could not re-learn
#    that fragile fit on their own.
# 3. **Fine-tuning the copied layers was best of all** — better than the frozen copies at every depth,
#    and better even than training on the second half from scratch.
#
# So the paper supports "early layers are general", not "freeze them for the best accuracy". Partial
# freezing — early stages frozen, late ones and the head trained — is a trade-off: far cheaper, safer with
# a badly chosen learning rate, and often close to full fine-tuning when the new task is near the source.
# Where to cut, and whether to freeze at all, is measured on validation data (lesson 4).
#
# `train_only` from `freezelab.plans` (the course's freezing API) is the two-line recipe from section 1
# with a list of what trains:

# %%
from inspect import getsource

print(getsource(train_only))

# %% tags=["check-output"]
model = train_only(load_pretrained(), ["layer3", "fc"])
for stage in ("conv1", "bn1", "layer1", "layer2", "layer3", "fc"):
    params = list(model.get_submodule(stage).parameters())
    n_train = sum(p.numel() for p in params if p.requires_grad)
    print(f"{stage:7} {n_train:>6,} / {sum(p.numel() for p in params):>6,} trainable")

# %% [markdown]
# ## 4. Unfreezing later
#
# Unfreezing is the same flag set back to `True`, at any point in training — for example after a few
# epochs of training the head alone (lesson 5 builds whole schedules on this).

# %% tags=["check-output"]
model = train_only(load_pretrained(), ["fc"])
print("before:", param_count(model))
model.layer3.requires_grad_(True)
print("after :", param_count(model))

# %% [markdown]
# An optimizer only updates the parameters it was given. If you built it over the head alone, the
# unfrozen `layer3` gets gradients but never moves until you call
# `optimizer.add_param_group({"params": model.layer3.parameters()})` — lesson 6 shows it failing.

# %% [markdown]
# ## 5. Replacing the head in torchvision families
#
# | family | head | replace with |
# |---|---|---|
# | ResNet, RegNet, ResNeXt | `model.fc` (a `Linear`) | `nn.Linear(model.fc.in_features, n)` |
# | MobileNet V2/V3, EfficientNet, VGG, ConvNeXt | `model.classifier` (a `Sequential`) | its last item: `model.classifier[-1]` |
# | ViT | `model.heads.head` | `nn.Linear(model.heads.head.in_features, n)` |
#
# We build the architectures with `weights=None` (offline, random weights): the shapes are exactly those
# of the pretrained models, so the code is the same one you would run on `weights="DEFAULT"`.

# %% tags=["check-output"]
resnet = torchvision.models.resnet18(weights=None)
resnet.requires_grad_(False)
resnet.fc = nn.Linear(resnet.fc.in_features, 5)

mobilenet = torchvision.models.mobilenet_v3_small(weights=None)
print("MobileNet V3 classifier:", [type(m).__name__ for m in mobilenet.classifier])
mobilenet.requires_grad_(False)
mobilenet.classifier[-1] = nn.Linear(mobilenet.classifier[-1].in_features, 5)

for name, net in (("resnet18", resnet), ("mobilenet_v3_small", mobilenet)):
    print(f"{name:20} {param_count(net)}   trainable: {trainable_names(net)}")

# %% [markdown]
# **Commit to your answer:** what goes wrong if we replace MobileNet's *whole* classifier with
# `nn.Linear(1024, 5)` — 1024 being the in-features of the last layer we saw above?

# %%
show(ids=["str-predict-classifier"])

# %% tags=["check-output"]
broken = torchvision.models.mobilenet_v3_small(weights=None).eval()
broken.classifier = nn.Linear(1024, 5)
try:
    broken(torch.zeros(1, 3, 64, 64))
except RuntimeError as err:
    print("RuntimeError:", err)

# %% [markdown]
# The classifier was `Linear(576 → 1024), Hardswish, Dropout, Linear(1024 → 1000)`: replacing all of it
# also threw away the hidden layer, so the new `Linear` receives 576 features and the shapes clash. On
# EfficientNet (`Dropout, Linear(1280 → 1000)`) the same mistake *runs* — but silently drops the dropout.
# Replace the last item, `classifier[-1]`, and everything else stays as the authors trained it.

# %% [markdown]
# ## 6. Give the optimizer the trainable parameters only
#
# The usual line is
#
# ```python
# optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
# # or: torch.optim.AdamW(filter(lambda p: p.requires_grad, model.parameters()), lr=1e-3)
# ```
#
# **Commit to your answer:** what if you pass *all* parameters, frozen ones included, to SGD with
# momentum and weight decay? Weight decay shrinks every weight it touches... do the frozen weights move?

# %%
show(ids=["str-predict-all-params"])

# %% tags=["check-output"]
torch.manual_seed(0)
model = train_only(load_pretrained(5), ["fc"]).to(device)
frozen_before = model.layer1.conv1.weight.detach().clone()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)  # all of them
x, y = torch.randn(8, 1, 16, 16, device=device), torch.randint(0, 5, (8,), device=device)
for _ in range(3):
    optimizer.zero_grad()  # set_to_none=True is the default since PyTorch 2.0
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
print("frozen weight moved:", not torch.equal(frozen_before, model.layer1.conv1.weight))
print("frozen grads are None:", model.layer1.conv1.weight.grad is None)
print("tensors with optimizer state:", len(optimizer.state), "of", len(list(model.parameters())))

# %% [markdown]
# They do not move: PyTorch's optimizers skip any parameter whose `.grad` is `None`, and a frozen
# parameter never gets a gradient — no update, no weight decay, no momentum buffer. So passing
# everything is *usually* harmless here. Filter anyway: it states your intent, keeps optimizer state
# small, and protects you from the case where a frozen tensor in the optimizer carries a gradient tensor
# instead of `None`: zeros from `zero_grad(set_to_none=False)` or in-place zeroing, which momentum and
# weight decay still act on, or a stale gradient from a `backward()` before the freeze, which moves even
# plain SGD. Lesson 6 shows both.

# %% [markdown]
# ## 7. A quick experiment: what should train?
#
# New task: digits **5–9**, which the backbone has never seen, with only **10 labelled images per
# class**. Three set-ups, same seed, same data, 15 steps each:
#
# 1. pretrained backbone frozen, train the head only (a *linear probe*);
# 2. pretrained backbone, train `layer3` and the head (`layer3+head`);
# 3. a **random** backbone frozen, train the head only — is it the pretraining that helps, or the head?
#
# A fair race gives each set-up the learning rate that suits it: a rate that moves 325 head weights
# quickly enough in 15 steps is too large for a pretrained block. So `head_run` trains a set-up once per
# rate of a small grid (`HEAD_LRS` for a lone head, `BLOCK_LRS` when `layer3` trains too) and keeps the
# run with the best accuracy on the *validation* images; the test images only grade the winner. Each run
# builds the backbone, freezes all but `train`, hands the trainable parameters to Adam, and calls
# `freezelab.training.fit`, which keeps frozen BatchNorm layers in eval mode (lesson 6 explains why) and
# shows a progress bar.

# %%
print("HEAD_LRS =", HEAD_LRS, "  BLOCK_LRS =", BLOCK_LRS)
for label, setup in SETUPS.items():  # freezelab.lessons.l03_strategies: what this cell and the test run
    print(f"{label:27} {setup}")
print(getsource(head_run))

# %% [markdown]
# **Commit to your answer:** rank the three by test accuracy before you run the cell.

# %%
show(ids=["str-predict-rank"])

# %%
runs = {label: head_run(**setup, seed=0, device=device) for label, setup in SETUPS.items()}
for label, run in runs.items():
    print(f"{label:27} trainable={run.trainable:>6,}  lr={run.lr:<6g} validation={run.val_acc:.1%}  "
          f"test={run.test_acc:.1%}")

# %%
fig, ax = plt.subplots(figsize=(6, 3))
for label, run in runs.items():
    ax.plot(range(1, run.history.epochs + 1), run.history.train_loss, marker=".", label=label)
ax.set(xlabel="step (one batch of 50 images)", ylabel="training loss",
       title="10 labels per class, each at its chosen lr")
ax.legend()
plt.show()

# %% [markdown]
# What the numbers above show (a test in `tests/test_lesson03_claims.py` re-runs these seeds and
# checks each statement, so the text cannot drift from the code):
#
# - **Pretrained features matter.** With the same 325 trainable numbers, each at its own best rate, the
#   head on the pretrained backbone beats the head on a random backbone. The backbone never saw a 5 or a
#   9, yet its strokes and curves detectors still help — the general early features of Yosinski et al.
#   in miniature.
# - **Training the last stage helps when the classes are new.** Unfreezing `layer3` (58k numbers
#   instead of 325) gives a clearly higher accuracy here, by more than 10 points on seed 0 and on seeds 1
#   and 2 as well: the last stage's features were specific to digits 0–4, and adapting them pays off even
#   with 50 images and 15 steps.
# - All three are far above chance (20% for five classes), even set-up 1, whose backbone is entirely
#   frozen (section 1 printed how small the trainable share is).
#
# Three seeds and a 15-step budget are a sketch, not a verdict: lesson 4 runs such comparisons over five
# seeds and two budgets, with error bars.

# %% tags=["check-output"]
acc = {label: run.test_acc for label, run in runs.items()}
print("pretrained head beats random head:", acc["pretrained, head only"] > acc["random, head only"])
print("layer3 + head beats head only:", acc["pretrained, layer3 + head"] > acc["pretrained, head only"])
print("all above chance (20%):", min(acc.values()) > 0.2)

# %% [markdown]
# ## Check yourself

# %%
from freezelab.quiz import flashcards

show(topic="strategies", difficulty="easy")

# %%
show(topic="strategies", difficulty="medium")

# %%
show(topic="strategies", difficulty="hard")

# %% [markdown]
# ## Recap
#
# - Head only: `model.requires_grad_(False)`, then unfreeze or replace the head (new layers train by
#   default).
# - Freeze by name with `startswith` or `get_submodule`, never with a bare substring test.
# - Early layers are general, late ones specific (Yosinski et al. 2014), so partial freezing keeps the
#   early stages and adapts the late ones; but in that paper fine-tuning everything transferred was best,
#   and freezing cut in the middle hurt (co-adapted layers). Freezing buys cost and safety; measure
#   what it costs in accuracy.
# - Replace `fc` in ResNets and `classifier[-1]` in MobileNet / VGG / EfficientNet — not the whole
#   `classifier`.
# - Give the optimizer `[p for p in model.parameters() if p.requires_grad]`; frozen parameters with
#   `grad=None` are skipped anyway, but zero gradients are not (lesson 6).
#
# Next: **lesson 4, transfer learning measured**.

# %%
flashcards(topic="strategies")
