"""`audit(model, optimizer)`: find the freezing bugs the course teaches, in any PyTorch training script.

Each check looks only at the model, the optimizer and their state; nothing is changed and nothing runs.
Call it right before the training loop (after `model.train()` and any BatchNorm fixes), e.g.

    report = audit(model, optimizer)
    assert report.ok, report

Codes (severity "error": the run silently does the wrong thing; "warning": fragile or misleading):

- missing-from-optimizer   trainable parameters the optimizer does not hold: they never change
- frozen-in-optimizer      frozen parameters the optimizer holds with a gradient tensor, momentum/Adam
                           state or weight decay, so `step()` moves (or may move) them
- stale-grad               frozen parameters whose `.grad` is not None (left over, or zero-filled)
- unknown-in-optimizer     tensors in the optimizer that are not parameters of this model
- bn-train-mode            BatchNorm with frozen parameters in train mode: running statistics still move
- module-requires-grad     `module.requires_grad = ...` set a plain attribute and froze nothing
- shared-conflict          a tied tensor whose flag disagrees with the rest of one of its owner modules
- lazy                     uninitialised (lazy) parameters: no shape yet, so counts and checks are partial
- wrapper-prefix           a DDP / DataParallel / torch.compile wrapper: every name carries a prefix
- ddp-changed-after-wrap   the trainable set changed after DistributedDataParallel was built
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

# torch is imported inside the checks: `import freezelab` (which exports `audit`) stays light for the CLI.
if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["CODES", "AuditReport", "Finding", "audit"]

CODES = ("missing-from-optimizer", "frozen-in-optimizer", "stale-grad", "unknown-in-optimizer",
         "bn-train-mode", "module-requires-grad", "shared-conflict", "lazy", "wrapper-prefix",
         "ddp-changed-after-wrap")
_SHOWN = 6  # names listed in a message before "and N more"


@dataclass(frozen=True)
class Finding:
    """One problem: a short code, "error" or "warning", a message, and the names involved."""

    code: str
    severity: str
    message: str
    names: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"[{self.severity}] {self.code}: {self.message}"


@dataclass
class AuditReport:
    """The findings of `audit`; `.ok` is True when there are none."""

    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the audit found nothing."""
        return not self.findings

    @property
    def codes(self) -> list[str]:
        """The codes of the findings, in the order found."""
        return [f.code for f in self.findings]

    def __str__(self) -> str:
        if self.ok:
            return "freeze audit: no findings"
        lines = [f"freeze audit: {len(self.findings)} finding(s)"]
        lines += [f"  {f}" for f in self.findings]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        if self.ok:
            return "<p><b>freeze audit</b>: no findings &#10003;</p>"
        colour = {"error": "#c92a2a", "warning": "#e67700"}
        rows = "".join(
            f"<tr><td style='color:{colour.get(f.severity, 'inherit')}'>{html.escape(f.severity)}</td>"
            f"<td><code>{html.escape(f.code)}</code></td><td style='text-align:left'>"
            f"{html.escape(f.message)}</td></tr>" for f in self.findings)
        return ("<table><caption>freeze audit</caption><thead><tr><th>severity</th><th>code</th>"
                f"<th>what and why</th></tr></thead><tbody>{rows}</tbody></table>")


def audit(model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
          ignore: Iterable[str] = ()) -> AuditReport:
    """Check a model (and its optimizer) for freezing bugs; skip the codes listed in `ignore`."""
    skip = set(ignore)
    unknown = skip - set(CODES)
    if unknown:
        raise ValueError(f"unknown audit code(s) {sorted(unknown)}; choose from {', '.join(CODES)}")
    findings: list[Finding] = []
    findings += _wrapper(model)
    findings += _lazy(model)
    findings += _module_attribute(model)
    findings += _batchnorm(model)
    findings += _stale_grads(model)
    findings += _shared(model)
    if optimizer is not None:
        findings += _optimizer(model, optimizer)
    return AuditReport([f for f in findings if f.code not in skip])


# --- helpers --------------------------------------------------------------------------------------------

def _listing(names: list[str]) -> str:
    """'a, b, c' or 'a, b, ... and 7 more'."""
    shown = ", ".join(names[:_SHOWN])
    return shown if len(names) <= _SHOWN else f"{shown} and {len(names) - _SHOWN} more"


def _compress(model: nn.Module, names: list[str]) -> list[str]:
    """Replace the names of all parameters of a submodule by 'module (all N tensors)', outermost first."""
    wanted = set(names)
    out: list[str] = []
    covered: set[str] = set()
    for prefix, module in model.named_modules():
        if not prefix:
            continue
        inside = [f"{prefix}.{n}" for n, _ in module.named_parameters()]
        if len(inside) > 1 and set(inside) <= wanted and not set(inside) <= covered:
            out.append(f"{prefix} (all {len(inside)} tensors)")
            covered |= set(inside)
    return out + [n for n in names if n not in covered]


def _found(code: str, severity: str, names: list[str], text: str,
           model: nn.Module | None = None) -> list[Finding]:
    """[Finding] whose message lists `names` (by module when `model` is given), or [] if none."""
    if not names:
        return []
    shown = _compress(model, names) if model is not None else names
    return [Finding(code, severity, f"{_listing(shown)}: {text}", tuple(names))]


def _owner(name: str) -> str:
    return name.rpartition(".")[0]


def _label(name: str) -> str:
    return name or "the model itself"


# --- the checks ---------------------------------------------------------------------------------------

def _wrapper(model: nn.Module) -> list[Finding]:
    """DDP / DataParallel add `module.`, torch.compile adds `_orig_mod.` to every name."""
    from torch import nn

    prefix, kinds, inner = "", [], model
    while True:
        if isinstance(getattr(inner, "_orig_mod", None), nn.Module):
            kinds.append("torch.compile")
            prefix, inner = prefix + "_orig_mod.", inner._orig_mod
        elif isinstance(inner, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            kinds.append(type(inner).__name__)
            prefix, inner = prefix + "module.", inner.module
        else:
            break
    findings = []
    if prefix:
        findings.append(Finding(
            "wrapper-prefix", "warning",
            f"the model is wrapped ({' > '.join(kinds)}): every parameter name starts with "
            f"'{prefix}', so freezing by name (name.startswith('fc')) or loading an unwrapped "
            f"state_dict misses; freeze through the inner module (before wrapping) or use the prefix",
            (prefix,)))
    findings += _ddp_changed(model)
    return findings


def _ddp_changed(model: nn.Module) -> list[Finding]:
    """DDP registers the tensors that train when it is built; later flips are not synchronised."""
    from torch import nn

    ddp = model
    while not isinstance(ddp, nn.parallel.DistributedDataParallel):
        ddp = getattr(ddp, "_orig_mod", None)
        if not isinstance(ddp, nn.Module):
            return []
    try:  # the logging data records how many tensors the reducer was built with
        built = int(ddp._get_ddp_logging_data()["num_parameter_tensors"])
    except (AttributeError, KeyError, RuntimeError, ValueError):
        return []
    ignored = ddp.parameters_to_ignore
    now = sum(p.requires_grad for n, p in ddp.module.named_parameters() if n not in ignored)
    # Freezing after wrapping is handled when DDP looks for unused parameters (at a cost per step).
    if now == built or (now < built and ddp.find_unused_parameters):
        return []
    return [Finding(
        "ddp-changed-after-wrap", "error",
        f"DistributedDataParallel was built when {built} parameter tensors trained; now {now} do. "
        "Tensors unfrozen later are never all-reduced (replicas drift apart); tensors frozen later "
        "stall the next iteration unless find_unused_parameters=True. Freeze before wrapping, or "
        "wrap again after changing the freeze", ())]


def _lazy(model: nn.Module) -> list[Finding]:
    from torch.nn.parameter import is_lazy

    names = [n for n, p in model.named_parameters() if is_lazy(p)]
    return _found("lazy", "warning", names,
                  "not initialised yet (lazy modules): they have no shape, so counts and this audit "
                  "are incomplete; run one forward pass with a sample batch, then check again")


def _module_attribute(model: nn.Module) -> list[Finding]:
    findings = []
    for name, module in model.named_modules():
        if "requires_grad" not in vars(module):
            continue
        value = vars(module)["requires_grad"]
        flags = [p.requires_grad for p in module.parameters()]
        disagree = sum(f != bool(value) for f in flags)
        severity = "error" if disagree else "warning"
        target = name or "model"
        findings.append(Finding(
            "module-requires-grad", severity,
            f"{_label(name)}: `.requires_grad = {value!r}` is a plain attribute on the module and "
            f"changes no parameter ({disagree} of its {len(flags)} tensors disagree with it); "
            f"use {target}.requires_grad_({bool(value)})", (name,)))
    return findings


def _batchnorm(model: nn.Module) -> list[Finding]:
    from torch.nn.modules.batchnorm import _BatchNorm

    names = []
    for name, module in model.named_modules():
        if not isinstance(module, _BatchNorm):
            continue
        params = list(module.parameters())
        if (module.training and module.track_running_stats and params
                and not any(p.requires_grad for p in params)):
            names.append(_label(name))
    return _found("bn-train-mode", "error", names,
                  "BatchNorm with frozen parameters in train mode, so every forward pass still "
                  "updates running_mean/running_var; call .eval() on these layers after each "
                  "model.train() (or use FrozenBatchNorm2d)")


def _stale_grads(model: nn.Module) -> list[Finding]:
    names = [n for n, p in model.named_parameters() if not p.requires_grad and p.grad is not None]
    return _found("stale-grad", "warning", names,
                  "frozen but .grad is not None (left from before freezing, or zero-filled); an "
                  "optimizer that holds them can still move them. Set p.grad = None when freezing "
                  "and use zero_grad() with its default set_to_none=True", model)


def _shared(model: nn.Module) -> list[Finding]:
    """A tied tensor has one flag; report it when one owner's other parameters all say otherwise."""
    places: dict[int, list[str]] = {}
    tensors: dict[int, nn.Parameter] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        places.setdefault(id(param), []).append(name)
        tensors[id(param)] = param
    findings = []
    for key, names in places.items():
        shared = tensors[key]
        for name in names if len(names) > 1 else ():
            intent, where = _intent(model, _owner(name), shared)
            if intent is None or intent == shared.requires_grad:
                continue
            state = "trains" if shared.requires_grad else "is frozen"
            rest = "trains" if intent else "is frozen"
            findings.append(Finding(
                "shared-conflict", "warning",
                f"{' and '.join(names)} are one tensor, so it {state} in every place, but the rest "
                f"of {where} {rest}; freezing one owner changes the other: decide on purpose (or "
                "untie the weights)", tuple(names)))
            break
    return findings


def _intent(model: nn.Module, owner: str, shared: nn.Parameter) -> tuple[bool | None, str]:
    """The common flag of the owner's other parameters (else its parent's, ...), and where it was read.

    None when they are mixed or there are none: then the intent cannot be told from the model.
    """
    path = owner
    while True:
        others = [p.requires_grad for p in model.get_submodule(path).parameters() if p is not shared]
        where = f"'{path}'" if path else "the model"
        if others:
            return (others[0] if len(set(others)) == 1 else None), where
        if not path:
            return None, where
        path = _owner(path)


def _optimizer(model: nn.Module, optimizer: torch.optim.Optimizer) -> list[Finding]:
    import torch

    held: dict[int, dict] = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            held[id(p)] = group
    names = dict(model.named_parameters())
    in_model = {id(p) for p in names.values()}
    missing = [n for n, p in names.items() if p.requires_grad and id(p) not in held]
    findings = _found("missing-from-optimizer", "error", missing,
                      "trainable but not in the optimizer, so they get gradients that nothing "
                      "applies; add them with optimizer.add_param_group({...})", model)

    moving, may_move = [], []
    for n, p in names.items():
        if p.requires_grad or id(p) not in held:
            continue
        state = optimizer.state.get(p, {})
        has_state = any(torch.is_tensor(v) and bool(v.any()) for k, v in state.items() if k != "step")
        decays = bool(held[id(p)].get("weight_decay", 0))
        if p.grad is not None and (has_state or decays or bool(p.grad.any())):
            moving.append(n)
        elif has_state or decays:
            may_move.append(n)
    findings += _found("frozen-in-optimizer", "error", moving,
                       "frozen, yet the optimizer holds them with a gradient tensor, so the next "
                       "step() moves them (stale gradient, momentum/Adam state or weight decay); set "
                       "their .grad to None or rebuild the optimizer over trainable parameters", model)
    findings += _found("frozen-in-optimizer", "warning", may_move,
                       "frozen, and the optimizer holds them with momentum/Adam state or weight "
                       "decay: skipped while .grad is None, moved as soon as it is a tensor "
                       "(zero_grad(set_to_none=False)); keep frozen parameters out of the optimizer",
                       model)

    foreign = sum(pid not in in_model for pid in held)
    if foreign:
        findings.append(Finding(
            "unknown-in-optimizer", "warning",
            f"the optimizer holds {foreign} tensor(s) that are not parameters of this model (a "
            "replaced layer, or an optimizer built for another copy); rebuild it from this model",
            ()))
    return findings
