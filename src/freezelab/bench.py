"""Measure what freezing buys: time and memory of one training step with different stages frozen.

A *frozen set* is a list of stage names (top-level children such as `conv1`, `layer1`, `fc`) whose
parameters are frozen: the complement of a plan (`freezelab.plans`), which names what trains.
Measurements leave the model as they found it: `requires_grad` flags, weights, buffers and train/eval
mode are restored afterwards.
"""

from __future__ import annotations

import contextlib
import copy
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .device import model_device, resolve_device, synchronize

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class StepStats:
    """Seconds per training step: median and inter-quartile range over `repeats` timed steps."""

    median: float
    iqr: float
    q1: float
    q3: float
    repeats: int
    times: tuple[float, ...] = ()

    @classmethod
    def from_times(cls, times: Sequence[float]) -> StepStats:
        """Median, quartiles and IQR of a list of step times."""
        q1, _, q3 = statistics.quantiles(times, n=4) if len(times) > 1 else (times[0],) * 3
        return cls(median=statistics.median(times), iqr=q3 - q1, q1=q1, q3=q3, repeats=len(times),
                   times=tuple(times))


def default_stages(model: nn.Module) -> list[str]:
    """Top-level children that own parameters, in order (conv1, bn1, layer1, ..., fc for ResNets)."""
    return [name for name, child in model.named_children() if any(True for _ in child.parameters())]


def _take(stages: Sequence[str], fraction: float) -> int:
    return max(1, int(fraction * len(stages) + 0.5))  # round half up, at least one stage


def frozen_sets(model: nn.Module, stages: Sequence[str] | None = None) -> dict[str, list[str]]:
    """Named frozen sets: name -> frozen stage names.

    The last stage is the head and stays trainable in every set; percentages count the other stages.
    "first N%" freezes the early stages (the usual transfer-learning choice), "last N%" the late ones:
    exactly the stages "first (100-N)%" leaves trainable, so "first 50%" and "last 50%" never overlap.
    """
    stages = list(stages) if stages is not None else default_stages(model)
    missing = [s for s in stages if not hasattr(model, s)]
    if missing or len(stages) < 2:
        raise ValueError(f"need at least two stages that are attributes of the model, got {stages} "
                         f"(missing: {missing}); pass stages=[...] with names from model.named_children().")
    body = stages[:-1]
    return {
        "none": [],
        "first 25%": body[:_take(body, 0.25)],
        "first 50%": body[:_take(body, 0.50)],
        "first 75%": body[:_take(body, 0.75)],
        "all but head": body,
        "last 25%": body[_take(body, 0.75):],
        "last 50%": body[_take(body, 0.50):],
    }


@contextlib.contextmanager
def applied(model: nn.Module, frozen: Sequence[str]) -> Iterator[nn.Module]:
    """Freeze the stages in `frozen` (everything else trainable) inside the block; restore flags after."""
    flags = {id(p): p.requires_grad for p in model.parameters()}
    try:
        model.requires_grad_(True)
        for stage in frozen:
            model.get_submodule(stage).requires_grad_(False)
        yield model
    finally:
        for p in model.parameters():
            p.requires_grad_(flags[id(p)])


@contextlib.contextmanager
def _restored(model: nn.Module) -> Iterator[None]:
    """Put weights, buffers (BatchNorm statistics) and train/eval mode back after training steps."""
    state = copy.deepcopy(model.state_dict())
    modes = {name: m.training for name, m in model.named_modules()}
    try:
        yield
    finally:
        model.load_state_dict(state)
        for name, m in model.named_modules():
            m.training = modes[name]


def _step_fn(model: nn.Module, batch: Batch, device: torch.device) -> Callable[[], None]:
    """One SGD step over the trainable parameters only (what the optimizer would see after freezing)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("this frozen set freezes every parameter: nothing to train, so there is no step to time.")
    optimizer = torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    x, y = (t.to(device) for t in batch)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()

    return step


def step_time(model: nn.Module, batch: Batch, frozen: Sequence[str] = (), device: torch.device | str | None = None,
              repeats: int = 10, warmup: int = 2) -> StepStats:
    """Time forward + backward + optimizer step with the `frozen` stages frozen; median and IQR over `repeats`."""
    if repeats < 1:
        raise ValueError(f"repeats={repeats}: need at least one timed step.")
    device = resolve_device(device, model_device(model))
    model.to(device)
    times = []
    with _restored(model), applied(model, frozen):
        model.train()
        step = _step_fn(model, batch, device)
        for _ in range(warmup):
            step()
        for _ in range(repeats):
            synchronize(device)
            start = time.perf_counter()
            step()
            synchronize(device)
            times.append(time.perf_counter() - start)
    return StepStats.from_times(times)


def saved_activation_bytes(model: nn.Module, batch: Batch, frozen: Sequence[str] = (),
                           device: torch.device | str | None = None) -> int:
    """Bytes autograd keeps for backward in one forward pass (de-duplicated, parameters excluded)."""
    device = resolve_device(device, model_device(model))
    model.to(device)
    x, y = (t.to(device) for t in batch)
    storages: dict[int, int] = {}
    param_ptrs = {p.untyped_storage().data_ptr() for p in model.parameters()}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        # Several ops often save the same tensor (ReLU output, next conv input): count it once.
        if storage.data_ptr() not in param_ptrs:
            storages[storage.data_ptr()] = max(storages.get(storage.data_ptr(), 0), storage.nbytes())
        return t

    with _restored(model), applied(model, frozen), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model.train()
        F.cross_entropy(model(x), y)
    return sum(storages.values())


def peak_memory(model: nn.Module, batch: Batch, frozen: Sequence[str] = (),
                device: torch.device | str | None = None) -> int:
    """Memory one training step needs on top of the model, in bytes.

    CUDA: peak allocated during the step minus what was allocated before it (activations, gradients,
    optimizer state). Elsewhere: the bytes of tensors saved for backward (`saved_activation_bytes`).
    """
    device = resolve_device(device, model_device(model))
    if device.type != "cuda":
        return saved_activation_bytes(model, batch, frozen, device)
    model.to(device)
    with _restored(model), applied(model, frozen):
        model.train()
        step = _step_fn(model, batch, device)
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        step()
        synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - before
    return int(peak)


def compare_frozen_sets(model_fn: Callable[[], nn.Module], batch: Batch,
                        sets: dict[str, Sequence[str]] | None = None, device: torch.device | str | None = None,
                        repeats: int = 10, warmup: int = 1, progress: bool = True) -> list[dict]:
    """Time and memory of one step per frozen set, with ratios against the "none" set (or the first).

    Sets are timed in turns (one step of each per round, `repeats` rounds), so a machine that gets
    busier or quieter during the run affects every set alike instead of whichever came last.
    """
    from .inspect import param_count

    device = resolve_device(device, "cpu")
    model = model_fn().to(device)
    sets = sets if sets is not None else frozen_sets(model)
    step_time(model, batch, (), device, repeats=1, warmup=2)  # warm allocator and kernel caches once
    times: dict[str, list[float]] = {name: [] for name in sets}
    for _ in tqdm(range(repeats), desc="timing rounds", disable=not progress, leave=False):
        for name, frozen in sets.items():
            times[name] += step_time(model, batch, frozen, device, repeats=1, warmup=warmup).times
    rows = []
    for name, frozen in sets.items():
        with applied(model, frozen):
            count = param_count(model)
        stats = StepStats.from_times(times[name])
        rows.append({"name": name, "frozen": list(frozen), "trainable": count.trainable, "total": count.total,
                     "median_s": stats.median, "iqr_s": stats.iqr, "q1_s": stats.q1, "q3_s": stats.q3,
                     "memory_bytes": peak_memory(model, batch, frozen, device)})
    base = next((r for r in rows if r["name"] == "none"), rows[0])
    for row in rows:
        row["time_ratio"] = row["median_s"] / base["median_s"]
        row["memory_ratio"] = row["memory_bytes"] / base["memory_bytes"] if base["memory_bytes"] else float("nan")
    return rows


def format_rows(rows: list[dict]) -> str:
    """The rows of `compare_frozen_sets` as a text table."""
    lines = [f"{'frozen set':<13} {'trainable':>11} {'step ms':>9} {'IQR ms':>8} {'x none':>7} "
             f"{'memory MB':>10} {'x none':>7}  frozen stages"]
    for r in rows:
        lines.append(f"{r['name']:<13} {r['trainable']:>11,} {1e3 * r['median_s']:>9.2f} {1e3 * r['iqr_s']:>8.2f} "
                     f"{r['time_ratio']:>7.2f} {r['memory_bytes'] / 2**20:>10.2f} {r['memory_ratio']:>7.2f}  "
                     f"{', '.join(r['frozen']) or '-'}")
    return "\n".join(lines)


def timing_verdict(rows: list[dict], a: str, b: str) -> str:
    """Which of frozen sets `a` and `b` was faster, stated only when their inter-quartile ranges do not overlap."""
    ra, rb = (next(r for r in rows if r["name"] == name) for name in (a, b))
    if ra["q3_s"] < rb["q1_s"]:
        return f"{a} was faster than {b} (the middle halves of their step times do not overlap)"
    if rb["q3_s"] < ra["q1_s"]:
        return f"{b} was faster than {a} (the middle halves of their step times do not overlap)"
    return f"{a} vs {b}: within the noise of this machine (their step-time IQRs overlap); no direction"


def stage_flops(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Share of one forward pass's FLOPs spent in each top-level stage (torch.utils.flop_counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    counts, total = counter.get_flop_counts(), counter.get_total_flops()
    root = type(model).__name__
    return {name: sum(counts.get(f"{root}.{name}", {}).values()) / total
            for name, _ in model.named_children() if f"{root}.{name}" in counts}


def step_flops(model: nn.Module, batch: Batch, frozen: Sequence[str] = ()) -> tuple[int, int]:
    """FLOPs of one forward and one backward pass with the `frozen` stages frozen: the work, independent of the clock."""
    from torch.utils.flop_counter import FlopCounterMode

    x, y = batch
    with _restored(model), applied(model, frozen):
        model.train()
        with FlopCounterMode(display=False) as forward:
            loss = F.cross_entropy(model(x), y)
        with FlopCounterMode(display=False) as backward:
            loss.backward()
        model.zero_grad(set_to_none=True)
    return forward.get_total_flops(), backward.get_total_flops()
