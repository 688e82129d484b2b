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
# # Lesson 7 — Speed and memory: what freezing buys, measured on your machine
#
# **Goal:** measure, on whatever device you are using right now, how much time and memory a training
# step saves when some layers are frozen, and how caching a frozen backbone's features makes training a
# head almost free.
#
# By the end you can:
# - time one training step correctly (warm-up, several repeats, median and spread, GPU synchronisation),
#   and state a direction only when it clears the noise;
# - count the work a step does (FLOPs) with different stages frozen, independent of the clock;
# - explain why freezing the *first* layers saves backward work and activation memory, while freezing
#   the *last* layers saves only their weight gradients and no activation memory;
# - cache a frozen backbone's features once and train a head on them, and say when that is not allowed.
#
# Sources: PyTorch docs, *Autograd mechanics* (what is saved for backward),
# `torch.autograd.graph.saved_tensors_hooks` and `torch.utils.flop_counter.FlopCounterMode`; the PyTorch *Transfer learning for computer vision*
# tutorial ("ConvNet as fixed feature extractor").

# %%
import statistics
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
import torchvision

from freezelab.backbones import load_pretrained
from freezelab.bench import (
    compare_frozen_sets,
    format_rows,
    frozen_sets,
    saved_activation_bytes,
    stage_flops,
    step_flops,
    timing_verdict,
)
from freezelab.data import target_task
from freezelab.device import describe_device, pick_device, seed_everything
from freezelab.features import compare_caching
from freezelab.lessons.l07_speed import COMPARED
from freezelab.lessons.l07_speed import batch as lesson_batch
from freezelab.quiz import flashcards, show

device = pick_device()
seed_everything(0)
QUESTIONS = ["mcq", "multi", "code-output", "free-response"]  # end-of-lesson quiz: no predictions
print(describe_device())

# %% [markdown]
# ## 1. Timing one step by hand
#
# A training step is forward, loss, backward, optimizer step. Three details make a timing honest:
#
# 1. **Warm-up.** The first steps allocate memory and pick kernels; they are slower. Throw them away.
# 2. **Synchronise.** On a GPU, Python only *queues* work and returns at once. Call
#    `torch.cuda.synchronize()` before reading the clock, or you time the queueing, not the maths.
# 3. **Repeat, take the median, and look at the spread.** Other programs share your machine; the median
#    ignores the odd slow step, and the spread (here the inter-quartile range, IQR: the middle half of
#    the measurements) tells you how far apart two timings must be before the difference means anything.

# %%
task = target_task("new_digits")
batch = tuple(t.to(device) for t in lesson_batch())
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
for _ in range(9):
    sync()
    start = time.perf_counter()
    one_step()
    sync()
    times.append(time.perf_counter() - start)
q1, _, q3 = statistics.quantiles(times, n=4)
print(f"one step, nothing frozen: median {1e3 * statistics.median(times):.1f} ms, "
      f"IQR {1e3 * q1:.1f}-{1e3 * q3:.1f} ms over {len(times)} steps")

# %% [markdown]
# `freezelab.bench.step_time` does exactly this (and restores the model afterwards), so from here on we
# use it through `compare_frozen_sets`.
#
# ## 2. Freezing the first layers vs the last layers
#
# A *frozen set* lists the stages we freeze (the opposite of lesson 3's plans, which list what trains).
# `frozen_sets` builds two families: "first N%" freezes the stages
# nearest the input, "last N%" the stages nearest the head (the head itself always trains). "last 50%"
# is exactly what "first 50%" leaves trainable, so the two never overlap.

# %% tags=["check-output"]
sets = frozen_sets(model)
for name, frozen in sets.items():
    print(f"{name:<13} freezes {', '.join(frozen) or '-'}")

# %% [markdown]
# Our backbone has five stages before the head, so "first 50%" freezes three small ones
# (`conv1`, `bn1`, `layer1`: about 5,000 parameters) and "last 50%" the two big ones (`layer2`, `layer3`:
# about 72,000).

# %%
show(ids=["spd-predict-first-last"])

# %% [markdown]
# ### The work, counted
#
# A clock on a shared machine is noisy; the amount of arithmetic is not. `step_flops` counts the
# floating-point operations of one forward and one backward pass with `FlopCounterMode`, with each frozen set.

# %% tags=["check-output"]
cpu_batch = lesson_batch()  # the first 64 training images of new_digits
for name in COMPARED:
    forward, backward = step_flops(load_pretrained(num_classes=5), cpu_batch, sets[name])
    print(f"{name:<13} forward {forward / 1e6:5.0f} MFLOP   backward {backward / 1e6:5.0f} MFLOP")

# %% [markdown]
# - **The forward pass is never skipped**: every frozen set does the same forward work.
# - **Backward stops at the first trainable layer.** Autograd only walks back as far as something needs a
#   gradient. Freeze the first stages and the backward pass never enters them: no weight gradients *and*
#   no gradients for their inputs. "first 50%" cut the backward work almost in half.
# - **Freezing late stages saves only their weight gradients.** `conv1` still trains, so the gradient has
#   to travel back through `layer2` and `layer3` to reach it: their input gradients are still computed.
#   "last 50%" froze about 15 times more parameters than "first 50%" and still did *more* backward work.
#
# "Only their weight gradients" is not nothing: a weight gradient costs about as much as the layer's
# forward pass, and in a ResNet the late stages are not cheap. ResNets halve the feature map and double
# the channels at each stage, which keeps the work per stage similar. Here are the forward-FLOP shares of
# a torchvision ResNet-18 (random weights, nothing downloaded) on one 224x224 image:

# %% tags=["check-output"]
resnet18 = torchvision.models.resnet18(weights=None).eval()
total = sum(p.numel() for p in resnet18.parameters())
for stage, share in stage_flops(resnet18, torch.randn(1, 3, 224, 224)).items():
    params = sum(p.numel() for p in getattr(resnet18, stage).parameters()) / total
    print(f"{stage:<7} {100 * share:5.1f}% of forward FLOPs   {100 * params:5.1f}% of parameters")

# %% [markdown]
# The last stage, `layer4`, does about 23% of ResNet-18's forward work, about as much as each other
# stage, while it holds most of the parameters: parameter share and compute share are different things.
#
# ### The clock

# %%
show(ids=["spd-predict-measure"])

# %% [markdown]
# Now the same frozen sets timed on your device. They are timed in turns (one step of each per round), and
# each row reports the median and the IQR of its step times.

# %%
timed = {name: sets[name] for name in COMPARED}
rows = compare_frozen_sets(lambda: load_pretrained(num_classes=5), batch, timed, device=device, repeats=11,
                     warmup=1)
print(format_rows(rows))
print(timing_verdict(rows, "first 50%", "last 50%"))
print(timing_verdict(rows, "all but head", "none"))

# %% [markdown]
# The verdict lines state a direction only when the middle halves of the two sets' step times do not
# overlap. The FLOP counts above are the work; whether the clock shows a difference depends on the
# device. A model this small is often limited by per-operation overhead on a CPU and by kernel launches
# on a GPU rather than by arithmetic, and a busy machine adds noise. When a verdict says "within the
# noise", that is the honest reading: no measurable difference here, not a ranking.
#
# ### Memory: what autograd keeps for backward
#
# During the forward pass autograd saves the tensors it will need for the backward pass (inputs of
# convolutions, BatchNorm statistics, ReLU masks). A layer whose weight is frozen and whose input needs
# no gradient saves nothing. `saved_activation_bytes` counts those tensors with
# `torch.autograd.graph.saved_tensors_hooks`; the count depends only on shapes, so it is the same on
# every machine.

# %% tags=["check-output"]
saved = {name: saved_activation_bytes(load_pretrained(num_classes=5), cpu_batch, sets[name], "cpu")
         for name in COMPARED}
for name, nbytes in saved.items():
    print(f"{name:<13} saves {nbytes / 2**20:6.2f} MiB for backward")
print("freezing the first half saves more memory than freezing the last half:",
      saved["first 50%"] < saved["last 50%"])

# %% [markdown]
# Freezing the first half cuts the saved activations by half; freezing the last half saves nothing at
# all. The frozen late stages lie on the backward path from the loss to the trainable stem, so autograd
# still records them and keeps what their backward needs (convolution and BatchNorm inputs, ReLU
# outputs): the gradient for `conv1` has to pass through them. Only a stage that no gradient needs to
# cross, one *before* every trainable layer, is left out of the graph. On a GPU, `compare_frozen_sets` above
# also reports the real peak memory of a step (`torch.cuda.max_memory_allocated`).
#
# ## 3. Caching a frozen backbone's features
#
# With the whole backbone frozen and its BatchNorm layers in eval mode, the backbone is a *fixed
# function*: every epoch it turns the same image into the same 64 numbers. The PyTorch tutorial's fixed
# feature extractor recomputes them every epoch anyway. Instead, run the backbone **once**, keep the
# features, and train the head on them.
#
# %%
show(ids=["spd-predict-cache"])

# %% [markdown]
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
# On the machine that ran this notebook the cached epoch was the number printed above times faster
# (one run: the ratio moves with the machine's load, but it is far too large to be noise), and the two heads ended with the same logits: caching changed the cost, not the result. Even with the
# one-off cost of building the cache, caching wins after the first epoch or two.
#
# **When you may not cache**
#
# - **Random augmentation** changes the input every epoch, so the features change too. (You can cache a
#   few augmented copies, but that is a different dataset.)
# - **BatchNorm in train mode** inside the backbone makes its output depend on the batch; freeze it *and*
#   put it in eval mode first (lesson 6).
# - **Partial fine-tuning**: you can cache only the frozen prefix, up to the input of the first
#   trainable layer (and only if nothing before it is in train mode).
#
# **Expert note.** The same idea is why linear probing is the cheapest way to score a pretrained model
# (lesson 4) and why BitFit and LoRA (lesson 9) save memory but not forward time: they still run the
# whole network every step.

# %% [markdown]
# ## Check yourself
#
# (The predictions you locked in above are not repeated here.)

# %%
show(topic="speed", difficulty="easy", types=QUESTIONS)

# %%
show(topic="speed", difficulty=["medium", "hard"], types=QUESTIONS)

# %% [markdown]
# ## Flashcards

# %%
flashcards(topic="speed")
