"""A scale model of grading a large course: 1 and 2 local workers and a Dask cluster, projected to 6,000 notebooks.

    .venv/bin/python -m benchmarks.bench_cluster --students 40 [--assignment a1_freezing_basics]

Builds one class from the real course (as benchmarks/bench_grading.py does), then grades the same notebooks
three times through `freezelab grade`'s resumable path, each into a fresh gradebook:
1. one local worker (`--workers 1 --db-url sqlite:///...`);
2. two local workers;
3. a real Dask cluster (a scheduler and two one-thread worker processes, `--scheduler tcp://...`).
Prints wall seconds per submission, the speed-up over one worker and the parallel efficiency, then projects
the wall time of 6,000 notebooks on N workers: 6000 x (per-submission time on one worker) / (N x efficiency),
and the smallest N that stays within 60 minutes. The projection assumes notebooks that cost what this
assignment costs (a3 costs about twice a1) and workers as fast as this machine's cores.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

from benchmarks.bench_grading import build_class
from freezelab.grading import grade

NOTEBOOKS = 6000
HOUR = 3600.0


def run(course: Path, folder: Path, out: Path, *extra: str) -> float:
    """Wall seconds of one `freezelab grade` of the class into a fresh SQLite gradebook."""
    started = time.perf_counter()
    code = grade.main([str(folder), "--course", str(course), "--out", str(out), "--no-progress",
                       "--db-url", f"sqlite:///{out / 'gradebook.db'}", *extra])
    if code not in (0, 1):  # 1: some submission failed, reported above; the timing still stands
        raise SystemExit(f"freezelab grade failed (exit {code}); see the message above")
    return time.perf_counter() - started


def workers_for(per_sub: float, efficiency: float, budget: float = HOUR) -> int:
    """Smallest number of workers that grades NOTEBOOKS within `budget` seconds."""
    return max(1, math.ceil(NOTEBOOKS * per_sub / (budget * max(efficiency, 1e-6))))


def main(argv: list[str] | None = None) -> int:
    """Grade one class three ways and print the scale model."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default="a1_freezing_basics")
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--no-sandbox", action="store_true", help="grade without isolation (as in the grader)")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from distributed import LocalCluster

    flags = ["--no-sandbox"] if args.no_sandbox else []
    with tempfile.TemporaryDirectory(prefix="freezelab-bench-cluster-") as tmp:
        tmp_path = Path(tmp)
        course, folder = build_class(tmp_path, args.assignment, args.students)
        n = args.students
        print(f"{n} submissions of {args.assignment}, {os.cpu_count()} CPU cores on this machine")
        walls = {}
        for workers in (1, 2):
            print(f"  local, {workers} worker(s):")
            walls[f"local x{workers}"] = run(course, folder, tmp_path / f"local{workers}",
                                             "--workers", str(workers), *flags)
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                          host="127.0.0.1") as dask:
            print(f"  Dask cluster at {dask.scheduler_address}, 2 workers x 1 thread:")
            walls["dask x2"] = run(course, folder, tmp_path / "dask", "--scheduler", dask.scheduler_address,
                                   *flags)
    per_sub = walls["local x1"] / n
    print(f"\n{'run':<12} {'wall s':>8} {'s/submission':>13} {'speed-up':>9} {'efficiency':>11}")
    efficiency = {}
    for name, wall in walls.items():
        k = 1 if name.endswith("x1") else 2
        speedup = walls["local x1"] / wall
        efficiency[name] = speedup / k
        print(f"{name:<12} {wall:8.1f} {wall / n:13.2f} {speedup:9.2f} {efficiency[name]:11.2f}")
    eff = efficiency["dask x2"]
    print(f"\nProjection for {NOTEBOOKS} notebooks like these ({per_sub:.2f} s each on one worker, "
          f"parallel efficiency {eff:.2f} as measured on the Dask cluster):")
    for workers in (1, 8, 32, 64, 128):
        hours = NOTEBOOKS * per_sub / (workers * max(eff, 1e-6)) / HOUR
        print(f"  {workers:>4} workers: {hours * 60:8.1f} min")
    print(f"  -> {workers_for(per_sub, eff)} workers (one core each) grade {NOTEBOOKS} notebooks within "
          f"60 minutes at the measured efficiency; {workers_for(per_sub, 1.0)} if every worker has a core "
          "of its own (on a shared or small machine the two-worker runs compete for cores, and the "
          "measured efficiency says more about the machine than about the cluster)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
