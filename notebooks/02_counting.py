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
# # Lesson 2 — Counting parameters
#
# **Goal:** count what a model has and what it will train — exactly, by hand first, then with a helper.
#
# By the end you can:
# - tell parameter **tensors** from parameter **elements**, and count both;
# - report trainable / total / percentage after freezing;
# - avoid double counting tied (shared) weights, and handle lazy modules;
# - read real numbers for torchvision models (ResNet-18, ResNet-50 with a 5-class head, MobileNet V3);
# - draw a *freeze map* of a model.
#
# Sources: PyTorch docs for `Module.parameters`, `Module.named_parameters(remove_duplicate=...)` and
# lazy modules (`torch.nn.LazyLinear`); torchvision model docs (`weights=None` builds the architecture
# with random weights, offline).

# %%
import torch
import torchvision
from torch import nn

from freezelab.device import describe_device, pick_device, seed_everything
from freezelab.inspect import freeze_map, param_count, summary, trainable_names
from freezelab.quiz import show

device = pick_device()
seed_everything(0)
print(describe_device())

# %% [markdown]
# ## 1. Tensors or elements? Say which one you mean
#
# "How many parameters does it have?" has two honest answers:
#
# - the number of parameter **tensors** — what `len(list(model.parameters()))` or
#   `sum(p.requires_grad for p in model.parameters())` gives (the sum adds up booleans, one per tensor);
# - the number of parameter **elements** (the scalars) — what `sum(p.numel() for p in ...)` gives, and
#   what papers mean by "11.7M parameters".
#
# Quizzes and blog posts often blur the two. Here is the classic small network.
#
# **Commit to your answer:** `nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 2))` — how many
# tensors, how many elements?

# %%
show(ids=["cnt-predict-sequential"])

# %%
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 2)).to(device)

# %% tags=["check-output"]
for name, p in model.named_parameters():
    print(f"{name:9} shape={str(tuple(p.shape)):8} numel={p.numel():3}")
print("tensors: ", len(list(model.parameters())))
print("elements:", sum(p.numel() for p in model.parameters()))

# %% [markdown]
# `Linear(10, 5)` holds a 5×10 weight and 5 biases (55); `Linear(5, 2)` a 2×5 weight and 2 biases (12).
# `ReLU` has no parameters at all. So: **4 tensors, 67 elements.**
#
# **Commit to your answer:** freeze the first layer. What does each count below print?

# %%
show(ids=["cnt-predict-freeze-first"])

# %% tags=["check-output"]
model[0].requires_grad_(False)
trainable_tensors = sum(p.requires_grad for p in model.parameters())
trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
total = sum(p.numel() for p in model.parameters())
print("trainable tensors: ", trainable_tensors)
print("trainable elements:", trainable)
print(f"Trainable: {trainable:,} / Total: {total:,} ({100 * trainable / total:.1f}%)")

# %% [markdown]
# Two trainable *tensors* (the second layer's weight and bias) holding twelve trainable *elements* —
# 17.9% of the model. Same model, same question, two different correct numbers: always say which one.

# %% [markdown]
# ## 2. The same counts with `freezelab.inspect`
#
# The course's helpers do exactly the sums above (they only *look*; they never change `requires_grad`):
# `param_count` returns both kinds of count, `summary` prints one row per layer.

# %% tags=["check-output"]
counts = param_count(model)
print(counts)
print("tensors:", counts.tensors, "trainable tensors:", counts.trainable_tensors)
print(summary(model))

# %% [markdown]
# ## 3. Tied weights: count a shared tensor once
#
# Language models often *tie* the input embedding and the output layer: both modules point at the same
# `nn.Parameter`. It is one tensor, updated once per step, so it must be counted once.
#
# `model.parameters()` de-duplicates shared tensors for you. Two common shortcuts do not:
# `named_parameters(remove_duplicate=False)` lists every name, and summing over `state_dict()` counts
# every *entry* (tied names appear twice, and buffers such as BatchNorm's running statistics are
# included too, although they are not parameters).
#
# **Commit to your answer:** a vocabulary of 100 words, 16-dimensional embeddings, tied output layer.
# How many elements does each method report?

# %%
show(ids=["cnt-predict-tied"])

# %%
class TinyLM(nn.Module):
    """Embedding -> Linear back to the vocabulary, with the two weights tied."""

    def __init__(self, vocab: int = 100, dim: int = 16) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.decoder = nn.Linear(dim, vocab)
        self.decoder.weight = self.embed.weight  # one tensor, two names

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.embed(tokens))


lm = TinyLM()

# %% tags=["check-output"]
print("parameters() (de-duplicated):    ", sum(p.numel() for p in lm.parameters()))
print("named_parameters(remove_dup=False):",
      sum(p.numel() for _, p in lm.named_parameters(remove_duplicate=False)))
print("state_dict() entries:             ", sum(t.numel() for t in lm.state_dict().values()))
print("param_count:                      ", param_count(lm).total)
print("same object:", lm.decoder.weight is lm.embed.weight)

# %% [markdown]
# 1,600 embedding weights + 100 output biases = 1,700. The naive sums say 3,300 because the 1,600
# shared weights appear twice. Freezing follows the tensor, not the name: freezing `lm.embed` also
# freezes the decoder's weight, because they are the same object.

# %% tags=["check-output"]
lm.embed.requires_grad_(False)
print("trainable names:", trainable_names(lm))
print("decoder.weight.requires_grad:", lm.decoder.weight.requires_grad)

# %% [markdown]
# ## 4. Lazy modules have no size until they see data
#
# `nn.LazyLinear(out_features)` works out `in_features` from the first batch it receives. Until then its
# weight is an `UninitializedParameter`: it has no shape, so it cannot be counted.

# %% tags=["check-output"]
lazy = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.Linear(8, 2))
try:
    param_count(lazy)
except ValueError as err:
    print("before any data:", err)
lazy(torch.zeros(1, 20))  # one dummy batch fixes in_features = 20
print("after one batch:", param_count(lazy))

# %% [markdown]
# Freezing, on the other hand, can come first — but only in the loop form that *assigns* the flag. The
# method `requires_grad_(False)` is a tensor operation, and an uninitialised parameter refuses every one:

# %% tags=["check-output"]
lazy = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.Linear(8, 2))
try:
    lazy.requires_grad_(False)
except ValueError as err:
    print("module.requires_grad_(False):", str(err).split(" in ")[0])
for p in lazy.parameters():
    p.requires_grad = False  # a plain attribute assignment works on an uninitialised parameter
lazy(torch.zeros(1, 20))
print("after one batch, still frozen:", [p.requires_grad for p in lazy.parameters()])

# %% [markdown]
# ## 5. Real models, counted live
#
# torchvision builds any of its architectures offline with `weights=None`: random weights, exactly the
# same shapes as the pretrained ones, so every count below is the real count.
#
# **Commit to your answer:** in a ResNet-50 with everything frozen and a fresh 5-class `fc` head, what
# percentage of the elements trains? More or less than 1%?

# %%
show(ids=["cnt-predict-resnet50-share"])

# %% tags=["check-output"]
resnet50 = torchvision.models.resnet50(weights=None)
print(f"ResNet-50 as built (1000 ImageNet classes): {param_count(resnet50).total:,} elements")
resnet50.requires_grad_(False)  # freeze the whole backbone...
resnet50.fc = nn.Linear(resnet50.fc.in_features, 5)  # ...then add a new head: trainable by default
trainable = sum(p.numel() for p in resnet50.parameters() if p.requires_grad)
total = sum(p.numel() for p in resnet50.parameters())
print("fc.in_features:", resnet50.fc.in_features)
print(f"Trainable: {trainable:,} / Total: {total:,} ({100 * trainable / total:.1f}%)")
print(f"with two decimals: {100 * trainable / total:.2f}%")

# %% [markdown]
# The head is 2048 × 5 weights + 5 biases = 10,245 elements out of 23.5 million. A format string with one
# decimal prints **0.0%**, which reads as "nothing trains" — print two decimals (0.04%) or the raw counts.

# %% [markdown]
# Replacing the 1000-class head (2,049,000 elements) by a 5-class one also shrank the model by about two
# million elements. ResNet-18, for comparison:

# %% tags=["check-output"]
resnet18 = torchvision.models.resnet18(weights=None)
print(f"ResNet-18: {param_count(resnet18).total:,} elements, head = {resnet18.fc}")

# %% [markdown]
# Where is the head? It depends on the family: ResNets end in `fc`; MobileNet, VGG and EfficientNet
# end in a `classifier` *Sequential* whose last item is the linear layer. Lesson 3 replaces both.

# %% tags=["check-output"]
mobilenet = torchvision.models.mobilenet_v3_small(weights=None)
mobilenet.requires_grad_(False)
mobilenet.classifier[-1] = nn.Linear(mobilenet.classifier[-1].in_features, 5)
print(param_count(mobilenet))
print("trainable:", trainable_names(mobilenet))

# %% [markdown]
# ## 6. The freeze map
#
# A table of numbers hides the shape of the model; a picture shows it. `freeze_map` draws one bar per
# top-level module, sized by its number of elements (log scale here, since layer4 dwarfs the stem),
# coloured by status. Below: ResNet-18 with only `layer4` and `fc` trainable.

# %%
resnet18.requires_grad_(False)
resnet18.layer4.requires_grad_(True)
resnet18.fc.requires_grad_(True)
fig = freeze_map(resnet18, log=True)

# %% tags=["check-output"]
print(param_count(resnet18))
share = sum(p.numel() for p in resnet18.layer4.parameters()) / param_count(resnet18).total
print(f"layer4 holds {100 * share:.0f}% of all elements")

# %% [markdown]
# Almost three quarters of ResNet-18's elements sit in `layer4` (printed above): the last stage is the
# heaviest in parameters. Compute is another matter. A convolution applies its weights at every position
# of its feature map, and each ResNet stage halves the map's height and width (4x fewer positions) while
# doubling the channels (4x more weights per position): every stage costs about the same arithmetic.
# PyTorch's `FlopCounterMode` counts it for one 224x224 image:

# %% tags=["check-output"]
from torch.utils.flop_counter import FlopCounterMode

with FlopCounterMode(display=False) as flops, torch.no_grad():
    resnet18.eval()(torch.zeros(1, 3, 224, 224))
total_flops = flops.get_total_flops()
for stage in ("conv1", "layer1", "layer2", "layer3", "layer4", "fc"):
    share = sum(flops.get_flop_counts()[f"ResNet.{stage}"].values()) / total_flops
    elements = sum(p.numel() for p in resnet18.get_submodule(stage).parameters())
    print(f"{stage:7} {100 * elements / param_count(resnet18).total:5.1f}% of the elements, "
          f"{100 * share:5.1f}% of the forward FLOPs")

# %% [markdown]
# `layer4` holds 72% of the elements but only about 23% of the forward compute; `layer1` holds 1% and
# costs slightly more. Parameter counts tell you the memory for gradients and optimizer state; they do
# not tell you the compute. Lesson 7 measures what freezing each end saves in time.

# %% [markdown]
# ## Check yourself

# %%
from freezelab.quiz import flashcards

show(topic="counting", difficulty="easy")

# %%
show(topic="counting", difficulty="medium")

# %%
show(topic="counting", difficulty="hard")

# %% [markdown]
# ## Recap
#
# - `sum(p.requires_grad for p in ...)` counts **tensors**; `sum(p.numel() for p in ... if
#   p.requires_grad)` counts **elements**. Report trainable / total / percentage, with enough decimals.
# - `parameters()` counts a shared tensor once; `state_dict()` and `remove_duplicate=False` do not (and
#   `state_dict()` also holds buffers).
# - Lazy modules must see one batch before they can be counted; to freeze one earlier, assign
#   `p.requires_grad = False` in a loop (the method `requires_grad_` raises on it).
# - Parameters are not compute: ResNet-18's `layer4` holds 72% of the elements and about 23% of the FLOPs.
# - `weights=None` gives the real architecture offline: ResNet-18 has 11.7M elements, ResNet-50 23.5M;
#   a new 5-class head on a frozen ResNet-50 trains 10,245 of them.
#
# Next: **lesson 3, freezing strategies**.

# %%
flashcards(topic="counting")
