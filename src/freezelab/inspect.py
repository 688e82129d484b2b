"""Read-only views of a model's parameters: what is trainable, what is frozen, and how much of each.

Nothing here changes `requires_grad`: these helpers only look. Shared (tied) weights are counted once,
like `model.parameters()` does, and lazy modules must see one batch before they can be counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.parameter import UninitializedParameter


@dataclass(frozen=True)
class ParamRow:
    """One unique parameter tensor: its (first) dotted name, shape, size and whether it trains."""

    name: str
    shape: tuple[int, ...]
    numel: int
    trainable: bool
    dtype: str
    aliases: tuple[str, ...] = ()  # other names under which the same tensor is registered (tied weights)


@dataclass(frozen=True)
class ParamCount:
    """Totals over unique parameter tensors: elements (total/trainable/frozen) and tensor counts."""

    total: int
    trainable: int
    frozen: int
    tensors: int
    trainable_tensors: int

    @property
    def percent_trainable(self) -> float:
        """Trainable elements as a percentage of all elements (0.0 for a model with no parameters)."""
        return 100.0 * self.trainable / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"Trainable: {self.trainable:,} / Total: {self.total:,} ({self.percent_trainable:.1f}%)"


def _check_initialised(name: str, param: torch.Tensor) -> None:
    if isinstance(param, UninitializedParameter):
        raise ValueError(f"parameter {name!r} is not initialised yet (lazy module): "
                         "run one forward pass with a sample batch first.")


def parameter_table(model: nn.Module) -> list[ParamRow]:
    """One row per unique parameter tensor, in registration order; tied names go into `aliases`."""
    first_name: dict[int, str] = {}
    aliases: dict[int, list[str]] = {}
    params: dict[int, torch.Tensor] = {}
    # remove_duplicate=False lists every name, so tied weights can be reported as aliases.
    for name, param in model.named_parameters(remove_duplicate=False):
        key = id(param)
        if key in first_name:
            aliases[key].append(name)
            continue
        _check_initialised(name, param)
        first_name[key], aliases[key], params[key] = name, [], param
    return [ParamRow(name=first_name[k], shape=tuple(p.shape), numel=p.numel(), trainable=p.requires_grad,
                     dtype=str(p.dtype).removeprefix("torch."), aliases=tuple(aliases[k]))
            for k, p in params.items()]


def param_count(model: nn.Module) -> ParamCount:
    """Total, trainable and frozen elements, and tensor counts; shared weights are counted once."""
    rows = parameter_table(model)
    total = sum(r.numel for r in rows)
    trainable = sum(r.numel for r in rows if r.trainable)
    return ParamCount(total=total, trainable=trainable, frozen=total - trainable, tensors=len(rows),
                      trainable_tensors=sum(r.trainable for r in rows))


def trainable_names(model: nn.Module) -> list[str]:
    """Dotted names of the parameters that will receive gradients."""
    return [r.name for r in parameter_table(model) if r.trainable]


def frozen_names(model: nn.Module) -> list[str]:
    """Dotted names of the parameters with `requires_grad=False`."""
    return [r.name for r in parameter_table(model) if not r.trainable]


def _status(trainable: int, total: int) -> str:
    if total == 0 or trainable == total:
        return "trainable"
    return "frozen" if trainable == 0 else "partly frozen"


def _owner(name: str, depth: int | None) -> str:
    """The module a parameter belongs to, cut to `depth` levels (None: its own module)."""
    parts = name.split(".")[:-1]
    if depth is not None:
        parts = parts[:depth]
    return ".".join(parts) or "(top level)"


def group_by_module(model: nn.Module, depth: int | None = None) -> list[dict]:
    """Elements per module (cut at `depth` levels), in order: name, type, total, trainable, status."""
    modules = dict(model.named_modules())
    groups: dict[str, dict] = {}
    for row in parameter_table(model):
        key = _owner(row.name, depth)
        group = groups.setdefault(key, {"name": key, "type": type(modules.get(key, model)).__name__,
                                        "total": 0, "trainable": 0, "tensors": 0})
        group["total"] += row.numel
        group["trainable"] += row.numel if row.trainable else 0
        group["tensors"] += 1
    for group in groups.values():
        group["status"] = _status(group["trainable"], group["total"])
    return list(groups.values())


def summary(model: nn.Module) -> str:
    """A per-layer table (layers that own parameters) and a totals line; prints nicely."""
    groups = group_by_module(model)
    width = max([len(g["name"]) for g in groups] + [5])
    type_width = max([len(g["type"]) for g in groups] + [4])
    lines = [f"{'layer':<{width}}  {'type':<{type_width}}  {'params':>12}  {'trainable':>12}  status",
             "-" * (width + type_width + 46)]
    for g in groups:
        lines.append(f"{g['name']:<{width}}  {g['type']:<{type_width}}  {g['total']:>12,}  "
                     f"{g['trainable']:>12,}  {g['status']}")
    lines.append("-" * (width + type_width + 46))
    lines.append(str(param_count(model)))
    return "\n".join(lines)


# Colour, hatch and a text label each carry the status, so the plot reads in grey-scale print too.
_STYLE = {
    "trainable": {"color": "#2b8a3e", "hatch": ""},
    "frozen": {"color": "#adb5bd", "hatch": "xx"},
    "partly frozen": {"color": "#f08c00", "hatch": "//"},
}


def freeze_map(model: nn.Module, depth: int = 1, log: bool = False, ax=None, title: str | None = None):
    """One horizontal bar per module at `depth` (e.g. conv1 ... fc for a ResNet); returns the figure.

    Bar length is the number of elements (`log=True` for a log scale); colour, hatch and a text label
    say trainable / frozen / partly frozen.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    groups = group_by_module(model, depth=depth)
    if ax is None:
        _, ax = plt.subplots(figsize=(8.5, 0.45 * len(groups) + 1.2))
    fig = ax.figure
    ys = range(len(groups))
    for y, g in zip(ys, groups, strict=True):
        style = _STYLE[g["status"]]
        ax.barh(y, g["total"], color=style["color"], hatch=style["hatch"], edgecolor="black", linewidth=0.6)
        label = g["status"]
        if g["status"] == "partly frozen":
            label += f" ({100 * g['trainable'] / g['total']:.0f}% trainable)"
        ax.text(g["total"], y, f"  {g['total']:,}  {label}", va="center", fontsize=8)
    ax.set_yticks(list(ys), [g["name"] for g in groups])
    ax.invert_yaxis()  # first module on top, like printing the model
    if log:
        ax.set_xscale("log")
    largest = max([g["total"] for g in groups] + [1])
    ax.set_xlim(0.8 if log else 0, largest * (300 if log else 2.0))  # room for the text labels
    ax.set_xlabel("parameters (elements" + (", log scale)" if log else ")"))
    ax.set_title(title or str(param_count(model)), fontsize=10)
    ax.legend(handles=[Patch(facecolor=s["color"], hatch=s["hatch"], edgecolor="black", label=k)
                       for k, s in _STYLE.items()], loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.tight_layout()
    return fig
