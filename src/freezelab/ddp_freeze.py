"""Freezing under DistributedDataParallel and FSDP, run for real: two CPU processes talking over gloo.

Lesson 11 calls `run()`, which starts `python -m freezelab.ddp_freeze` (a separate program, as every
distributed job is) and returns what rank 0 reported, one dict per scenario:

- "freeze before wrapping"                the right order
- "freeze after wrapping"                 DDP still waits for the frozen layer's gradient
- "unfreeze after wrapping"               the unfrozen layer trains on each rank but is never all-reduced
- "freeze after wrapping, find_unused"    find_unused_parameters=True lets it run (at a cost per step)
- "wrap all, freeze, unfreeze, find_unused"  gradual unfreezing under one wrapper built while all trained
- "FSDP one unit, mixed"                  use_orig_params=False: one flat parameter, mixed requires_grad
- "FSDP frozen part in its own unit"      the same model wrapped so each unit is all frozen or all trainable
- "FSDP2 fully_shard, mixed"              per-parameter sharding: mixed requires_grad in one unit
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

WORLD_SIZE = 2
STEPS = 3


def make_model() -> nn.Sequential:
    """The same small model on every rank: Linear(8, 16) -> ReLU -> Linear(16, 2)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))


def train(model: nn.Module, rank: int) -> tuple[int, str | None]:
    """SGD steps on this rank's own random batch: (steps completed, first line of the error or None)."""
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    generator = torch.Generator().manual_seed(100 + rank)  # each rank sees different data, as in DDP
    for step in range(STEPS):
        x = torch.randn(16, 8, generator=generator)
        optimizer.zero_grad()
        try:
            model(x).pow(2).mean().backward()
        except RuntimeError as err:  # DDP raises at the start of the iteration after the bad one
            return step, str(err).strip().splitlines()[0]
        optimizer.step()
    return STEPS, None


def in_sync(tensor: torch.Tensor) -> bool:
    """Is `tensor` bitwise the same on every rank?"""
    mine = tensor.detach().clone()
    rank0 = mine.clone()
    dist.broadcast(rank0, src=0)
    same = torch.tensor(float(torch.equal(mine, rank0)))
    dist.all_reduce(same, op=dist.ReduceOp.MIN)
    return bool(same)


def ddp_scenario(order: str, find_unused: bool = False) -> dict[str, Any]:
    """Freeze layer 0 before or after wrapping (or unfreeze it after), train, and report."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    from freezelab.audit import audit

    model = make_model()
    start = model[0].weight.detach().clone()
    if order == "freeze before":
        model[0].requires_grad_(False)
        ddp = DDP(model, find_unused_parameters=find_unused)
    elif order == "freeze after":
        ddp = DDP(model, find_unused_parameters=find_unused)
        model[0].requires_grad_(False)
    else:  # "unfreeze after": wrapped while frozen, unfrozen later
        model[0].requires_grad_(False)
        ddp = DDP(model, find_unused_parameters=find_unused)
        model[0].requires_grad_(True)
    result: dict[str, Any] = {"audit": audit(ddp, ignore=["wrapper-prefix"]).codes}
    result["steps"], result["error"] = train(ddp, dist.get_rank())
    if result["error"]:
        return result
    result["layer0 moved"] = not torch.equal(start, model[0].weight)
    result["layer0 in sync"] = in_sync(model[0].weight)
    result["head in sync"] = in_sync(model[2].weight)
    return result


def ddp_freeze_then_unfreeze() -> dict[str, Any]:
    """Wrap while everything trains (find_unused_parameters=True), freeze layer 0, train, unfreeze, train."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    from freezelab.audit import audit

    model = make_model()
    ddp = DDP(model, find_unused_parameters=True)
    model[0].requires_grad_(False)
    start = model[0].weight.detach().clone()
    frozen_steps, error = train(ddp, dist.get_rank())
    result: dict[str, Any] = {"layer0 kept while frozen": torch.equal(start, model[0].weight)}
    model[0].requires_grad_(True)
    result["audit"] = audit(ddp, ignore=["wrapper-prefix"]).codes
    steps, later_error = train(ddp, dist.get_rank())
    result.update({"steps": frozen_steps + steps, "error": error or later_error,
                   "layer0 moved": not torch.equal(start, model[0].weight),
                   "layer0 in sync": in_sync(model[0].weight), "head in sync": in_sync(model[2].weight)})
    return result


def fsdp2_scenario() -> dict[str, Any]:
    """FSDP2 (`fully_shard`): each parameter is its own sharded DTensor, so one unit may mix flags."""
    from torch.distributed.fsdp import fully_shard

    model = make_model()
    model[0].requires_grad_(False)
    fully_shard(model)
    start = model[0].weight.full_tensor()
    steps, error = train(model, dist.get_rank())
    return {"steps": steps, "error": error,
            "layer0 moved": not torch.equal(start, model[0].weight.full_tensor()),
            "head in sync": in_sync(model[2].weight.full_tensor())}


def fsdp_scenario(separate_units: bool) -> dict[str, Any]:
    """Wrap a half-frozen model with FSDP (use_orig_params=False): one unit, or one unit per part."""
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    model = make_model()
    model[0].requires_grad_(False)
    cpu = torch.device("cpu")
    try:
        if separate_units:  # the frozen layer and the trainable head each get their own flat parameter
            model[0] = FSDP(model[0], device_id=cpu, use_orig_params=False)
            model[2] = FSDP(model[2], device_id=cpu, use_orig_params=False)
        wrapped = FSDP(model, device_id=cpu, use_orig_params=False)
    except ValueError as err:  # raised while building the wrapper, before any step
        return {"steps": 0, "error": f"ValueError: {str(err).strip().splitlines()[0]}"}
    steps, error = train(wrapped, dist.get_rank())
    return {"steps": steps, "error": error}


SCENARIOS = {
    "freeze before wrapping": lambda: ddp_scenario("freeze before"),
    "freeze after wrapping": lambda: ddp_scenario("freeze after"),
    "unfreeze after wrapping": lambda: ddp_scenario("unfreeze after"),
    "freeze after wrapping, find_unused": lambda: ddp_scenario("freeze after", find_unused=True),
    "wrap all, freeze, unfreeze, find_unused": ddp_freeze_then_unfreeze,
    "FSDP one unit, mixed": lambda: fsdp_scenario(separate_units=False),
    "FSDP frozen part in its own unit": lambda: fsdp_scenario(separate_units=True),
    "FSDP2 fully_shard, mixed": fsdp2_scenario,
}


def worker(rank: int, store: str, out: str) -> None:
    """One process of the job: every scenario in turn; rank 0 writes the results as JSON."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=Path(store).as_uri(), rank=rank, world_size=WORLD_SIZE)
    try:
        results = {name: scenario() for name, scenario in SCENARIOS.items()}
        dist.barrier()
    finally:
        dist.destroy_process_group()
    if rank == 0:
        Path(out).write_text(json.dumps(results), encoding="utf-8")


def main() -> int:
    """Start the two processes and print rank 0's results as one JSON line."""
    # DDP imports torch._dynamo when it is built; importing it once here, before fork, saves each
    # child seconds. fork is Linux's default; elsewhere each child starts a fresh interpreter.
    import torch._dynamo  # noqa: F401

    method = "fork" if sys.platform.startswith("linux") else "spawn"
    with tempfile.TemporaryDirectory() as tmp:
        store, out = os.path.join(tmp, "store"), os.path.join(tmp, "results.json")
        mp.start_processes(worker, args=(store, out), nprocs=WORLD_SIZE, start_method=method)
        print(Path(out).read_text(encoding="utf-8"))
    return 0


def run(timeout: float = 180) -> dict[str, dict[str, Any]]:
    """Run the two-process job in a subprocess (as `python -m freezelab.ddp_freeze`); return its results."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "freezelab.ddp_freeze"], capture_output=True,
                          text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"the two-process job failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    raise SystemExit(main())
