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
# # Lesson 9 — Beyond freezing: BitFit and LoRA
#
# **Goal:** see parameter-efficient fine-tuning (PEFT) as freezing, generalised. Instead of choosing
# which *layers* train, choose a tiny set of parameters: only the biases (BitFit), or a small low-rank
# update added next to frozen weights (LoRA).
#
# By the end you can:
# - train only the bias terms of a network, and say which biases a CNN with BatchNorm actually has;
# - write a LoRA layer in plain PyTorch: frozen base, low-rank `A` and `B`, `B` zero-initialised,
#   scale `alpha / r`, and merge it back into the weight;
# - compare trainable counts and accuracy of linear probing, BitFit, LoRA, partial and full fine-tuning.
#
# Sources: Zaken, Ravfogel & Goldberg 2022, *BitFit: Simple Parameter-efficient Fine-tuning for
# Transformer-based Masked Language-models*; Hu et al. 2021, *LoRA: Low-Rank Adaptation of Large
# Language Models*; PyTorch docs (`nn.Module.named_parameters`, `nn.init`).

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn
from tqdm.auto import tqdm

from freezelab.backbones import load_pretrained
from freezelab.device import describe_device, pick_device, seed_everything
from freezelab.peft import METHODS, add_lora, build, run_method, trainable_count
from freezelab.quiz import flashcards, show

device = pick_device()
seed_everything(0)
print(describe_device())

# %% [markdown]
# ## 1. BitFit: train only the biases
#
# BitFit freezes every weight and trains only bias vectors. Zaken et al. showed that on language
# models this small subset (well under 1% of the parameters) often gets close to full fine-tuning.
#
# **Commit to your answer:** our TinyResNet has 9 convolutions, 9 BatchNorm layers and one linear head.
# How many *bias tensors* does it have?

# %% tags=["check-output"]
model = load_pretrained(num_classes=5)
for name, param in model.named_parameters():
    param.requires_grad_(name.endswith("bias"))   # BitFit, in one line
biases = [name for name, p in model.named_parameters() if p.requires_grad]
print(len(biases), "bias tensors, e.g.", biases[:3])
print("conv layers with a bias:", sum(m.bias is not None for m in model.modules()
                                       if isinstance(m, nn.Conv2d)))
print(f"trainable: {trainable_count(model)} of {sum(p.numel() for p in model.parameters())}")

# %% [markdown]
# None of the convolutions has a bias: a bias added just before BatchNorm would be cancelled by
# BatchNorm's mean subtraction, so ResNets are built with `bias=False`. In a CNN like ours, "the biases"
# are the BatchNorm **shifts** (`bn.bias`, called beta by Ioffe & Szegedy 2015) plus the head's bias.
#
# One more honest detail: BatchNorm layers that have a trainable parameter stay in train mode during
# fine-tuning, so their *running statistics* are also re-estimated on the target data. Our BitFit run
# therefore adapts the shifts *and* the normalisation statistics; both are cheap, per-channel changes.
#
# ## 2. LoRA, written in plain PyTorch
#
# LoRA keeps a weight matrix `W` (out x in) frozen and learns an update of rank `r`:
# `W + (alpha / r) * B @ A`, with `A` of shape r x in and `B` of shape out x r. Two details make it work:
#
# - `B` starts at **zero**, so at step 0 the layer computes exactly what the pretrained layer computed;
# - the update has `r * (in + out)` numbers instead of `in * out`.

# %%
class LoRALinear(nn.Module):
    """A frozen nn.Linear plus a trainable low-rank update (alpha / r) * B @ A."""

    def __init__(self, base: nn.Linear, r: int = 4, alpha: float = 8.0) -> None:
        super().__init__()
        self.base = base.requires_grad_(False)
        self.A = nn.Parameter(torch.randn(r, base.in_features) / base.in_features**0.5)
        self.B = nn.Parameter(torch.zeros(base.out_features, r))   # zero: start = base model
        self.scale = alpha / r

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scale * (x @ self.A.T) @ self.B.T

    def merged(self) -> nn.Linear:
        """One plain Linear with the update folded into the weight: no extra cost at inference."""
        layer = nn.Linear(self.base.in_features, self.base.out_features)
        with torch.no_grad():
            layer.weight.copy_(self.base.weight + self.scale * self.B @ self.A)
            layer.bias.copy_(self.base.bias)
        return layer


# %% tags=["check-output"]
torch.manual_seed(0)
base = nn.Linear(256, 128)
lora = LoRALinear(base, r=4)
x = torch.randn(8, 256)
print("same output as the base layer at the start:", torch.equal(lora(x), base(x)))
print("trainable:", trainable_count(lora), "instead of", base.weight.numel())

# %% [markdown]
# **Commit to your answer:** after one optimizer step, which of `A` and `B` has changed? (Hint: look
# at the gradient of each when the other is zero.)

# %% tags=["check-output"]
optimizer = torch.optim.SGD([p for p in lora.parameters() if p.requires_grad], lr=0.1)
A_before = lora.A.detach().clone()
lora(x).pow(2).mean().backward()
print("A has a gradient:", lora.A.grad.abs().sum().item() > 0)
print("B has a gradient:", lora.B.grad.abs().sum().item() > 0)
optimizer.step()
print("A changed in step 1:", not torch.equal(lora.A, A_before))
print("merged layer matches:", torch.allclose(lora.merged()(x), lora(x), atol=1e-5))

# %% [markdown]
# With `B = 0`, the gradient reaching `A` is multiplied by `B` and is zero, so the first step only moves
# `B`; from then on both learn. (If both started at zero, neither would ever move.) After training, the
# update can be merged into the weight, so a LoRA model is exactly as fast as the original at inference.
#
# For a convolution the same idea uses two convolutions: `A` is a k x k conv from the input channels
# down to `r` channels, `B` a 1 x 1 conv from `r` up to the output channels, zero-initialised.
# `freezelab.peft.add_lora` wraps every conv of the backbone that way (the head is left as a normal,
# fully trainable layer).

# %% tags=["check-output"]
seed_everything(0)
plain = load_pretrained(num_classes=5).eval()
adapted = add_lora(load_pretrained(num_classes=5), r=4)
adapted.fc.load_state_dict(plain.fc.state_dict())
adapted.fc.requires_grad_(True)
adapted.eval()
images = torch.randn(4, 1, 16, 16)
with torch.no_grad():
    print("LoRA model starts as the pretrained model:", torch.allclose(adapted(images), plain(images)))
print(type(adapted.layer2.conv1).__name__, "wraps", type(adapted.layer2.conv1.base).__name__)

# %% [markdown]
# ## 3. Trainable counts side by side
#
# Every method below trains the head; they differ in what else they unfreeze or add.

# %% tags=["check-output"]
counts = {method: trainable_count(build(method, num_classes=5)) for method in METHODS}
total = counts["finetune"]
for method, n in counts.items():
    print(f"{method:<13} {n:>7,} trainable  ({100 * n / total:5.2f}% of the network)")

# %% [markdown]
# ## 4. Results on the same few-shot task
#
# The target is `new_digits` (digits 5-9, 5 labelled images per class), the task of lessons 4 and 5.
# Every method gets the same recipe: a new head, 20 epochs, AdamW with learning rate 1e-2, the same
# augmentation, 3 seeds.
#
# **Commit to your answer:** BitFit trains about twice as many numbers as the linear probe, a tiny
# fraction of the network. Will that make any difference? And will LoRA, with about a tenth of the
# network, get close to partial fine-tuning?

# %%
grid = [(method, seed) for method in METHODS for seed in (0, 1, 2)]
results = [run_method(method, "new_digits", k=5, seed=seed, epochs=20, device=device)
           for method, seed in tqdm(grid, desc="PEFT runs")]
mean_acc = {m: sum(r.test_acc for r in results if r.method == m) / 3 for m in METHODS}
for method in METHODS:
    print(f"{method:<13} {counts[method]:>7,} trainable   test accuracy {mean_acc[method]:.3f}")

fig, ax = plt.subplots(figsize=(6, 3.2))
for method in METHODS:
    ax.scatter(counts[method], mean_acc[method], s=50)
    ax.annotate(method, (counts[method], mean_acc[method]), textcoords="offset points",
                xytext=(5, 3), fontsize=8)
ax.set(xscale="log", xlabel="trainable parameters (log scale)", ylabel="mean test accuracy",
       title="new_digits, 5 labels per class, 3 seeds")
ax.grid(alpha=0.3)
plt.show()
print(f"BitFit minus linear probe: {100 * (mean_acc['bitfit'] - mean_acc['linear_probe']):+.1f} points")
print(f"LoRA minus partial:        {100 * (mean_acc['lora'] - mean_acc['partial']):+.1f} points")

# %% [markdown]
# What these runs show:
#
# - **A few hundred biases help.** BitFit beat the linear probe (the difference is printed above)
#   while training under 1% of the network: shifting every channel of the backbone, and re-estimating
#   its normalisation statistics, adapts features that a head alone has to take as they are.
# - **LoRA matched partial fine-tuning** (within a few points; see the difference above) with about a
#   seventh of its trainable parameters, because its small updates reach every convolution.
# - **Full fine-tuning came last** with the same learning rate: 77,000 free parameters, 25 images and
#   a step size that suits a head. Lesson 5 shows this forgetting effect directly; PEFT methods are
#   much less exposed to it, since the pretrained weights themselves never move.
# - PEFT saves **memory and storage** (gradients and optimizer state only for the small set; one small
#   file per task instead of a full copy of the model), not forward compute: the whole network still
#   runs every step (lesson 7).
#
# When to use what: linear probe when the target looks like the source and labels are scarce; BitFit or
# LoRA when you need more adaptation with little data, or must store many task-specific versions of one
# big model; full fine-tuning when you have the data (and tune its learning rate).

# %% [markdown]
# ## Check yourself

# %%
show(topic="peft", difficulty="easy")

# %%
show(topic="peft", difficulty=["medium", "hard"])

# %% [markdown]
# ## Flashcards

# %%
flashcards(topic="peft")
