# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (freezelab)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 7 — Speed and memory: what freezing buys, measured on your machine
#
# **Goal:** measure, on whatever device you are using right now, how much time and memory a training
# step saves when some layers are frozen, and how caching a frozen backbone's features makes training a
# head almost free.
#
# By the end you can:
# - time one training step correctly (warm-up, several repeats, median, GPU synchronisation);
# - explain why freezing the *first* layers saves backward work and activation memory, while freezing
#   only the *last* layers saves little;
# - cache a frozen backbone's features once and train a head on them, and say when that is not allowed.
#
# Sources: PyTorch docs, *Autograd mechanics* (what is saved for backward) and
# `torch.autograd.graph.saved_tensors_hooks`; the PyTorch *Transfer learning for computer vision*
# tutorial ("ConvNet as fixed feature extractor").

# %%
import statistics
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from freezelab.backbones import load_pretrained
from freezelab.bench import compare_plans, format_rows, plans_for, saved_activation_bytes
from freezelab.data import target_task
from freezelab.device import describe_device, pick_device, seed_everything
from freezelab.features import compare_caching
from freezelab.quiz import flashcards, show

device = pick_device()
seed_everything(0)
print(describe_device())

# %% [markdown]
# ## 1. Timing one step by hand
#
# A training step is forward, loss, backward, optimizer step. Three details make a timing honest:
#
# 1. **Warm-up.** The first steps allocate memory and pick kernels; they are slower. Throw them away.
# 2. **Synchronise.** On a GPU, Python only *queues* work and returns at once. Call
#    `torch.cuda.synchronize()` before reading the clock, or you time the queueing, not the maths.
# 3. **Repeat and take the median.** Other programs share your machine; the median ignores the odd slow
#    step.

# %%
task = target_task("new_digits")
batch = (task.x_train[:64].to(device), task.y_train[:64].to(device))
model = load_pretrained(num_classes=5).to(device).train()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)


def sync() -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def one_step() -> None:
    x, y = batch
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


for _ in range(2):  # warm-up
    one_step()
times = []
for _ in range(5):
    sync()
    start = time.perf_counter()
    one_step()
    sync()
    times.append(time.perf_counter() - start)
print(f"one step, nothing frozen: median {1e3 * statistics.median(times):.1f} ms "
      f"(fastest {1e3 * min(times):.1f} ms)")

# %% [markdown]
# `freezelab.bench.step_time` does exactly this (and restores the model afterwards), so from here on we
# use it through `compare_plans`.
#
# ## 2. Freezing the first layers vs the last layers
#
# A *plan* lists the stages we freeze. `plans_for` builds two families: "first N%" freezes the stages
# nearest the input, "last N%" the stages nearest the head (the head itself always trains).
#
# **Commit to your answer:** both "first 50%" and "last 50%" freeze half of the stages. Which one makes
# the training step faster, or are they the same? Why? Decide, then run the cell.

# %%
for name, frozen in plans_for(model).items():
    print(f"{name:<13} freezes {', '.join(frozen) or '-'}")

# %%
plans = plans_for(model)
rows = compare_plans(lambda: load_pretrained(num_classes=5), batch, plans, device=device, repeats=5,
                     warmup=1)
print(format_rows(rows))

# %% [markdown]
# Read the `x none` column (time relative to training everything), going down "first 25%" to "all but
# head" as more leading stages freeze, and compare with the "last" plans. What to look for:
#
# - **Backward stops at the first trainable layer.** Autograd only walks back as far as something needs a
#   gradient. Freeze the first stages and the backward pass never enters them: no weight gradients *and*
#   no gradients for their inputs.
# - **Freezing late stages saves only their weight gradients.** If `conv1` still trains, the gradient
#   has to travel back through every frozen late stage to reach it, so almost all of the backward pass
#   still runs.
# - **The forward pass is never skipped.** Frozen layers still compute; that is why even "all but head"
#   is not free (Section 3 fixes that).
#
# Timings wobble on a busy machine and differ between CPU and GPU (a small model on a big GPU is limited
# by kernel launches, not arithmetic), so trust the *direction* of the table, not its second digit.
#
# ### Memory: what autograd keeps for backward
#
# During the forward pass autograd saves the tensors it will need for the backward pass (inputs of
# convolutions, BatchNorm statistics, ReLU masks). A layer whose weight is frozen and whose input needs
# no gradient saves nothing. `saved_activation_bytes` counts those tensors with
# `torch.autograd.graph.saved_tensors_hooks`; the count depends only on shapes, so it is the same on
# every machine.

# %% tags=["check-output"]
cpu_batch = (task.x_train[:64], task.y_train[:64])
saved = {name: saved_activation_bytes(load_pretrained(num_classes=5), cpu_batch, plans[name], "cpu")
         for name in ("none", "first 50%", "last 50%", "all but head")}
for name, nbytes in saved.items():
    print(f"{name:<13} saves {nbytes / 2**20:6.2f} MiB for backward")
print("freezing the first half saves more memory than freezing the last half:",
      saved["first 50%"] < saved["last 50%"])

# %% [markdown]
# Freezing the first half cuts the saved activations a lot; freezing the last half barely changes
# them, because the early layers (where the feature maps are largest) still need their inputs saved to
# compute weight gradients. On a GPU, `compare_plans` above also reports the real peak memory of a step
# (`torch.cuda.max_memory_allocated`).
#
# ## 3. Caching a frozen backbone's features
#
# With the whole backbone frozen and its BatchNorm layers in eval mode, the backbone is a *fixed
# function*: every epoch it turns the same image into the same 64 numbers. The PyTorch tutorial's fixed
# feature extractor recomputes them every epoch anyway. Instead, run the backbone **once**, keep the
# features, and train the head on them.
#
# **Commit to your answer:** the head is `Linear(64, 5)` and the backbone has about 77,000 parameters.
# How many times faster do you expect one head epoch on cached features to be?
#
# `compare_caching` trains two identical heads for one epoch on the same examples in the same order,
# one recomputing the backbone for every batch and one reading cached features, timing both in the same
# run.

# %%
caching = compare_caching(load_pretrained(), task.x_train, task.y_train, num_classes=5, device=device)
print(f"one head epoch recomputing the backbone: {1e3 * caching.recompute_s:7.1f} ms")
print(f"one head epoch on cached features:       {1e3 * caching.cached_s:7.1f} ms")
print(f"computing the cache once:                {1e3 * caching.cache_s:7.1f} ms")
print(f"cached epoch is {caching.ratio:.0f}x faster")

# %% tags=["check-output"]
print("same losses at every step:", caching.max_loss_diff < 1e-4)
print("same logits afterwards:", caching.max_logit_diff < 1e-4)

# %%
fig, ax = plt.subplots(figsize=(6, 2.4))
epochs = range(1, 21)
ax.plot(epochs, [e * caching.recompute_s for e in epochs], label="recompute every epoch")
ax.plot(epochs, [caching.cache_s + e * caching.cached_s for e in epochs], label="cache once, then reuse")
ax.set(xlabel="head epochs", ylabel="seconds", title="total time to train the head")
ax.legend()
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# On the machine that ran this notebook the cached epoch was the number printed above times faster,
# and the two heads ended with the same logits: caching changed the cost, not the result. Even with the
# one-off cost of building the cache, caching wins after the first epoch or two.
#
# **When you may not cache**
#
# - **Random augmentation** changes the input every epoch, so the features change too. (You can cache a
#   few augmented copies, but that is a different dataset.)
# - **BatchNorm in train mode** inside the backbone makes its output depend on the batch; freeze it *and*
#   put it in eval mode first (lesson 6).
# - **Partial fine-tuning**: you can only cache up to the input of the first trainable layer.
#
# **Expert note.** The same idea is why linear probing is the cheapest way to score a pretrained model
# (lesson 4) and why BitFit and LoRA (lesson 9) save memory but not forward time: they still run the
# whole network every step.

# %% [markdown]
# ## Check yourself

# %%
show(topic="speed", difficulty="easy")

# %%
show(topic="speed", difficulty=["medium", "hard"])

# %% [markdown]
# ## Flashcards

# %%
flashcards(topic="speed")
