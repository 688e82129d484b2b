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
# # Lesson 5 — Fine-tuning recipes
#
# **Goal:** go beyond "frozen or not". Real fine-tuning changes *what* is frozen and *how fast* each
# part learns while training runs.
#
# By the end you can:
# - run two-phase training: the head first, then everything with a small learning rate;
# - unfreeze gradually and hand each newly unfrozen stage to the optimizer with `add_param_group`;
# - give each stage its own learning rate (discriminative / layer-wise learning rates);
# - measure two things a recipe can damage: the target accuracy, and what the features still know
#   about the source task.
#
# Sources: PyTorch docs, `torch.optim` ("Per-parameter options", `Optimizer.add_param_group`);
# Howard & Ruder 2018, *Universal Language Model Fine-tuning* (ULMFiT: gradual unfreezing, discriminative
# learning rates with factor 2.6); fastai docs (`Learner.fine_tune`, `Learner.freeze_to`); Lightning docs
# (`BackboneFinetuning` callback); Kumar et al. 2022 (LP-FT).

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn
from tqdm.auto import tqdm

from freezelab.backbones import load_pretrained
from freezelab.data import augment, few_shot, loaders, target_task
from freezelab.device import describe_device, pick_device, seed_everything
from freezelab.evaluation import source_probe
from freezelab.lessons.l05_workflows import EPOCHS, RECIPES, SEEDS, K, run_recipe
from freezelab.quiz import flashcards, show
from freezelab.recipes import discriminative_groups
from freezelab.training import fit, loss_and_accuracy

device = pick_device()
generator = seed_everything(0)
QUESTIONS = ["mcq", "multi", "code-output", "free-response"]  # end-of-lesson quiz: no predictions
print(describe_device())

# %% [markdown]
# Throughout: the course backbone (pretrained on digits 0-4) learns `new_digits` (digits 5-9) from
# 5 labelled images per class.

# %%
task = few_shot(target_task("new_digits"), k=5, seed=0)
data = loaders(task, batch_size=64, seed=0)


def shifted(x: torch.Tensor) -> torch.Tensor:
    return augment(x.cpu(), generator).to(x.device)


def frozen_bn_eval(model: nn.Module, epoch: int = 0) -> None:
    """Keep BatchNorm layers with no trainable parameter in eval mode (lesson 6 explains why)."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d) and not module.weight.requires_grad:
            module.eval()


# %% [markdown]
# ## 1. Param groups: one optimizer, several learning rates
#
# An optimizer takes a list of *param groups*, each a dict with its own `params` and options. A snippet
# like this one is common in tutorials for a ResNet-50:
#
# ```python
# optimizer = torch.optim.AdamW([
#     {"params": model.layer1.parameters(), "lr": 1e-5},
#     {"params": model.layer4.parameters(), "lr": 1e-4},
#     {"params": model.fc.parameters(),     "lr": 1e-3},
# ])
# ```
#
# The cell after the question builds the same optimizer for our TinyResNet (`layer3` is its last block).
# Lock in your answer first.

# %%
show(ids=["wf-predict-left-out"])

# %%
model = load_pretrained(num_classes=5)
optimizer = torch.optim.AdamW([
    {"params": model.layer1.parameters(), "lr": 1e-5},
    {"params": model.layer3.parameters(), "lr": 1e-4},   # our TinyResNet's last block
    {"params": model.fc.parameters(), "lr": 1e-3},
])
in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
left_out = [name for name, p in model.named_parameters() if id(p) not in in_optimizer]
print(f"{len(left_out)} parameter tensors are in no group, e.g. {left_out[:3]}")
print("...yet they still require grad:", all(p.requires_grad for p in model.parameters()))

# %% [markdown]
# They never change: an optimizer only updates what it was given. But they still have
# `requires_grad=True`, so autograd computes their gradients every step for nothing. The example is
# either an accidental freeze or wasted work. Put **every** trainable parameter in some group, and freeze
# (with `requires_grad_(False)`) what you mean to keep fixed.
#
# ULMFiT's recipe avoids the problem by construction: every stage gets a group, and each stage going
# down from the head gets the learning rate of the one above divided by **2.6**.

# %% tags=["check-output"]
groups = discriminative_groups(load_pretrained(num_classes=5), head_lr=1e-2, factor=2.6)
for group, name in zip(groups, ("fc", "layer3", "layer2", "conv1+bn1+layer1"), strict=True):
    print(f"{name:<17} lr {group['lr']:.2e}  tensors {len(group['params'])}")

# %% [markdown]
# ## 2. Gradual unfreezing, by hand
#
# ULMFiT unfreezes its layer groups one at a time from the top: the last group for one epoch, then one
# more group each epoch, until everything trains. Two popular library helpers are simpler, two-phase
# schedules, not block-by-block ones:
#
# - fastai's `Learner.fine_tune` trains the head with the body frozen (`freeze_epochs`, one by default),
#   then unfreezes the **whole** body at once and trains everything with discriminative learning rates
#   given as a `slice` (the earliest layers get the base rate divided by `lr_mult`).
# - Lightning's `BackboneFinetuning` callback keeps the backbone frozen until a chosen epoch, then adds
#   the **whole** backbone to the optimizer with a fraction of the learning rate and ramps that rate up
#   epoch by epoch.
#
# Both keep BatchNorm layers trainable while the rest of the body is frozen (`train_bn=True` by default),
# unlike the frozen-BatchNorm-in-eval-mode recipe this course uses.
#
# Below we write ULMFiT-style gradual unfreezing by hand (one stage every 3 epochs). First, the step
# people forget:

# %%
show(ids=["wf-predict-not-in-optimizer"])

# %% [markdown]
# Parameters unfrozen *after* the optimizer was built are not in it. `optimizer.add_param_group` hands
# them over, with their own learning rate (lesson 6 shows the bug).

# %%
seed_everything(0)
model = load_pretrained(num_classes=5)
model.requires_grad_(False)
model.fc.requires_grad_(True)
optimizer = torch.optim.AdamW(model.fc.parameters(), lr=1e-2)
fit(model, data["train"], optimizer, 3, device=device, before_epoch=frozen_bn_eval, augment=shifted,
    desc="head only")

for depth, names in enumerate([("layer3",), ("layer2",), ("conv1", "bn1", "layer1")], start=1):
    params = [p for name in names for p in getattr(model, name).parameters()]
    for p in params:
        p.requires_grad_(True)
    optimizer.add_param_group({"params": params, "lr": 1e-2 / 2.6**depth})
    fit(model, data["train"], optimizer, 3, device=device, before_epoch=frozen_bn_eval,
        augment=shifted, desc=f"+ {'+'.join(names)}")
    print(f"unfroze {'+'.join(names):<17} optimizer now has {len(optimizer.param_groups)} groups")
print(f"gradual unfreezing, seed 0: test accuracy {loss_and_accuracy(model, data['test'], device)[1]:.3f}")

# %% [markdown]
# ## 3. Six recipes on the same task
#
# A *recipe* is a plan (what trains) plus an optimizer and phases. `run_recipe` (in
# `freezelab.lessons.l05_workflows`, which this lesson's claims test re-runs; the recipes themselves are in
# `freezelab.recipes`) runs each one with the same data, augmentation and budget (12 epochs, 25 training
# images), on 3 seeds, and then measures two things:
#
# - **target accuracy** on the `new_digits` test set (chance is 0.20: five classes);
# - **source knowledge**: a logistic-regression probe on the backbone's features for the *source* task
#   (digits 0-4). The pretrained backbone scores 1.00 on it. If fine-tuning destroys what the features
#   knew, this number drops: that is *forgetting*.
#
# The learning rates below are fixed by each recipe, not tuned: this experiment asks what a learning
# rate does, it is not a fair ranking of the recipes (lesson 4 shows how to run one).
#
# | recipe | what trains | learning rate |
# |---|---|---|
# | `head_only` | the head | 1e-2 |
# | `full_small_lr` | everything from the start | 1e-3 |
# | `two_phase` | head for 6 epochs, then everything | 1e-2, then 1e-3 |
# | `gradual` | head, then layer3, layer2, the stem, 3 epochs each | 1e-2, divided by 2.6 per stage |
# | `discriminative` | everything from the start | 1e-2 for the head, / 2.6 per stage |
# | `full_large_lr` | everything from the start | 1e-1 |
#
# %%
show(ids=["wf-predict-large-lr"])

# %%
grid = [(name, seed) for name in RECIPES for seed in SEEDS]
results = [run_recipe(name, k=K, seed=seed, epochs=EPOCHS, device=device)
           for name, seed in tqdm(grid, desc="recipe runs")]
summary = {}
for name in RECIPES:
    runs = [r for r in results if r.recipe == name]
    summary[name] = (sum(r.test_acc for r in runs) / len(runs), sum(r.source_acc for r in runs) / len(runs))
    per_seed = ", ".join(f"{r.test_acc:.2f}" for r in runs)
    print(f"{name:<15} target accuracy {summary[name][0]:.3f} (seeds: {per_seed})   "
          f"source probe {summary[name][1]:.3f}")
print(f"pretrained backbone: source probe {source_probe(load_pretrained(), device):.3f}")

# %%
fig, ax = plt.subplots(figsize=(6, 3.2))
for name, (target, source) in summary.items():
    ax.scatter(source, target, s=50)
    ax.annotate(name, (source, target), textcoords="offset points", xytext=(5, 3), fontsize=8)
ax.set(xlabel="source-task probe accuracy (kept knowledge)", ylabel="target test accuracy",
       title="fine-tuning recipes: learn the new, keep the old")
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# What the table shows (3 seeds each, 12 epochs):
#
# - **A large learning rate wrecks the target.** `full_large_lr` (1e-1 for everything) ended near chance
#   on `new_digits` on every seed: the steps were too big for the network to learn the new task at all.
# - **It did not wreck the source probe.** Its features still separate digits 0-4 well; the probe lost
#   only a few points, the most of any recipe but far from a collapse. Read the table the right way
#   round: the damage is on the task being trained, not (mostly) on the old one.
# - **Head first, or a small learning rate, keeps the source probe where it was.** `two_phase` ended with
#   the same source probe as `full_small_lr` (within a point or two), and `head_only`, which never
#   touches the backbone, kept it exactly.
# - **The target column is noisy.** With 25 images and 12 epochs, single runs of the careful recipes
#   swing by tens of points between seeds (look at the per-seed numbers; one two-phase run ended near
#   chance). No ranking among them is supported by these runs, and the learning rates were not tuned
#   for each recipe, so this is not the experiment to pick a winner from.

# %% [markdown]
# ## Check yourself

# %%
show(topic="workflows", difficulty="easy", types=QUESTIONS)

# %%
show(topic="workflows", difficulty=["medium", "hard"], types=QUESTIONS)

# %% [markdown]
# ## Flashcards

# %%
flashcards(topic="workflows")
