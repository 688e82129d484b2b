"""Time every lesson notebook top to bottom on this machine, against the course budgets.

    python -m benchmarks.notebook_times            # all notebooks
    python -m benchmarks.notebook_times 01 06      # notebooks whose name starts with these

Each notebook runs in a fresh kernel (nbclient), so kernel start-up is included in its time.
Budgets: 30 s per notebook, 3 minutes for the whole course.
"""

from __future__ import annotations

import json
import resource
import sys

from tools.record_notebook_outputs import execute, notebook_paths

NOTEBOOK_BUDGET_S = 30.0
COURSE_BUDGET_S = 180.0


def main(argv: list[str]) -> int:
    """Run the chosen notebooks, print a table of run times, and return 1 if a budget is exceeded."""
    paths = [p for p in notebook_paths() if not argv or any(p.name.startswith(a) for a in argv)]
    if not paths:
        print(f"no notebook matches {argv}", file=sys.stderr)
        return 2
    times, cpu = {}, {}
    print(f"{'notebook':20} {'wall':>8} {'kernel CPU':>11}")
    for path in paths:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        _, seconds = execute(path)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the kernel is reaped when it shuts down
        times[path.stem] = round(seconds, 2)
        cpu[path.stem] = round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2)
        flag = "" if seconds <= NOTEBOOK_BUDGET_S else f"  OVER the {NOTEBOOK_BUDGET_S:.0f} s budget"
        print(f"{path.stem:20} {seconds:6.1f} s {cpu[path.stem]:9.1f} s{flag}", flush=True)
    total = sum(times.values())
    print(f"{'total':20} {total:6.1f} s {sum(cpu.values()):9.1f} s  "
          f"(budget {COURSE_BUDGET_S:.0f} s wall for the course)")
    print("Wall time counts a busy machine against the notebook; kernel CPU time does not.")
    print(json.dumps({"notebook_seconds": times, "kernel_cpu_seconds": cpu, "total_seconds": round(total, 2)}))
    over = total > COURSE_BUDGET_S or any(t > NOTEBOOK_BUDGET_S for t in times.values())
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
