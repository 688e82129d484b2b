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
# # Lesson 11 — Freezing in real training code
#
# Lessons 1-10 froze layers in a plain training loop. Real training code adds optimizers that carry
# state, checkpoints on disk, activation checkpointing, several processes, a compiler, mixed precision
# and libraries such as Hugging Face PEFT. Each of them has its own rule about freezing. For most of
# them you **predict** first, then run it.
#
# 1. Optimizer state across freeze and unfreeze — and `freezelab.audit`, a check for every bug in this course
# 2. Saving and loading only what trains (and what else changed)
# 3. Gradient checkpointing with a frozen prefix (`use_reentrant`)
# 4. DDP and FSDP: freeze before wrapping (a real two-process run on the CPU)
# 5. Wrapper name prefixes: `module.` and `_orig_mod.`
# 6. `torch.compile` recompiles when the freeze changes
# 7. Mixed precision, and why a frozen low-precision base saves the most memory
# 8. Hugging Face PEFT on a tiny transformer: LoRA, `modules_to_save`, adapter files, merging
#
# Everything here runs on the CPU on purpose: these are mechanics, not speed, and the distributed part
# uses the CPU backend (gloo) so that it runs on any laptop.
#
# Sources: PyTorch docs for `torch.optim` (`Optimizer.add_param_group`, `state_dict`),
# `Module.load_state_dict`, `torch.utils.checkpoint`, `DistributedDataParallel`,
# `FullyShardedDataParallel` and `fully_shard`, `torch.compile` and its troubleshooting page,
# `torch.autocast`; Hu et al. 2021, *LoRA: Low-Rank Adaptation of Large Language Models*;
# Dettmers et al. 2023, *QLoRA: Efficient Finetuning of Quantized LLMs*; Micikevicius et al. 2018,
# *Mixed Precision Training*; the Hugging Face PEFT docs (`LoraConfig`, `get_peft_model`,
# `PeftModel.save_pretrained`, `merge_and_unload`).

# %%
import os
import tempfile
import warnings
from inspect import getsource

import torch
from torch import nn

from freezelab import audit
from freezelab.backbones import TinyResNet, load_pretrained
from freezelab.data import target_task
from freezelab.device import seed_everything
from freezelab.plans import eval_frozen_batchnorm, train_only, trainable_parameters
from freezelab.quiz import flashcards, show

seed_everything(0)
QUESTIONS = ["mcq", "multi", "code-output", "free-response"]  # end-of-lesson quiz: no predictions
task = target_task("inverted")  # digits 0-4 with ink and paper swapped: the backbone's classes, new pixels
images, labels = task.x_train[:64], task.y_train[:64]


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """One step of cross-entropy on the same 64 images."""
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(images), labels).backward()
    optimizer.step()


# %% [markdown]
# ## 1. Optimizer state across freeze and unfreeze
#
# Adam keeps two running averages per parameter (`exp_avg`, `exp_avg_sq`) and a step count; SGD with
# momentum keeps a velocity. This *state* lives in `optimizer.state`, keyed by the parameter tensor.
# The usual two-phase recipe trains the head, then unfreezes more of the network. There are two ways to
# hand the newly unfrozen parameters to the optimizer:
#
# - **add a param group** to the optimizer you have: `optimizer.add_param_group({"params": ...})`;
# - **rebuild** the optimizer over everything that now trains.
#
# First, the mistake from lesson 6 — unfreezing and doing neither — and a tool that catches it.
# `freezelab.audit(model, optimizer)` looks at a model and its optimizer and reports every freezing bug
# this course teaches (the full list is in `docs/audit.md`); nothing is changed.

# %% tags=["check-output"]
def head_trained() -> tuple[nn.Module, torch.optim.Optimizer]:
    """The pretrained backbone frozen (BatchNorm in eval mode), the head trained for 3 Adam steps."""
    torch.manual_seed(0)
    model = train_only(load_pretrained(), ["fc"]).train()
    eval_frozen_batchnorm(model)
    optimizer = torch.optim.Adam(model.fc.parameters(), lr=1e-3)
    for _ in range(3):
        train_step(model, optimizer)
    return model, optimizer


model, optimizer = head_trained()
print("phase 1, head only:", audit(model, optimizer).codes)
model.layer3.requires_grad_(True)  # phase 2: unfreeze the last block... and forget the optimizer
print("phase 2, layer3 unfrozen:", audit(model, optimizer).codes)

# %% [markdown]
# In a notebook the report is a table; `print(report)` gives the same as text, and `report.ok` is
# `True` when nothing was found.

# %%
audit(model, optimizer)

# %% [markdown]
# The audit names what is wrong and how to fix it. Now the two fixes.
#
# **Commit to your answer:** after 3 steps on the head we rebuild Adam over the head and `layer3`. How
# does the head's next update compare with the one it would get from the optimizer it already had?

# %%
show(ids=["rt-predict-rebuild"])


# %% tags=["check-output"]
def next_head_update(rebuild: bool) -> tuple[torch.Tensor, int]:
    """Unfreeze layer3 after 3 head steps, hand it to the optimizer one way or the other, step once:
    returns |change| of the head's weight and the head's Adam step count."""
    model, optimizer = head_trained()
    model.layer3.requires_grad_(True)
    if rebuild:
        optimizer = torch.optim.Adam(trainable_parameters(model), lr=1e-3)
    else:
        optimizer.add_param_group({"params": model.layer3.parameters(), "lr": 1e-3})
    before = model.fc.weight.detach().clone()
    train_step(model, optimizer)
    return (model.fc.weight - before).abs(), int(optimizer.state[model.fc.weight]["step"])


for rebuild in (False, True):
    delta, steps = next_head_update(rebuild)
    print(f"{'rebuilt optimizer' if rebuild else 'add_param_group  '}: head's Adam step count {steps}, "
          f"every head weight moved by ~lr: {torch.allclose(delta, torch.full_like(delta, 1e-3), rtol=0.01)}")

# %% [markdown]
# With `add_param_group` the head's state survives (this is its 4th step) and `layer3` starts with fresh
# state of its own. A rebuilt optimizer starts the head's state from scratch: its step count is 1 again,
# and Adam's first step divides the gradient by its own magnitude, so **every** head weight moves by
# almost exactly the learning rate, whatever the size of its gradient (only gradients near Adam's
# `eps` = 1e-8 give less) — a jolt to a head that was settling down.
# Rebuilding has a second trap: a learning-rate scheduler holds a reference to the optimizer it was
# built with.

# %% tags=["check-output"]
model, optimizer = head_trained()
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)  # halve lr every step
optimizer = torch.optim.Adam(trainable_parameters(model), lr=1e-3)  # rebuilt
train_step(model, optimizer)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # PyTorch notices that the scheduler's optimizer never stepped
    scheduler.step()
print("the scheduler still drives the old optimizer:", scheduler.optimizer is not optimizer)
print("learning rate after one scheduler step: old optimizer", scheduler.optimizer.param_groups[0]["lr"],
      "| the one training now", optimizer.param_groups[0]["lr"])

# %% [markdown]
# **Rule:** when you unfreeze, prefer `add_param_group` (with its own learning rate, lesson 5). If you
# rebuild, you drop the state of everything that was already training and must rebuild the scheduler
# too.
#
# ## 2. Saving and loading only what trains
#
# A fine-tuned copy of a big model is mostly the frozen base, unchanged. Saving only what trained makes
# the checkpoint small — but "what trained" is not only the parameters with `requires_grad=True`.
# We fine-tune the backbone with **BitFit** (only the biases train, lesson 9) on the inverted digits,
# then save the trainable tensors and load them into a fresh copy of the pretrained model with
# `load_state_dict(strict=False)`.
#
# **Commit to your answer:** does the reloaded copy compute the same outputs as the fine-tuned model?

# %%
show(ids=["rt-predict-strict-false"])


# %% tags=["check-output"]
def bitfit_finetuned() -> nn.Module:
    """The pretrained model with only its biases trained for 5 SGD steps (BatchNorm in train mode)."""
    torch.manual_seed(0)
    model = load_pretrained().train()
    for name, param in model.named_parameters():
        param.requires_grad_(name.endswith("bias"))
    optimizer = torch.optim.SGD(trainable_parameters(model), lr=0.05, momentum=0.9)
    for _ in range(5):
        train_step(model, optimizer)
    return model.eval()


finetuned = bitfit_finetuned()
trainable_only = {n: p.detach().clone() for n, p in finetuned.named_parameters() if p.requires_grad}
reloaded = load_pretrained().eval()
keys = reloaded.load_state_dict(trainable_only, strict=False)
print(f"saved {len(trainable_only)} tensors; missing keys: {len(keys.missing_keys)}, "
      f"unexpected keys: {len(keys.unexpected_keys)}")
with torch.no_grad():
    print("same outputs as the fine-tuned model:", torch.allclose(reloaded(images), finetuned(images)))

# %% [markdown]
# Not the same. The BatchNorm layers that hold a trainable bias stayed in train mode, so their
# **running statistics** (buffers, not parameters) moved too. Compare the whole `state_dict` with the
# pretrained one to see everything that changed:

# %% tags=["check-output"]
pretrained_state = load_pretrained().state_dict()
changed = {k: v for k, v in finetuned.state_dict().items() if not torch.equal(v, pretrained_state[k])}
kinds = {"trainable parameters": [k for k in changed if k in trainable_only],
         "running_mean / running_var": [k for k in changed if k.endswith(("running_mean", "running_var"))],
         "num_batches_tracked": [k for k in changed if k.endswith("num_batches_tracked")]}
for kind, names in kinds.items():
    print(f"{kind:28} {len(names)} tensors changed")
print("anything else changed:", len(changed) - sum(len(v) for v in kinds.values()))

reloaded = load_pretrained().eval()
keys = reloaded.load_state_dict(changed, strict=False)
# strict=False also accepts typos and wrong prefixes silently: check both lists yourself.
assert not keys.unexpected_keys, keys.unexpected_keys
assert set(keys.missing_keys) == set(pretrained_state) - set(changed)
with torch.no_grad():
    print("saving everything that changed -> same outputs:",
          torch.allclose(reloaded(images), finetuned(images)))
print(f"checkpoint size: {sum(v.numel() for v in changed.values()):,} numbers instead of "
      f"{sum(v.numel() for v in pretrained_state.values()):,}")

# %% [markdown]
# **Rules:** save what *changed*, not what had `requires_grad=True` — with BitFit or any fine-tuning that
# leaves BatchNorm in train mode, that includes the running statistics. `strict=False` turns every
# key mismatch into a silent no-op, so always check `missing_keys` (exactly the frozen part) and
# `unexpected_keys` (empty). Section 5 shows a whole checkpoint lost that way.
#
# ## 3. Gradient checkpointing with a frozen prefix
#
# Activation checkpointing (`torch.utils.checkpoint.checkpoint`) does not keep a block's activations
# for backward; it runs the block again during backward. PyTorch has two implementations, chosen with
# `use_reentrant`. The PyTorch docs recommend `use_reentrant=False`; the reentrant one has a rule that
# meets freezing head-on: it computes gradients only if at least one *input tensor* of the block
# requires grad. After a frozen prefix, no input does.
#
# We freeze the stem and `layer1`, train `layer2`, `layer3` and `fc`, and checkpoint `layer2`.
#
# **Commit to your answer:** with `use_reentrant=True`, does `layer2` get gradients?

# %%
show(ids=["rt-predict-reentrant"])

# %% tags=["check-output"]
from torch.utils.checkpoint import checkpoint


def forward_checkpointed(model: nn.Module, x: torch.Tensor, use_reentrant: bool) -> torch.Tensor:
    """TinyResNet's forward pass with layer2 checkpointed."""
    x = model.layer1(model.relu(model.bn1(model.conv1(x))))  # frozen prefix: x does not require grad
    x = checkpoint(model.layer2, x, use_reentrant=use_reentrant)
    return model.fc(torch.flatten(model.avgpool(model.layer3(x)), 1))


for use_reentrant in (True, False):
    model = train_only(load_pretrained(), ["layer2", "layer3", "fc"]).eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nn.functional.cross_entropy(forward_checkpointed(model, images, use_reentrant), labels).backward()
    print(f"use_reentrant={use_reentrant!s:5}: layer2 has gradients: "
          f"{model.layer2.conv1.weight.grad is not None}, layer3 has gradients: "
          f"{model.layer3.conv1.weight.grad is not None}, PyTorch warned: {bool(caught)}")

# %% [markdown]
# With `use_reentrant=True` the block silently drops out of training (PyTorch only warns that none of
# the inputs requires grad); the layers after it still train, so the loss still goes down and nothing
# looks broken. Fixes: pass `use_reentrant=False`, or make the block's input require grad
# (`x.requires_grad_(True)`). Hugging Face's `model.enable_input_require_grads()` does exactly that
# for the embedding output, for adapter training with reentrant checkpointing; the `transformers`
# version installed here defaults its own checkpointing to `use_reentrant=False`.
#
# ## 4. DDP and FSDP: freeze before wrapping
#
# `DistributedDataParallel` (DDP) runs one process per device, each with a full copy of the model, and
# averages gradients across processes (an *all-reduce*) during backward. It decides **when it is built**
# which parameters take part: those with `requires_grad=True` at that moment. It then expects a
# gradient for each of them in every iteration.
#
# The job below is real: two processes on your CPU, talking over the `gloo` backend, each with its own
# data. `freezelab.ddp_freeze` runs eight scenarios on `Linear(8, 16) -> ReLU -> Linear(16, 2)` and
# freezes (or unfreezes) the first layer at different moments. The function behind the first four:

# %%
from freezelab import ddp_freeze

print(getsource(ddp_freeze.ddp_scenario))

# %% [markdown]
# **Commit to your answer:** the first layer is frozen when DDP wraps the model and *unfrozen* right
# after. What happens during training?

# %%
show(ids=["rt-predict-ddp-unfreeze"])

# %% tags=["check-output"]
results = ddp_freeze.run()  # two processes; a few seconds, mostly starting Python and importing torch
for name in ("freeze before wrapping", "freeze after wrapping", "unfreeze after wrapping",
             "freeze after wrapping, find_unused", "wrap all, freeze, unfreeze, find_unused"):
    r = results[name]
    if r["error"]:
        outcome = f"stopped with an error at step {r['steps'] + 1}"
    else:
        outcome = (f"{r['steps']} steps; layer 0 moved: {r['layer0 moved']}, identical on both "
                   f"processes: {r['layer0 in sync']}; head identical: {r['head in sync']}")
    print(f"{name}\n    audit: {r['audit'] or 'clean'} -> {outcome}")

# %% [markdown]
# - **Freeze before wrapping** is the clean order for a fixed freeze: the frozen layer stays put, the
#   head is averaged.
# - **Freeze after wrapping:** DDP still waits for the frozen layer's gradient. The first step finishes,
#   but the reduction never completes, and DDP raises at the start of the next iteration (its message
#   suggests `find_unused_parameters=True`).
# - **Unfreeze after wrapping** is the dangerous one: no error, the layer trains on each process, but
#   DDP never averages its gradient — the two copies drift apart silently.
# - `find_unused_parameters=True` makes a freeze-after-wrapping run, at the price of an extra traversal
#   of the autograd graph every iteration (PyTorch's DDP docs).
# - **Gradual unfreezing** therefore has two correct forms: wrap the model again after each change (a
#   new DDP object registers what trains now), or — the last row — wrap while *everything* trains, with
#   `find_unused_parameters=True`, then freeze: unfreezing later only brings back parameters DDP
#   registered, so they are averaged again (3 steps frozen, 3 unfrozen, identical on both processes).
#
# `freezelab.audit` flags the two broken orders before a single step runs — a freeze after wrapping
# without `find_unused_parameters`, and an unfreeze beyond what DDP registered (code
# `ddp-changed-after-wrap`: it compares what DDP registered with what trains now).
#
# Here are the two functions behind the last row and the FSDP2 row below:

# %%
print(getsource(ddp_freeze.ddp_freeze_then_unfreeze))
print(getsource(ddp_freeze.fsdp2_scenario))

# %% [markdown]
# **FSDP** (fully sharded data parallel) shards parameters across processes. The original
# `FullyShardedDataParallel` (FSDP1) flattens all parameters of one wrapped unit into one
# `FlatParameter`, and one flat tensor has one `requires_grad`. Its docs state the rule: with `use_orig_params=False` every
# unit must hold only frozen or only trainable parameters; with `use_orig_params=True` mixing is allowed,
# but the docs warn that gradient memory is then higher than the freeze would suggest. The newer
# `fully_shard` (often called FSDP2) shards every parameter as its own `DTensor` (dim-0 sharding), with
# no flat parameter. The same job ran all three:

# %% tags=["check-output"]
for name in ("FSDP one unit, mixed", "FSDP frozen part in its own unit", "FSDP2 fully_shard, mixed"):
    r = results[name]
    print(f"{name:35} -> " + (f"{r['error'].split(':')[0]} when wrapping" if r["error"]
                              else f"{r['steps']} steps, no error"))
print("FSDP2: frozen layer unchanged:", not results["FSDP2 fully_shard, mixed"]["layer0 moved"])

# %%
print("FSDP1's message:", results["FSDP one unit, mixed"]["error"])

# %% [markdown]
# So with the original FSDP and `use_orig_params=False`, wrap so that each unit is all frozen or all
# trainable (in a transformer with LoRA, for example, a wrapping policy that puts the adapters and the
# frozen base in different units). FSDP2 took a half-frozen unit as it was, and kept the frozen layer
# frozen.
#
# ## 5. Wrapper name prefixes: `module.` and `_orig_mod.`
#
# DDP and `DataParallel` keep your model as `.module`, `torch.compile` as `._orig_mod`, so every
# parameter name gets a prefix. Code that freezes *by name* then quietly matches nothing.
#
# **Commit to your answer:** this loop means "train only the head". How many tensors train afterwards?
#
# ```python
# wrapped = nn.DataParallel(load_pretrained())
# for name, p in wrapped.named_parameters():
#     p.requires_grad_(name.startswith("fc"))
# ```

# %%
show(ids=["rt-predict-prefix"])

# %% tags=["check-output"]
wrapped = nn.DataParallel(load_pretrained())  # on a CPU it just calls the model
for name, p in wrapped.named_parameters():
    p.requires_grad_(name.startswith("fc"))
print("first names:", [n for n, _ in wrapped.named_parameters()][:2])
print("trainable tensors:", sum(p.requires_grad for p in wrapped.parameters()))
eval_frozen_batchnorm(wrapped)  # section 1's habit, so that the audit below is about the prefix only
print(audit(wrapped).codes)

# %% [markdown]
# Everything got frozen, head included (lesson 6's "nothing can learn"). The same prefix breaks
# checkpoints: a `state_dict` saved from the wrapper does not fit the bare model, and with
# `strict=False` nothing at all is loaded.

# %% tags=["check-output"]
bare = TinyResNet()
state = wrapped.state_dict()
keys = bare.load_state_dict(state, strict=False)
print(f"keys of the saved file that matched the bare model: {len(state) - len(keys.unexpected_keys)} "
      f"of {len(state)}")
torch.nn.modules.utils.consume_prefix_in_state_dict_if_present(state, "module.")
keys = bare.load_state_dict(state, strict=False)
print(f"after removing the prefix: {len(state) - len(keys.unexpected_keys)} of {len(state)}, "
      f"missing keys: {len(keys.missing_keys)}")

# %% [markdown]
# **Rules:** freeze through the model you built (before wrapping, or through `wrapped.module` /
# `compiled._orig_mod`), save `wrapped.module.state_dict()`, and strip a prefix with
# `torch.nn.modules.utils.consume_prefix_in_state_dict_if_present` when loading someone else's file.
#
# ## 6. `torch.compile` recompiles when the freeze changes
#
# `torch.compile` traces your model into a graph and guards it with conditions that must hold to reuse
# it — shapes, dtypes, and, for the tensors it treats as inputs, `requires_grad`. Freezing a layer breaks
# a guard, so the next call compiles again. We compile with `CompileCounter`, a backend from PyTorch's
# test helpers that counts compilations and runs each traced graph as it is, like the `eager` backend:
# no code generation, so it takes a second.
#
# **Commit to your answer:** we compile, call the model twice, freeze the first layer and call it, then
# unfreeze it and call it again. How many compilations in total?

# %%
show(ids=["rt-predict-compile"])

# %% tags=["check-output"]
from torch._dynamo.testing import CompileCounter

torch._dynamo.reset()
torch.manual_seed(0)
mlp = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
counter = CompileCounter()  # a backend that runs the traced graph eagerly and counts compilations
compiled = torch.compile(mlp, backend=counter)
x = torch.randn(8, 16)
for label, change in [("first call", None), ("second call", None),
                      ("after freezing layer 0", False), ("after unfreezing it", True)]:
    if change is not None:
        mlp[0].requires_grad_(change)  # through the original module: the parameters are shared
    compiled(x).sum().backward()
    print(f"{label:24} compilations so far: {counter.frame_count}")
print("parameter names of the compiled model:", [n for n, _ in compiled.named_parameters()][:1])

# %% [markdown]
# Freezing cost one recompilation; unfreezing reused the first graph. With the default backend
# (`inductor`) a recompilation generates code again and can take far longer than here. Gradual
# unfreezing therefore recompiles once per new freeze state, and after
# `torch._dynamo.config.recompile_limit` versions of one function (8 by default in current releases)
# PyTorch stops compiling it and runs it without compilation. `TORCH_LOGS="recompiles"` prints which
# guard failed. The compiled wrapper also adds the `_orig_mod.` prefix from section 5.
#
# ## 7. Mixed precision, and why a frozen low-precision base saves the most memory
#
# `torch.autocast` runs matrix multiplications in a 16-bit type (here `bfloat16`, which CPUs support)
# while the parameters stay `float32`. The memory a training step needs for the *weights* is
# parameters + gradients + optimizer state: with AdamW in float32 that is 4 + 4 + 8 = 16 bytes per
# trainable number, and 4 bytes per frozen number (no gradient, no state).
#
# **Commit to your answer:** full fine-tuning of the same model, with and without `autocast`: which needs
# less memory for parameters, gradients and optimizer state?

# %%
show(ids=["rt-predict-autocast"])

# %% tags=["check-output"]
from freezelab.peft import LoRALinear


def mlp_base(dtype: torch.dtype = torch.float32) -> nn.Sequential:
    """Four 256x256 linear layers: a stand-in for a pretrained network."""
    torch.manual_seed(0)
    return nn.Sequential(*[nn.Linear(256, 256) for _ in range(4)]).to(dtype)


def with_lora(base: nn.Sequential) -> nn.Sequential:
    """Freeze the base and wrap each layer with a rank-8 LoRA adapter (lesson 9), kept in float32."""
    return nn.Sequential(*[LoRALinear(layer, r=8) for layer in base])


def weight_memory(model: nn.Module, use_autocast: bool) -> int:
    """Bytes in parameters + gradients + AdamW state after one training step."""
    optimizer = torch.optim.AdamW(trainable_parameters(model), lr=1e-3)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_autocast):
        loss = model(torch.randn(32, 256)).float().pow(2).mean()
    loss.backward()
    optimizer.step()
    tensors = [p for p in model.parameters()] + [p.grad for p in model.parameters() if p.grad is not None]
    tensors += [v for s in optimizer.state.values() for v in s.values() if v.dim() > 0]  # not "step"
    return sum(t.numel() * t.element_size() for t in tensors)


setups = {
    "full fine-tuning, float32": weight_memory(mlp_base(), False),
    "full fine-tuning, autocast bf16": weight_memory(mlp_base(), True),
    "LoRA, frozen float32 base": weight_memory(with_lora(mlp_base()), False),
    "LoRA, frozen bfloat16 base": weight_memory(with_lora(mlp_base(torch.bfloat16)), True),
}
for name, size in setups.items():
    print(f"{name:32} {size / 1024:6.0f} KiB  ({size / setups['full fine-tuning, float32']:.0%})")

# %% [markdown]
# - `autocast` changed **nothing** here: it lowers the precision of the computation (and of the
#   activations it saves for backward, which we did not count), not of the stored weights, gradients or
#   optimizer state.
# - Freezing the base removed its gradients and optimizer state: under a third of full fine-tuning's
#   bytes are left, most of them the frozen weights themselves.
# - Storing the **frozen** base in bfloat16 halves the bytes of those weights, the largest item left.
#   Only frozen weights can be stored that way safely: a trainable weight needs full precision to
#   accumulate small updates, as the cell below shows, which is why mixed-precision training keeps a
#   float32 master copy of every trainable weight (Micikevicius et al. 2018). A frozen weight receives
#   no updates to lose; rounding it once changes the model's outputs slightly, which is the price of the
#   saving. QLoRA (Dettmers et al. 2023) pushes this further with a 4-bit frozen base.

# %% tags=["check-output"]
for dtype in (torch.bfloat16, torch.float32):
    weight = torch.tensor(1.0, dtype=dtype)
    print(f"{str(dtype):15} a weight of 1.0 after an update of +0.001 is still 1.0: {bool(weight + 1e-3 == 1.0)}")

# %% [markdown]
# ## 8. Hugging Face PEFT on a tiny transformer
#
# The `peft` library implements LoRA (Hu et al. 2021) and other adapters for Hugging Face models, with
# conventions worth knowing: how it freezes, how it names things, what it saves. We build a tiny BERT
# classifier from a configuration (random weights, nothing downloaded) and adapt it.

# %% tags=["check-output"]
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file
from transformers import BertConfig, BertForSequenceClassification

# A deprecation notice that transformers raises inside its own code when peft calls it: not ours to fix.
warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")

config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=64, max_position_embeddings=32, num_labels=3)


def tiny_bert() -> BertForSequenceClassification:
    """The same random tiny BERT every time: a stand-in for a downloaded pretrained model."""
    torch.manual_seed(0)
    return BertForSequenceClassification(config).eval()


tokens = torch.randint(0, 100, (4, 10), generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    base_logits = tiny_bert()(input_ids=tokens).logits
lora_config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["query", "value"],
                         modules_to_save=["classifier"])
peft_model = get_peft_model(tiny_bert(), lora_config)
trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
print("LoRA tensors:", sum(".lora_" in n for n in trainable),
      "| head copies (modules_to_save):", sum(".modules_to_save." in n for n in trainable),
      "| anything else trainable:", len(trainable) - sum(".lora_" in n or ".modules_to_save." in n
                                                        for n in trainable))
print("the original classifier is kept, frozen:",
      not peft_model.base_model.model.classifier.original_module.weight.requires_grad)
with torch.no_grad():
    print("starts as the base model:", torch.allclose(peft_model(input_ids=tokens).logits, base_logits))

# %% [markdown]
# `get_peft_model` froze the whole model, then added trainable `lora_A`/`lora_B` matrices next to
# the `query` and `value` projections (`lora_B` starts at zero, so the output is unchanged, as in lesson 9)
# and a trainable **copy** of each module in `modules_to_save` — here the new classification head, which
# has to train in full. Without `modules_to_save` the new head would stay frozen (initialised at random!)
# and would not be saved with the adapter. With `task_type="SEQ_CLS"` PEFT adds `classifier` (or `score`)
# to that list itself; we left `task_type` out to see the mechanism. The names carry PEFT's own prefix,
# `base_model.model.`. PEFT prints the usual summary itself:

# %%
peft_model.print_trainable_parameters()
print("first trainable name:", trainable[0])

# %% [markdown]
# Its "all params" counts the frozen original head and its trainable copy both. Now a few training
# steps, then the audit and the adapter-only save.

# %% tags=["check-output"]
optimizer = torch.optim.AdamW(trainable_parameters(peft_model), lr=1e-2)
peft_model.train()
for _ in range(3):
    optimizer.zero_grad()
    peft_model(input_ids=tokens, labels=torch.tensor([0, 1, 2, 0])).loss.backward()
    optimizer.step()
print(audit(peft_model, optimizer))
peft_model.eval()
with torch.no_grad():
    adapted_logits = peft_model(input_ids=tokens).logits

with tempfile.TemporaryDirectory() as folder:
    peft_model.save_pretrained(folder)
    files = {name: os.path.getsize(os.path.join(folder, name)) for name in sorted(os.listdir(folder))}
    saved = load_file(os.path.join(folder, "adapter_model.safetensors"))
    print("adapter files:", [name for name in files if name.startswith("adapter")])
    print("saved numbers == trainable numbers:",
          sum(t.numel() for t in saved.values()) == sum(p.numel() for p in trainable_parameters(peft_model)))
    restored = PeftModel.from_pretrained(tiny_bert(), folder).eval()  # base model + adapter files
    with torch.no_grad():
        print("base + saved adapter gives the fine-tuned outputs:",
              torch.allclose(restored(input_ids=tokens).logits, adapted_logits))

# %%
print({name: f"{size:,} bytes" for name, size in files.items()})
print(f"the whole model's weights: {sum(p.numel() for p in tiny_bert().parameters()) * 4:,} bytes")

# %% [markdown]
# `save_pretrained` on a PEFT model writes only the adapter (`adapter_model.safetensors`: the LoRA
# matrices and the saved head) and `adapter_config.json` (which base model and which modules), plus a
# model card. Loading means: build the base model, then `PeftModel.from_pretrained(base, folder)`. One
# base model can serve many small adapters. (The base here is rebuilt from the same seed; in real use
# it is the downloaded checkpoint.)
#
# Finally **merging**: `merge_and_unload` adds `(alpha / r) * B @ A` into each base weight and removes the
# adapters, leaving a plain transformers model with no extra cost at inference.

# %% tags=["check-output"]
merged = peft_model.merge_and_unload()
with torch.no_grad():
    print("merged model, same outputs:", torch.allclose(merged(input_ids=tokens).logits, adapted_logits,
                                                        atol=1e-6))
print("merged type:", type(merged).__name__, "| LoRA tensors left:",
      sum("lora" in n for n, _ in merged.named_parameters()),
      "| same size as the base:",
      sum(p.numel() for p in merged.parameters()) == sum(p.numel() for p in tiny_bert().parameters()))

# %% [markdown]
# ## Check yourself

# %%
show(topic="real_training", difficulty="easy", types=QUESTIONS)

# %%
show(topic="real_training", difficulty=["medium", "hard"], types=QUESTIONS)

# %% [markdown]
# ## Recap: where freezing meets real training code
#
# | situation | rule | if you get it wrong |
# |---|---|---|
# | unfreeze mid-training | `optimizer.add_param_group(...)` | rebuilt: old state lost, every weight jumps by ~lr, scheduler detached |
# | save a fine-tune | save what *changed* (BN buffers too); check `missing_keys` / `unexpected_keys` | reloaded model differs; with a wrong prefix `strict=False` loads nothing, silently |
# | checkpoint after a frozen prefix | `use_reentrant=False` (or an input that requires grad) | the checkpointed block never trains |
# | DDP | freeze, then wrap; re-wrap after a change (or wrap all with `find_unused_parameters=True`, then freeze) | error next iteration, or replicas drift silently |
# | FSDP1 with `use_orig_params=False` | each unit all frozen or all trainable | `ValueError` when wrapping |
# | DDP / DataParallel / compile | freeze through the inner module; strip `module.` / `_orig_mod.` | name-based freezing matches nothing |
# | `torch.compile` | expect one recompilation per new freeze state | slow steps; past the limit, no compilation |
# | memory | freeze, and store the frozen base in low precision | autocast alone saves no weight memory |
# | PEFT | `get_peft_model`, `modules_to_save` for new heads, `save_pretrained` saves the adapter | a new head left out of `modules_to_save` (and no `task_type`) is neither trained nor saved |
#
# And before any run: `print(audit(model, optimizer))`.

# %%
flashcards(topic="real_training")
