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
# - compare trainable counts and accuracy of linear probing, BitFit, LoRA, tuning the last block
#   (`layer3+head`) and full fine-tuning, each at its own learning rate;
# - check that a LoRA model's effective weights really move.
#
# Sources: Ben Zaken, Ravfogel & Goldberg 2022, *BitFit: Simple Parameter-efficient Fine-tuning for
# Transformer-based Masked Language-models*; Hu et al. 2021, *LoRA: Low-Rank Adaptation of Large
# Language Models*; PyTorch docs (`nn.Module.named_parameters`, `nn.init`).

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn

from freezelab.backbones import load_pretrained
from freezelab.device import describe_device, pick_device, seed_everything
from freezelab.lessons.l09_peft import COMPARED_PLANS, SWEEP, train_for_inspection
from freezelab.peft import add_lora, lora_weight_change
from freezelab.plans import build_model, trainable_count
from freezelab.quiz import flashcards, show
from freezelab.recipes import format_summary, summarise
from freezelab.sweeps import SWEEP_SEEDS, measured, run_sweep

device = pick_device()
seed_everything(0)
QUESTIONS = ["mcq", "multi", "code-output", "free-response"]  # end-of-lesson quiz: no predictions
print(describe_device())

# %% [markdown]
# ## 1. BitFit: train only the biases
#
# BitFit freezes every weight and trains only bias vectors. Ben Zaken et al. showed that on BERT
# models this small subset (well under 1% of the parameters) often gets close to full fine-tuning on
# the GLUE benchmark.

# %%
show(ids=["peft-predict-biases"])

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
#
# %%
show(ids=["peft-predict-lora-step"])

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
# Why write `LoRALinear` here when `freezelab.peft` has one? This one is the paper's notation on the page:
# `A` and `B` are bare parameters and `merged()` folds the update in. The package's layer (used by
# `add_lora` below and by lesson 11) computes the same thing with `A` and `B` as bias-free `nn.Linear`
# sublayers, so that it matches its convolution twin `LoRAConv2d`; the two are interchangeable.
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
# Every plan below (`freezelab.plans.PLANS`: what trains) trains the head; they differ in what else
# they unfreeze or add.

# %% tags=["check-output"]
counts = {plan: trainable_count(build_model(plan, num_classes=5)) for plan in COMPARED_PLANS}
total = counts["finetune"]
for plan, n in counts.items():
    print(f"{plan:<13} {n:>7,} trainable  ({100 * n / total:5.2f}% of the network)")

# %% [markdown]
# ## 4. Results on the same few-shot task, each plan at its own learning rate
#
# The target is `new_digits` (digits 5-9, 5 labelled images per class), the task of lessons 4 and 5.
# Every plan gets a new head, AdamW, the same augmentation and the same budget. A fair comparison
# does not give them one shared learning rate: a step size that suits a head alone is far too large for
# a whole network. Each plan is trained at every rate of a small grid (1e-3, 3e-3, 1e-2; a head or
# biases alone: 3e-3, 1e-2, 3e-2), on 5 seeds, and we keep the rate with the best mean **validation**
# accuracy. Test accuracy is reported only for that rate.
#
# That is 75 training runs of 40 epochs each (every run is also evaluated after 20; the linear probe,
# `layer3+head` and full fine-tuning are the very runs of lesson 4), a minute or more on a laptop CPU,
# so the course ran them once with `python -m freezelab.sweeps record` and ships every run's
# numbers. The cell after the table re-runs one of them to show that the record is what the code
# gives.

# %%
show(ids=["peft-predict-bitfit"])

# %%
rows = sorted(summarise(measured(SWEEP)), key=lambda r: (r["epochs"], COMPARED_PLANS.index(r["recipe"])))
print(format_summary(rows))
best = {(r["recipe"], r["epochs"]): r for r in rows}

fig, ax = plt.subplots(figsize=(6, 3.2))
for epochs, marker in ((20, "o"), (40, "s")):
    for plan in COMPARED_PLANS:
        r = best[plan, epochs]
        label = f"{epochs} epochs" if plan == COMPARED_PLANS[0] else None
        ax.errorbar(r["trainable"], r["mean_acc"], yerr=r["std_acc"], fmt=marker, capsize=3,
                    color=f"C{COMPARED_PLANS.index(plan)}", label=label)
        if epochs == 40:
            ax.annotate(plan, (r["trainable"], r["mean_acc"]), textcoords="offset points",
                        xytext=(5, -12), fontsize=8)
ax.set(xscale="log", xlabel="trainable parameters (log scale)", ylabel="test accuracy (mean ± std)",
       title=f"new_digits, 5 labels per class, {len(SWEEP_SEEDS)} seeds, lr chosen on validation")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
plt.show()

# %%
lora_lr = best["lora", 20]["lr"]
again = run_sweep(SWEEP, seeds=(0,), recipes=("lora",), lrs={"lora": (lora_lr,)}, device=device)
recorded = [r for r in measured(SWEEP) if r.recipe == "lora" and r.lr == lora_lr and r.seed == 0]
for new, old in zip(again, recorded, strict=True):
    print(f"LoRA, lr {lora_lr:.0e}, seed 0, {new.epochs} epochs: test accuracy now {new.test_acc:.3f}, "
          f"recorded {old.test_acc:.3f}")

# %% [markdown]
# What these runs show (5 seeds; the spread is one standard deviation):
#
# - **Full fine-tuning is not last once it gets its own learning rate.** Its best rate on validation was
#   1e-3 at 20 epochs and 3e-3 at 40; at 40 epochs it was the most accurate plan, with the smallest
#   spread. At the 1e-2 that suits a head, the same 20-epoch runs averaged about 0.51: a shared learning
#   rate, not the plan, would have put it last. Nothing here is forgetting: the source task plays no
#   part in these numbers.
# - **LoRA, with about a tenth of the network, matched full fine-tuning and `layer3+head` at 20 epochs**
#   (all three within about 0.02, well inside their spreads), and stayed near 0.80 at 40 epochs while
#   those two kept improving to about 0.90. The conclusion depends on the budget.
# - **BitFit and the linear probe were within each other's spread** at both budgets: on this task a few
#   hundred BatchNorm shifts did not measurably beat a head alone.
# - PEFT saves **memory and storage** (gradients and optimizer state only for the small set; one small
#   file per task instead of a full copy of the model), not forward compute: the whole network still
#   runs every step (lesson 7).
#
# ## 5. LoRA's effective weights do move
#
# "The pretrained weights never move" is true of the stored tensors: `base.weight` is frozen. But the
# layer computes with `W + (alpha / r) B A`, and that effective weight changes as soon as `B` does.
# Train LoRA on seed 0 at its chosen learning rate and measure `||(alpha / r) B A|| / ||W||` per layer,
# next to how far full fine-tuning moved each weight (`||W_after - W_before|| / ||W_before||`).

# %%
lora_model = train_for_inspection("lora", lr=lora_lr, device=device)  # seed 0, 20 epochs
full_model = train_for_inspection("finetune", lr=best["finetune", 20]["lr"], device=device)
before = load_pretrained().state_dict()
after = {key: value.cpu() for key, value in full_model.state_dict().items()}
for name, change in lora_weight_change(lora_model).items():
    key = f"{name}.weight"
    full_change = ((after[key] - before[key]).norm() / before[key].norm()).item()
    print(f"{name:<22} LoRA moved W by {100 * change:5.1f}%   full fine-tuning by {100 * full_change:5.1f}%")

# %% [markdown]
# Every adapted convolution computes with a different weight after training, by 15% of the weight's
# norm or more, and in most layers by *more* than full fine-tuning (at its own, smaller learning rate)
# moved the same weight. LoRA restricts *how* the weights can change (a rank-4 update per layer), not
# *whether* or *how much* they change. "The pretrained weights stay frozen" is a statement about storage,
# not a guarantee that the features the network computes stay what they were.
#
# When to use what, from these runs: give every plan its own learning rate before comparing; with a
# few minutes and a small network, fine-tuning everything (or the last block) at a tuned rate was best
# here; LoRA got close with a tenth of the parameters and a short budget, and is the choice when many
# task-specific versions of one big model must be stored.

# %% [markdown]
# ## Check yourself

# %%
show(topic="peft", difficulty="easy", types=QUESTIONS)

# %%
show(topic="peft", difficulty=["medium", "hard"], types=QUESTIONS)

# %% [markdown]
# ## Flashcards

# %%
flashcards(topic="peft")
