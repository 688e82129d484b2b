"""The recorded learning-rate sweeps behind lessons 00, 04, 09 and 10.

A sweep tries every recipe at every learning rate of its grid on 5 seeds; that takes minutes, more than
a lesson may spend, so `python -m freezelab.sweeps record` runs them once and writes every run's numbers
to `freezelab/measured.py` (generated). The lessons read that file through `measured(name)`;
`tests/test_sweeps.py` re-runs part of it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from .recipes import RunResult, compare

# name -> (task, recipes); every one: 5 seeds, 40 epochs, also evaluated after 20, each recipe at every
# learning rate of its grid (recipes.lr_grid), with 5 labels per class unless SWEEP_K says otherwise.
SWEEPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "new_digits": ("new_digits", ("scratch", "linear_probe", "stem+layer1+head", "layer3+head", "finetune",
                                  "lp_ft")),
    "inverted": ("inverted", ("scratch", "linear_probe", "stem+layer1+head", "layer3+head", "finetune")),
    "noisy": ("noisy", ("linear_probe", "finetune", "lp_ft")),
    "peft": ("new_digits", ("bitfit", "lora")),
    # Lessons 00 and 10: a frozen backbone vs full fine-tuning with 10 labels per class, on every target.
    "new_digits_k10": ("new_digits", ("linear_probe", "finetune")),
    "inverted_k10": ("inverted", ("linear_probe", "finetune")),
    "noisy_k10": ("noisy", ("linear_probe", "finetune")),
}
SWEEP_K = {"new_digits_k10": 10, "inverted_k10": 10, "noisy_k10": 10}  # labels per class; 5 if not listed
# Runs two sweeps share (same task, model, recipe and grid) are recorded once: sweep -> (source, recipes).
SHARED = {"peft": ("new_digits", ("linear_probe", "layer3+head", "finetune"))}
SWEEP_SEEDS = (0, 1, 2, 3, 4)
SWEEP_EPOCHS = 40
SWEEP_BUDGETS = (20,)
MEASURED_PATH = Path(__file__).with_name("measured.py")


def run_sweep(name: str, seeds: tuple[int, ...] = SWEEP_SEEDS, recipes: tuple[str, ...] | None = None,
              lrs: dict | None = None, device: torch.device | str | None = "cpu",
              progress: bool = False) -> list[RunResult]:
    """Run (part of) one recorded sweep: all of it by default, or some recipes, seeds or lrs."""
    if name not in SWEEPS:
        raise ValueError(f"unknown sweep {name!r}: choose one of {', '.join(SWEEPS)}.")
    task_name, all_recipes = SWEEPS[name]
    return compare(recipes or all_recipes, (task_name,), ks=(sweep_k(name),), seeds=seeds,
                   epochs=SWEEP_EPOCHS, budgets=SWEEP_BUDGETS, lrs=lrs, device=device, progress=progress)


def sweep_k(name: str) -> int:
    """Labels per class in a recorded sweep."""
    return SWEEP_K.get(name, 5)


def measured(name: str) -> list[RunResult]:
    """Every run of a recorded sweep, as `record` wrote it (seconds are not kept: they depend on the machine)."""
    from .measured import RUNS

    if name not in RUNS:
        raise ValueError(f"no recorded sweep {name!r}: run `python -m freezelab.sweeps record`.")
    runs = [RunResult(*row[:9], seconds=0.0, ood_acc=row[9]) for row in RUNS[name]]
    if name in SHARED:
        source, strategies = SHARED[name]
        runs = [r for r in measured(source) if r.recipe in strategies] + runs
    return runs


def write_measured(runs: dict[str, list[RunResult]], path: Path = MEASURED_PATH) -> None:
    """Write sweep results as the Python module `measured` reads."""
    lines = ['"""Every run of the recorded learning-rate sweeps (lessons 00, 04, 09, 10). Generated: do not edit.',
             "",
             f"Written by `python -m freezelab.sweeps record` with torch {torch.__version__} on the CPU,",
             "one thread. Row: recipe, task, k, seed, lr, epochs, test_acc, val_acc, trainable, ood_acc.",
             '"""', "", "RUNS = {"]
    for name, results in runs.items():
        lines.append(f"    {name!r}: [")
        for r in results:
            row = (r.recipe, r.task, r.k, r.seed, r.lr, r.epochs, r.test_acc, r.val_acc, r.trainable,
                   r.ood_acc)
            lines.append(f"        {row!r},")
        lines.append("    ],")
    lines.append("}")
    Path(path).write_text("\n".join(lines) + "\n")


def record(names: tuple[str, ...] = tuple(SWEEPS), path: Path = MEASURED_PATH) -> None:
    """Run sweeps on the CPU with one thread and (re)write their results, keeping the other sweeps."""
    torch.set_num_threads(1)
    try:
        from .measured import RUNS
        runs = {name: [RunResult(*row[:9], seconds=0.0, ood_acc=row[9]) for row in rows]
                for name, rows in RUNS.items()}
    except ImportError:
        runs = {}
    for name in names:
        started = time.perf_counter()
        runs[name] = run_sweep(name, progress=True)
        write_measured(runs, path)  # after each sweep: a long recording can be resumed
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    names = sys.argv[2:] or list(SWEEPS)
    if sys.argv[1:2] != ["record"] or not set(names) <= set(SWEEPS):
        sys.exit(f"usage: python -m freezelab.sweeps record [{' '.join(SWEEPS)}]   "
                 "(re-runs sweeps: minutes on a CPU)")
    record(tuple(names))
