"""Run every benchmark in this folder (`make bench`): each module here with a `main(argv) -> int`.

    python -m benchmarks.run_all                       # all of them
    python -m benchmarks.run_all freezing_step_time    # only these
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    """Run the chosen benchmark modules one after another; exit 1 if any of them failed."""
    here = Path(__file__).resolve().parent
    names = sorted(p.stem for p in here.glob("*.py") if not p.stem.startswith("_") and p.stem != "run_all")
    chosen = [n for n in names if not argv or n in argv]
    if not chosen:
        print(f"no benchmark named {argv}: choose from {', '.join(names)}.", file=sys.stderr)
        return 2
    failed = []
    for name in chosen:
        module = importlib.import_module(f"benchmarks.{name}")
        if not hasattr(module, "main"):
            continue
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        status = int(module.main([]) or 0)
        print(f"=== {name}: exit {status} in {time.perf_counter() - started:.1f} s ===", flush=True)
        if status:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
