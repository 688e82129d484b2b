"""Assignment 1: freezing basics (freeze, unfreeze, count, freeze by name)."""

from ..records import answer, free, hidden, mcq, md, public, setup

CELLS = [
    md("""
# Assignment 1: freezing basics

In this assignment you write the four small tools every fine-tuning script needs: freeze a module, unfreeze it,
count its parameters, and freeze parts of a model by name.

**Rules**

* Write plain PyTorch. The `freezelab` package has helpers that do some of this for you; graded answers that
  call them (for example `freezelab.inspect`) lose the points.
* Keep the function names and signatures. Replace each `raise NotImplementedError()` with your code.
* The visible test cells check the basics. More tests (random architectures, optimizer steps) run when your
  work is graded; they are not shown here. Run `freezelab check <this notebook>` for a self-check.
"""),
    setup("""
from collections import OrderedDict

import torch
from torch import nn

torch.manual_seed(0)
"""),
    md("""
## 1. Freeze and unfreeze a module

A module is frozen when **every one of its parameters** has `requires_grad == False`: autograd then builds no
graph for them and an optimizer step leaves them alone. Freezing must not change what the module computes, and it
is not the same thing as `module.eval()`: keep the module's train/eval mode as it is.

Both functions change the module in place and return it, so that `model = freeze_module(model)` also works.
"""),
    answer("freeze_module"),
    answer("unfreeze_module"),
    public("freeze_module", """
net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
assert freeze_module(net) is net, "freeze_module must return the module it was given"
still = [n for n, p in net.named_parameters() if p.requires_grad]
assert not still, f"after freeze_module these parameters still have requires_grad=True: {still}"
"""),
    public("unfreeze_module", """
net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).requires_grad_(False)
assert unfreeze_module(net) is net, "unfreeze_module must return the module it was given"
frozen = [n for n, p in net.named_parameters() if not p.requires_grad]
assert not frozen, f"after unfreeze_module these parameters are still frozen: {frozen}"
"""),
    hidden("freeze_module"),
    hidden("unfreeze_module"),
    md("""
## 2. Count parameters

`count_parameters(model)` returns how many numbers the model learns: the number of parameter **elements**, not
the number of parameter tensors. With `trainable_only=True` it counts only parameters with `requires_grad=True`.

Two layers may share one weight tensor (tied weights); a shared tensor is one set of numbers and counts once.
BatchNorm's running statistics are buffers, not parameters.
"""),
    answer("count_parameters"),
    public("count_parameters", """
net = nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 2))
n = count_parameters(net)
assert n == 67, f"counted {n}; this model has 67 parameter elements (10*5 + 5 + 5*2 + 2)"
for p in net[0].parameters():
    p.requires_grad = False
n = count_parameters(net, trainable_only=True)
assert n == 12, f"counted {n} trainable; with the first layer frozen 12 elements train (5*2 + 2)"
"""),
    hidden("count_parameters"),
    md("""
## 3. Freeze by name

`freeze_by_name(model, names)` freezes the parts of `model` named in the list `names`. A name is either a
submodule's dotted name from `model.named_modules()` (such as `"layer1"` or `"layer2.0.conv1"`, which freezes all
of that submodule) or a parameter's dotted name from `model.named_parameters()` (such as `"fc.bias"`).

If any name is unknown, raise a `ValueError` whose message contains that name, **before freezing anything**, so
that a typo never half-freezes a model. Return the model.
"""),
    answer("freeze_by_name"),
    public("freeze_by_name", """
net = nn.Sequential(OrderedDict(body=nn.Linear(4, 4), head=nn.Linear(4, 2)))
freeze_by_name(net, ["body", "head.bias"])
trainable = [n for n, p in net.named_parameters() if p.requires_grad]
assert trainable == ["head.weight"], f"only head.weight should still train, but these do: {trainable}"
"""),
    hidden("freeze_by_name"),
    *mcq("ANSWER_Q1", text="""
## 4. Multiple choice (1 point each)

Answer each question with one letter, as a string, for example `ANSWER_Q1 = "a"`.

**Q1.** `model.fc.requires_grad = False` is run on a ResNet. What happens to `model.fc.weight` and
`model.fc.bias` in the next optimizer step?

* a) Both are frozen.
* b) Only the weight is frozen; biases are never frozen.
* c) Nothing: the line only stores a new Python attribute on the module; both parameters keep training.
* d) PyTorch raises an AttributeError.
""", key="c", hint="Is `requires_grad` an attribute that nn.Module itself reads?",
         wrong={"a": "module.requires_grad = False freezes the module's parameters"}),
    *mcq("ANSWER_Q2", text="""
**Q2.** For `net = nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 2))`, after
`net[0].requires_grad_(False)`, what does `sum(p.numel() for p in net.parameters() if p.requires_grad)` give?

* a) 2
* b) 12
* c) 55
* d) 67
""", key="b", hint="Count elements (weight + bias of the layer that is still trainable).",
         wrong={"a": "the trainable count is the number of trainable tensors"}),
    *mcq("ANSWER_Q3", text="""
**Q3.** You want the parameters of `model.encoder` (its weights and biases) to stop changing for the rest of
training while the head learns. Which line does that? (BatchNorm running statistics are buffers, not parameters:
they are a separate question, for assignment 3.)

* a) `model.eval()`
* b) Wrapping the encoder's forward pass in `with torch.no_grad():` for the first batch
* c) `model.encoder.requires_grad_(False)`
* d) `for p in model.encoder.parameters(): p.grad = None`
""", key="c", hint="Which option changes a flag that the optimizer step and autograd will still see on later "
                   "batches?",
         wrong={"a": "model.eval() keeps weights from changing"}),
    md("""
## 5. In your own words (3 points, graded by hand)

A classmate says: "I call `model.eval()` before training the new head, so the backbone is frozen." Explain what
`model.eval()` actually changes, why the backbone is still trained, and what they should write instead. Mention
one thing that `model.eval()` would break in their head. Write your answer in the cell below (a few sentences).
"""),
    free("explain_eval_vs_freezing", points=3, rubric="""
**Rubric (3 points)**

* 1 point: `eval()` only switches layers' mode (dropout off, BatchNorm uses its running statistics instead of
  batch statistics); it does not touch `requires_grad`, so gradients still flow and the optimizer still updates
  the backbone.
* 1 point: the fix is to set `requires_grad=False` on the backbone's parameters (`backbone.requires_grad_(False)`)
  and give the optimizer only the trainable parameters.
* 1 point: names a side effect: dropout in the new head is switched off too (less regularisation), or BatchNorm
  behaves differently; `eval()` for frozen BatchNorm is a separate, deliberate choice.

Full marks need all three ideas in the student's own words; half a point for a partly right idea.
"""),
]
