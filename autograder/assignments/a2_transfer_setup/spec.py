"""Assignment 2: transfer set-up (new heads, feature extractors, optimizers, layer-wise learning rates)."""

from ..records import answer, free, hidden, mcq, md, public, setup

CELLS = [
    md("""
# Assignment 2: setting up transfer learning

A pretrained network becomes a model for *your* task in three moves: decide what stays frozen, hand the optimizer
exactly the parameters that should learn (each at a sensible learning rate), and give the network a new head.

**Rules.** Plain PyTorch only (graded answers that call the course package's helpers, such as `freezelab.inspect`
or `freezelab.plans`, lose the points). Keep names and signatures. Models are built with `weights=None` here: the
shapes are the same as the pretrained ones and nothing is downloaded. Hidden tests try several architectures; run `freezelab check` on this
notebook before you submit.
"""),
    setup("""
import torch
import torchvision
from torch import nn

from freezelab.backbones import TinyResNet

torch.manual_seed(0)
"""),
    md("""
## 1. An optimizer for what trains

`trainable_optimizer(model, lr)` returns `torch.optim.SGD` with `momentum=0.9` and learning rate `lr` over the
model's **trainable** parameters only.
"""),
    answer("trainable_optimizer"),
    public("trainable_optimizer", """
m = TinyResNet(num_classes=5).requires_grad_(False)
m.fc.requires_grad_(True)
opt = trainable_optimizer(m, 0.01)
n = sum(len(g["params"]) for g in opt.param_groups)
assert n == 2, f"the optimizer holds {n} tensors; only the 2 trainable ones (fc.weight, fc.bias) belong there"
"""),
    hidden("trainable_optimizer"),
    md("""
## 2. Layer-wise learning rates

Layers near the input hold general features and should move slowly; the head should move fastest.
`layerwise_param_groups(model, base_lr, decay=2.6)` returns a list of param groups (dicts with `"params"` and
`"lr"`) for `torch.optim.SGD(groups, lr=base_lr)`:

* one group per **top-level child** of the model (`model.children()`, in order) that has trainable parameters;
  children without trainable parameters get no group;
* a group holds that child's trainable parameters only; a tensor shared by two children goes in the first
  child's group only (PyTorch refuses a tensor in two groups); a child whose trainable parameters all went to
  an earlier child that way gets **no** group (never an empty one), and does not count as a level below;
* the last group gets `base_lr`, the one before it `base_lr / decay`, then `base_lr / decay**2`, and so on
  (2.6 is the factor used by ULMFiT).
"""),
    answer("layerwise_param_groups"),
    public("layerwise_param_groups", """
net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
groups = layerwise_param_groups(net, 0.1, decay=10)
lrs = [round(g["lr"], 6) for g in groups]
assert lrs == [0.01, 0.1], f"learning rates {lrs}; expected [0.01, 0.1]: input layer first, the head gets base_lr"
"""),
    hidden("layerwise_param_groups"),
    md("""
## 3. Replace the head

`replace_head(model, num_classes)` swaps the model's final `nn.Linear` for a new one with `num_classes` outputs,
in place, and returns the model. Where the head lives depends on the family:

* ResNets and the course's `TinyResNet`: `model.fc`;
* DenseNet: `model.classifier` is the Linear itself;
* MobileNet, EfficientNet, VGG: `model.classifier` is an `nn.Sequential` and the head is its **last** layer.
  Keep the layers before it (dropout included).

Read the input size from the old head; do not write numbers such as 512 in. If you cannot find a head, raise a
`ValueError` that says so.
"""),
    answer("replace_head"),
    public("replace_head", """
m = replace_head(torchvision.models.resnet18(weights=None), 10)
assert isinstance(m.fc, nn.Linear) and m.fc.out_features == 10, f"resnet18's head should be Linear(512, 10): {m.fc}"
m = replace_head(torchvision.models.mobilenet_v2(weights=None), 3)
assert m.classifier[-1].out_features == 3, f"mobilenet_v2's last classifier layer should have 3 outputs: {m.classifier}"
assert isinstance(m.classifier[0], nn.Dropout), "keep mobilenet_v2's Dropout: replace only the final Linear"
"""),
    hidden("replace_head"),
    md("""
## 4. A feature extractor

`feature_extractor(model, num_classes)` turns a pretrained model into a feature extractor: the whole pretrained
network is frozen and a new, trainable head is attached (use `replace_head`). Return the model.
"""),
    answer("feature_extractor"),
    public("feature_extractor", """
m = feature_extractor(TinyResNet(num_classes=5), 4)
trainable = [n for n, p in m.named_parameters() if p.requires_grad]
assert trainable == ["fc.weight", "fc.bias"], f"only the new head should train, but these do: {trainable}"
"""),
    hidden("feature_extractor"),
    *mcq("ANSWER_Q1", text="""
## 5. Multiple choice

Answer with one letter as a string, e.g. `ANSWER_Q1 = "a"`.

**Q1.** Where is the layer you replace to give `torchvision.models.mobilenet_v2` a 3-class head?

* a) `model.fc`
* b) `model.classifier`, replaced by a new `nn.Linear`
* c) `model.features[-1]`
* d) `model.classifier[-1]`, keeping `model.classifier[0]` (dropout)
""", key="d", hint="Print the model and look at the last lines: what is the last Linear called, and what else "
                   "sits next to it?",
         wrong={"b": "MobileNet's head is the whole classifier Sequential"}),
    *mcq("ANSWER_Q2", text="""
**Q2.** A ResNet-50 gets a new 5-class head and everything else is frozen. How many parameter elements train?

* a) 10,245
* b) 2,053
* c) about 23.5 million
* d) about 25.6 million
""", key="a", hint="Only the new head trains: how many inputs does ResNet-50's fc take?",
         wrong={"d": "a frozen backbone still counts as trainable parameters"}),
    *mcq("ANSWER_Q3", text="""
**Q3.** Why pass only the trainable parameters to the optimizer, rather than `model.parameters()`?

* a) Because PyTorch raises an error when a frozen parameter is in an optimizer.
* b) Because an optimizer that holds frozen tensors can still change them (weight decay or momentum acting on
  gradients left from before freezing) and keeps state for them, while a trainable-only list makes the intent
  explicit.
* c) Because frozen parameters make the forward pass slower.
* d) It makes no difference at all.
""", key="b", hint="Think about what weight decay and stale gradients do to tensors the optimizer holds."),
    md("""
## 6. In your own words (graded by hand)

Describe a situation in which you would **not** freeze the pretrained backbone (or would unfreeze it early), and
explain why. Then explain what "linear probe, then fine-tune" (LP-FT) does and what problem it avoids.
"""),
    free("explain_when_not_to_freeze", points=3, rubric="""
**Rubric (3 points)**

* 1 point: a sensible case for not freezing: the target data are far from the source (different domain or input
  statistics) and/or there is plenty of labelled target data, so adapting early features pays off.
* 1 point: LP-FT: first train only the new head on frozen features (linear probe), then unfreeze and fine-tune
  everything (or more layers) with a small learning rate.
* 1 point: why: a random head sends large, noisy gradients into the pretrained layers and distorts their features
  at the start of full fine-tuning; starting from a trained head avoids that.

Half points for partially correct reasoning; no points for restating the question.
"""),
]
