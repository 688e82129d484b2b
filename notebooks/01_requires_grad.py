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
# # Lesson 1 — Parameters and `requires_grad`
#
# **Goal:** see, in a few lines of code, what "freezing a layer" really does in PyTorch — and what it
# does not do.
#
# By the end you can:
# - show that one optimizer step changes *every* parameter unless you say otherwise;
# - freeze a layer with one line, `module.requires_grad_(False)`;
# - explain what autograd does for a frozen tensor (no `.grad`, no graph, same forward pass);
# - tell freezing apart from `torch.no_grad()`, `model.eval()` and deleting a layer;
# - spot the three famous fake freezes: `model.requires_grad = False`, `param.grad = ...`, `model.freeze()`.
#
# Facts here come from the PyTorch docs: *Autograd mechanics* ("Locally disabling gradient computation")
# and `torch.nn.Module.requires_grad_`.

# %%
import torch
from torch import nn

from freezelab.device import describe_device, pick_device, seed_everything
from freezelab.quiz import show

device = pick_device()
seed_everything(0)
print(describe_device())

# %% [markdown]
# ## 1. A training step moves every weight
#
# A *parameter* is a tensor the model owns and the optimizer may change (an `nn.Parameter`). A small
# network with two linear layers has four of them: a weight and a bias per layer.
#
# **Commit to your answer:** after one step of plain SGD, how many of the four tensors have changed?
# Lock in your answer in the widget below; the cells after it check it.

# %%
show(ids=["rg-predict-one-step"])

# %%
def tiny_net() -> nn.Module:
    """Linear(4, 3) -> ReLU -> Linear(3, 2), the same weights every time."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).to(device)


torch.manual_seed(1)
x = torch.randn(8, 4, device=device)
y = torch.randint(0, 2, (8,), device=device)


def sgd_step(model: nn.Module, lr: float = 0.1) -> dict[str, bool]:
    """One SGD step on (x, y); report which parameters changed."""
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=lr) if params else None
    loss = nn.functional.cross_entropy(model(x), y)
    if loss.requires_grad:
        loss.backward()
        optimizer.step()
    return {name: not torch.equal(before[name], p) for name, p in model.named_parameters()}


# %% tags=["check-output"]
model = tiny_net()
for name, p in model.named_parameters():
    print(f"{name:9} shape={tuple(p.shape)}  requires_grad={p.requires_grad}")
print("changed by one step:", sgd_step(model))

# %% [markdown]
# All four moved. By default every parameter is created with `requires_grad=True`, so backpropagation
# computes a gradient for each one and the optimizer uses it. Training "updates everything unless told
# otherwise" — freezing is how you tell it otherwise.

# %% [markdown]
# ## 2. Freezing in one line
#
# `Module.requires_grad_(False)` walks over every parameter of a module (and its children) and sets the
# flag. It returns the module, so it chains. The loop version does exactly the same:
#
# ```python
# for p in model[0].parameters():
#     p.requires_grad = False
# ```
#
# **Commit to your answer:** we freeze the first layer only. Which of the four tensors will the next step
# change?

# %%
show(ids=["rg-predict-freeze-first"])

# %% tags=["check-output"]
model = tiny_net()
model[0].requires_grad_(False)  # the one-liner
for name, p in model.named_parameters():
    print(f"{name:9} requires_grad={p.requires_grad}")
print("changed by one step:", sgd_step(model))

# %% [markdown]
# Only the second layer moved. Notice that `sgd_step` handed the optimizer only the trainable
# parameters — a habit you will meet again in lesson 3.

# %% [markdown]
# ## 3. What autograd does (and does not do) for a frozen tensor
#
# `requires_grad=False` tells autograd: *no gradient is needed for this tensor*. Three consequences:
#
# 1. its `.grad` stays `None` after `backward()` — no gradient is ever stored;
# 2. if **no** input of an operation needs a gradient, autograd records nothing: the result has
#    `grad_fn is None` (no graph, so no memory kept for the backward pass);
# 3. the forward pass is unchanged: same weights, same arithmetic, same outputs.

# %% tags=["check-output"]
model = tiny_net()
model[0].requires_grad_(False)
loss = nn.functional.cross_entropy(model(x), y)
loss.backward()
for name, p in model.named_parameters():
    print(f"{name:9} grad is None: {p.grad is None}")

# %% [markdown]
# **Commit to your answer:** we freeze the *whole* network and push `x` (a plain tensor, no gradient
# needed) through it. Does the output have a `grad_fn`?

# %%
show(ids=["rg-predict-grad-fn"])

# %% tags=["check-output"]
model = tiny_net()
out_trainable = model(x)
model.requires_grad_(False)
out_frozen = model(x)
print("trainable model: out.grad_fn =", type(out_trainable.grad_fn).__name__)
print("frozen model:    out.grad_fn =", out_frozen.grad_fn)
print("same forward values:", torch.equal(out_trainable.detach(), out_frozen))

# %% [markdown]
# No graph at all, yet exactly the same numbers. When *some* inputs still need gradients (a trainable
# head on top of a frozen body), autograd builds the graph only from the first operation that involves a
# trainable tensor: the frozen part in front of it costs no backward work. Lesson 7 measures that saving.

# %% [markdown]
# ## 4. Freezing is not `no_grad`, not `eval()`, not removal
#
# Three things are often confused with freezing. Each one does something different.
#
# | you write | what it changes | are the weights frozen? |
# |---|---|---|
# | `p.requires_grad_(False)` / `module.requires_grad_(False)` | the parameter: no gradient, no update | **yes** |
# | `with torch.no_grad():` / `torch.inference_mode()` | *this block of code*: nothing is recorded | no — the flags are untouched |
# | `model.eval()` | layer *behaviour*: dropout off, BatchNorm uses running stats | no |
# | `del model[0]` / a new `nn.Sequential` without it | the architecture: the layer no longer computes | it is gone, not frozen |

# %% tags=["check-output"]
model = tiny_net()
with torch.no_grad():
    out = model(x)
print("inside no_grad: out.requires_grad =", out.requires_grad)
print("flags after the block:", [p.requires_grad for p in model.parameters()])
try:
    nn.functional.cross_entropy(out, y).backward()
except RuntimeError as err:
    print("backward() fails:", str(err).split(" and ")[0])
with torch.inference_mode():
    out = model(x)
print("inside inference_mode: out.requires_grad =", out.requires_grad,
      "| flags:", [p.requires_grad for p in model.parameters()])

# %% [markdown]
# `no_grad` is for evaluation and for code that should not be recorded at all (for example caching
# features in lesson 7). It freezes nothing: leave the block and the next step trains everything.
#
# `torch.inference_mode()` is faster and stricter. It freezes nothing either, but what it computes are
# *inference tensors*, which autograd refuses to save for a backward pass. Features computed under it
# cannot feed a head you train; features computed under `no_grad` can:

# %% tags=["check-output"]
head = nn.Linear(2, 2).to(device)
with torch.inference_mode():
    features = model(x)
try:
    nn.functional.cross_entropy(head(features), y).backward()
except RuntimeError as err:
    print("head on inference_mode features:", str(err).split(".")[0])
with torch.no_grad():
    features = model(x)
nn.functional.cross_entropy(head(features), y).backward()
print("head on no_grad features: head.weight.grad is None =", head.weight.grad is None)

# %% [markdown]
# (`features.clone()` outside the block also gives an ordinary tensor.) Use `inference_mode` for pure
# prediction, `no_grad` for anything a later training step will read.

# %% [markdown]
# **Commit to your answer:** we call `model.eval()` and then take an SGD step. Do the weights move?

# %%
show(ids=["rg-predict-eval-step"])

# %% tags=["check-output"]
model = tiny_net()
model.eval()
print("training mode:", model.training)
print("changed by one step:", sgd_step(model))

# %% [markdown]
# They all move. `eval()` only flips the `training` flag that dropout and BatchNorm read — lesson 6
# shows why you still need it *in addition to* freezing for BatchNorm layers.
#
# Finally, a frozen layer is still part of the model and still computes. Removing it changes the
# function; freezing it does not:

# %% tags=["check-output"]
model = tiny_net()
model[0].requires_grad_(False)
before = model(x)
with torch.no_grad():
    model[0].weight.mul_(2.0)  # edit the frozen weights by hand
print("layers still in the model:", [type(m).__name__ for m in model])
print("editing the frozen layer changes the output:", not torch.equal(before, model(x)))

# %% [markdown]
# ## 5. Three fake freezes
#
# These lines run without complaint (or with a confusing error) and freeze nothing.
#
# **Commit to your answer:** after `model.requires_grad = False`, how many parameters are frozen?

# %%
show(ids=["rg-predict-attribute"])

# %% tags=["check-output"]
model = tiny_net()
model.requires_grad = False  # a plain Python attribute on the Module object
print("model.requires_grad:", model.requires_grad)
print("parameter flags:", [p.requires_grad for p in model.parameters()])
print("changed by one step:", sgd_step(model))

# %% [markdown]
# Zero. An `nn.Module` is an ordinary Python object, so assigning any attribute simply creates it. The
# parameters' own flags never change. The method with the trailing underscore, `requires_grad_(False)`,
# is the one that does the work.
#
# Next: `param.grad` holds the *gradient values* (a tensor, or `None`). It is not a switch.

# %% tags=["check-output"]
model = tiny_net()
try:
    for p in model[0].parameters():
        p.grad = False
except TypeError as err:
    print("p.grad = False ->", type(err).__name__ + ":", err)
for p in model[0].parameters():
    p.grad = None  # allowed, but it only clears the current gradient
print("after p.grad = None:", sgd_step(model))

# %% [markdown]
# `p.grad = None` merely empties the gradient slot; the next `backward()` fills it again. And there is
# no built-in `model.freeze()` in PyTorch. Libraries that have one set exactly the flag you just used,
# and each does more besides: Lightning's `LightningModule.freeze()` freezes every parameter *and calls
# `eval()`* (it is meant for inference); fastai's `Learner.freeze()` freezes every parameter group but
# the last (the head), leaves BatchNorm layers trainable by default (`train_bn=True`) and clears the
# optimizer's state. Read what a helper does before relying on it.

# %% tags=["check-output"]
print("nn.Module has freeze():", hasattr(nn.Module, "freeze"))
print("nn.Module has requires_grad_():", hasattr(nn.Module, "requires_grad_"))

# %% [markdown]
# ## 6. Freeze and unfreeze whenever you like
#
# The flag is read every time autograd runs, so you can change it between any two steps: train the
# head alone for a while, then unfreeze the body (lesson 5 builds whole workflows on this).
#
# Below, the first layer is frozen for steps 4–7 and trainable otherwise. The plot shows how far each
# layer's weights move at each step.

# %%
import matplotlib.pyplot as plt

model = tiny_net()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)  # plain SGD skips params whose grad is None
moves = {"0.weight": [], "2.weight": []}
for step in range(12):
    model[0].requires_grad_(not 4 <= step < 8)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
    for name in moves:
        moves[name].append((dict(model.named_parameters())[name] - before[name]).norm().item())

fig, ax = plt.subplots(figsize=(6, 2.6))
for name, values in moves.items():
    ax.plot(values, marker="o", label=name)
ax.axvspan(3.5, 7.5, color="grey", alpha=0.2, label="layer 0 frozen")
ax.set(xlabel="step", ylabel="size of the update", title="freezing takes effect at the next step")
ax.legend()
plt.show()

# %% tags=["check-output"]
print("layer 0 moved during frozen steps:", any(v > 0 for v in moves["0.weight"][4:8]))
print("layer 0 moved after unfreezing:", all(v > 0 for v in moves["0.weight"][8:]))

# %% [markdown]
# One caution the plot hides: the loop called `zero_grad()` before every `backward()`, and its default
# sets every `.grad` to `None`, so during the frozen steps layer 0 had no gradient and the optimizer
# skipped it. Had the gradients been zeroed in place instead (`zero_grad(set_to_none=False)`), an
# optimizer with momentum or weight decay would still have moved it; had a gradient from before the
# freeze been left in place, even plain SGD would have. Lesson 6 shows both failing, and the fixes.

# %% [markdown]
# ## Check yourself
#
# Quizzes explain every option, right or wrong. Start easy, then try the harder ones.

# %%
from freezelab.quiz import flashcards

show(topic="requires_grad", difficulty="easy")

# %%
show(topic="requires_grad", difficulty="medium")

# %%
show(topic="requires_grad", difficulty="hard")

# %% [markdown]
# ## Recap
#
# - Every parameter trains by default; `module.requires_grad_(False)` freezes all of a module's
#   parameters in one line.
# - A frozen tensor gets no `.grad`, no graph is built where nothing needs a gradient, and the forward
#   pass is unchanged — the layer still computes.
# - `no_grad` / `inference_mode` switch off recording for a block of code; `eval()` changes layer
#   behaviour. Neither freezes.
# - `model.requires_grad = False`, `param.grad = ...` and `model.freeze()` are not freezing.
# - Freezing is a flag read at every step: flip it whenever the training plan says so.
#
# Review the deck below, then go on to **lesson 2: counting parameters**.

# %%
flashcards(topic="requires_grad")
