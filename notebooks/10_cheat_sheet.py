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
# # Lesson 10 — Cheat sheet and interview questions
#
# One page to revise from, then questions mixed from every lesson, then the full flashcard deck.
# The snippets on this page are not decoration: the cell after the cheat sheet runs them and prints what
# they do, so they are known to work.

# %%
import torch
from torch import nn

from freezelab.device import describe_device, pick_device, seed_everything
from freezelab.quiz import show

device = pick_device()
seed_everything(0)
print(describe_device())

# %% [markdown]
# ## Cheat sheet
#
# ### Freeze and unfreeze (lessons 1, 3)
#
# ```python
# model.requires_grad_(False)            # freeze everything (note the underscore: it is a method)
# model.fc.requires_grad_(True)          # ...then unfreeze the head
# model.fc = nn.Linear(model.fc.in_features, n_classes)   # a new layer is trainable by default
# for name, p in model.named_parameters():                 # freeze by prefix, not by substring
#     if name.startswith(("conv1.", "bn1.", "layer1.")):
#         p.requires_grad_(False)
# ```
#
# | looks like freezing | what it really does |
# |---|---|
# | `model.requires_grad = False` | sets a plain attribute; freezes nothing |
# | `param.grad = None` / `= False` | clears the gradient / raises `TypeError`; freezes nothing |
# | `model.freeze()` | does not exist in PyTorch; Lightning's also calls `eval()`, fastai's keeps BatchNorm trainable (`train_bn=True`) |
# | `with torch.no_grad():` | records no graph for a block of code; the flags are untouched |
# | `with torch.inference_mode():` | the same, and autograd refuses to save its outputs for a backward pass, so they cannot feed a layer you train: cache such features with `no_grad` |
# | `model.eval()` | dropout off, BatchNorm uses running stats; weights still train |
#
# ### Count (lesson 2)
#
# ```python
# tensors   = sum(p.requires_grad for p in model.parameters())             # trainable *tensors*
# trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)  # trainable *elements*
# total     = sum(p.numel() for p in model.parameters())      # shared weights counted once
# print(f"Trainable: {trainable:,} / Total: {total:,} ({100 * trainable / total:.2f}%)")
# ```
# Not `state_dict()` (double counts tied weights, includes buffers). Lazy modules: one forward pass before
# counting; to freeze one earlier, `p.requires_grad = False` in a loop (`requires_grad_` raises on it).
# Parameters are not compute: ResNet-18's `layer4` holds 72% of the elements, about 23% of the FLOPs.
#
# ### Replace the head (lesson 3)
#
# | family | head |
# |---|---|
# | ResNet / RegNet / ResNeXt | `model.fc` |
# | MobileNet / EfficientNet / VGG / ConvNeXt | `model.classifier[-1]` — not the whole `classifier` |
# | torchvision ViT | `model.heads.head` |
#
# ### Optimizer (lessons 3, 5, 6)
#
# ```python
# opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
# opt = torch.optim.AdamW([                                     # discriminative learning rates
#     {"params": model.layer1.parameters(), "lr": 1e-5},
#     {"params": model.layer4.parameters(), "lr": 1e-4},
#     {"params": model.fc.parameters(),     "lr": 1e-3},
# ])  # parameters in no group are NOT trained: list every part you want to move
# model.layer3.requires_grad_(True)                             # unfreezing later?
# opt.add_param_group({"params": model.layer3.parameters(), "lr": 1e-4})   # ...tell the optimizer
# ```
#
# ### BatchNorm under freezing (lesson 6)
#
# Frozen BN still updates `running_mean` / `running_var` in train mode. After every `model.train()`:
# ```python
# for m in model.modules():
#     if isinstance(m, nn.modules.batchnorm._BatchNorm) and not any(p.requires_grad for p in m.parameters()):
#         m.eval()
# ```
# or swap in `torchvision.ops.FrozenBatchNorm2d`. Whole-model `eval()` also disables dropout in the head.
# fastai and Lightning do the opposite by default when they freeze: BatchNorm stays trainable (`train_bn=True`).
#
# ### Zero grads vs `None` (lesson 6)
#
# Optimizers skip `p.grad is None`, not zero gradients. A frozen parameter gets no new gradient, but the
# one it had before the freeze stays until something clears it: the default `zero_grad()` sets it to
# `None`; `zero_grad(set_to_none=False)` or `p.grad.zero_()` turn it into zeros, which momentum, weight
# decay and Adam still act on; left stale (freeze between `backward()` and `step()`), it moves even plain
# SGD. Rebuilding the optimizer over the trainable parameters also works, but drops the momentum / Adam
# state of everything that still trains.
#
# ### Which strategy? (lessons 4, 5)
#
# Few labels are not a reason to freeze on their own: in this course's runs, fine-tuning every layer with
# a small learning rate beat the linear probe on all three target tasks at 10 labels per class, on every
# one of 5 seeds (each with its learning rate chosen on validation data, 40 epochs; test accuracy, mean):
# new digits 0.95 vs 0.69, inverted 0.91 vs 0.69, noisy 0.69 vs 0.50. What that depends on: the budget
# (full fine-tuning needs its learning rate and epochs tuned; a probe hardly does) and what must be kept
# (trained on noisy digits, the probe still scored 0.81 on clean digits, the fine-tuned network 0.58).
# Freeze for cost, memory or to keep what the backbone could do, and measure what it costs on validation
# data.
#
# | situation | try first, then compare on validation data |
# |---|---|
# | any task | a linear probe (freeze all, new head): the cheap baseline to beat |
# | a learning rate and a number of epochs can be tuned on validation | fine-tune everything with a small learning rate (optionally smaller for the backbone than for the head) |
# | tight compute or memory, or the backbone must keep what it could do | freeze the backbone (cache its features); training the last stage + head is the next cheapest |
# | input-level shift (corruptions, style) | tune the *first* block (Lee et al. 2023, surgical fine-tuning) |
# | feature-level shift (same classes, new sub-populations) | tune the *middle* blocks (Lee et al. 2023) |
# | output-level shift (labels or spurious correlations change) | tune the *last* layer (Lee et al. 2023) |
# | out-of-distribution robustness matters | LP-FT: the head first, then everything (Kumar et al. 2022); its gain is mainly out of distribution |
# | schedules | two-phase: head, then the whole backbone (fastai `fine_tune`, Lightning `BackboneFinetuning`); one more layer group per epoch with rates ÷2.6 per layer is ULMFiT's gradual unfreezing (Howard & Ruder 2018) |
#
# Early layers are general, late layers specific (Yosinski et al. 2014) — and in that paper fine-tuning
# the transferred layers beat keeping them frozen, which hurt most when cutting between co-adapted middle
# layers. A learning rate too large for a pretrained backbone can stop it learning the new task at all
# (lesson 5: near chance on every seed, while a probe on its features still read the old digits well).
#
# ### Speed (lesson 7)
#
# Freezing the *first* layers saves backward compute and activation memory: autograd stops before them
# (lesson 7's backbone: backward 428 instead of 777 MFLOP, 4.79 instead of 10.14 MiB saved for backward).
# Freezing only the *last* layers saves their weight gradients' compute (542 MFLOP) but no activation
# memory (10.14 MiB, as with nothing frozen): they sit on the backward path to the trainable early layers,
# so autograd still records them and computes their input gradients. A fully frozen backbone's features
# can be computed once and cached.
#
# ### Evaluate (lesson 8)
#
# Watch validation loss and accuracy, not training loss. Precision = TP / (TP + FP), recall =
# TP / (TP + FN), F1 = their harmonic mean. On imbalanced data accuracy lies (98% accuracy with 12%
# fraud recall is not production-ready). Never tune on the test set.
#
# ### Beyond freezing (lesson 9)
#
# BitFit trains only the biases (Ben Zaken et al. 2022); LoRA adds a trainable low-rank update `B @ A` next
# to a frozen weight (Hu et al. 2021). Both are freezing with a smarter choice of what stays trainable.

# %% [markdown]
# ### The snippets, run
#
# **Commit to your answer:** on a frozen ResNet-18 with a new 5-class head, how many trainable
# *tensors* and *elements* will the cheat-sheet lines report?

# %%
show(ids=["cnt-predict-resnet18-head"])

# %% tags=["check-output"]
import torchvision

model = torchvision.models.resnet18(weights=None)
model.requires_grad_(False)
model.fc = nn.Linear(model.fc.in_features, 5)
tensors = sum(p.requires_grad for p in model.parameters())
trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
total = sum(p.numel() for p in model.parameters())
print(f"trainable tensors: {tensors}")
print(f"Trainable: {trainable:,} / Total: {total:,} ({100 * trainable / total:.2f}%)")

opt = torch.optim.AdamW([
    {"params": model.layer1.parameters(), "lr": 1e-5},
    {"params": model.layer4.parameters(), "lr": 1e-4},
    {"params": model.fc.parameters(), "lr": 1e-3},
])
in_groups = sum(len(g["params"]) for g in opt.param_groups)
print("parameter tensors in the optimizer:", in_groups, "of", len(list(model.parameters())))
model.layer3.requires_grad_(True)
opt.add_param_group({"params": model.layer3.parameters(), "lr": 1e-4})
print("after add_param_group:", [len(g["params"]) for g in opt.param_groups])

before = sum(p.requires_grad for p in model.parameters())
model.requires_grad = False  # the fake freeze
after = sum(p.requires_grad for p in model.parameters())
print("trainable tensors before / after `model.requires_grad = False`:", before, "/", after)

# %% [markdown]
# Note the "parameter tensors in the optimizer" line: the discriminative-learning-rate example (a common interview answer) hands the
# optimizer only `layer1`, `layer4` and `fc` — `conv1`, `bn1`, `layer2` and `layer3` would never be
# trained, even if unfrozen. Include every part you mean to train, or build the groups programmatically.

# %% [markdown]
# ## Interview questions
#
# Questions in the style of ML interviews, mixed from every lesson. Answer in your head (or out loud)
# before clicking; every option explains itself.

# %%
from freezelab.quiz import flashcards, progress_overview

show(tags="interview")

# %% [markdown]
# ## Mixed quiz by difficulty
#
# Ten questions from all topics at each level. Run a cell again with a different `seed` for a new mix.

# %%
show(difficulty="easy", n=10, seed=0)

# %%
show(difficulty="medium", n=10, seed=0)

# %%
show(difficulty="hard", n=10, seed=0)

# %% [markdown]
# ## The full flashcard deck
#
# Every card from every lesson. Go through it once now, and again in a few days.

# %%
flashcards()

# %% [markdown]
# ## Where you stand

# %%
progress_overview()

# %% [markdown]
# That is the course's core. Lesson 11, [freezing in real training code](11_real_training.ipynb), takes it
# into the code you will write at work (optimizer state, checkpoints, DDP, `torch.compile`, PEFT). For graded practice, do the assignments your instructor released and run
# `freezelab check ASSIGNMENT.ipynb` before you submit. Back to the [start page](00_start_here.ipynb).
