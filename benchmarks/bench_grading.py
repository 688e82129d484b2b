"""Per-submission grading cost: `freezelab grade` (sandboxed checker) against plain `nbgrader autograde`.

    .venv/bin/python -m benchmarks.bench_grading --assignment a1_freezing_basics --students 8

Builds one class from the real course (reference answers and catalogued mistakes, round robin) on a scratch
copy of autograder/ (answers from autograder/assignments/<A>/), then grades the same notebooks twice on one worker:
1. plain nbgrader, one `nbgrader autograde --student S` per student (a kernel per notebook, as an instructor
   without freezelab would run it; it trusts the students' kernels);
2. `freezelab grade --workers 1`, isolation on (the warm sandbox zygote forks one child per submission; the
   trusted checker decides; nbgrader only records), everything included: start-up, gradebook, feedback, export.
Prints wall and CPU seconds per submission (CPU: this process and every process it waited for) and the ratio.
"""

from __future__ import annotations

import argparse
import importlib
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from freezelab import paths
from freezelab.grading import grade
from freezelab.grading.course import copy_course, generate, nbgrader, repo_root

SCRATCH = shutil.ignore_patterns("release", "submitted", "autograded", "feedback", "gradebook.db",
                                 "__pycache__")


def build_class(tmp: Path, assignment: str, students: int) -> tuple[Path, Path]:
    """Copy the course, release it, and write `students` filled notebooks; return (course, folder)."""
    root = repo_root()
    shutil.copytree(root / "autograder", tmp / "autograder", ignore=SCRATCH)
    course = tmp / "autograder"
    sys.path.insert(0, str(course))
    catalogue = importlib.import_module("catalogue")
    generate(course, assignment)
    blank = nbformat.read(course / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    ref = {n: catalogue.reference_source(assignment, n) for n in catalogue.graded_names(assignment)}
    mistakes = [m for m in catalogue.MISTAKES if m.assignment == assignment]
    folder = tmp / "class"
    folder.mkdir()
    for i in range(students):
        answers = dict(ref)
        if i % 2 and mistakes:
            m = mistakes[(i // 2) % len(mistakes)]
            answers[m.name] = m.code
        nbformat.write(catalogue.fill_notebook(blank, answers), folder / f"s{i:03d}_{assignment}.ipynb")
    return course, folder


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def plain_nbgrader(course: Path, folder: Path, assignment: str, scratch: Path) -> tuple[float, float, int]:
    """Plain nbgrader, one student at a time: (wall, CPU, failures)."""
    os.environ.pop(paths.VERDICTS_ENV, None)  # a kernel executes each notebook
    copy = copy_course(course, scratch / "plain", keep_gradebook=True)
    generate(copy, assignment)
    wall, cpu, failed = 0.0, 0.0, 0
    for path in sorted(folder.glob("*.ipynb")):
        student = path.stem.removesuffix("_" + assignment)
        dest = copy / "submitted" / student / assignment
        dest.mkdir(parents=True)
        shutil.copy2(path, dest / f"{assignment}.ipynb")
        t0, c0 = time.perf_counter(), _cpu()
        proc = nbgrader(["autograde", assignment, "--student", student, "--force"], copy, 900)
        wall, cpu = wall + time.perf_counter() - t0, cpu + _cpu() - c0
        failed += proc.returncode != 0
    return wall, cpu, failed


def freezelab_grade(course: Path, folder: Path, out: Path) -> tuple[float, float, int, bool]:
    """`freezelab grade --workers 1`, isolated when this machine can: (wall, CPU, exit code, isolated)."""
    from freezelab.grading.sandbox import isolation_available

    isolated = isolation_available()[0]
    t0, c0 = time.perf_counter(), _cpu()
    code = grade.main([str(folder), "--course", str(course), "--out", str(out), "--workers", "1",
                       "--no-progress"] + ([] if isolated else ["--no-sandbox"]))
    return time.perf_counter() - t0, _cpu() - c0, code, isolated


def main(argv: list[str] | None = None) -> int:
    """Grade one simulated class both ways and print the per-submission times and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default="a1_freezing_basics")
    parser.add_argument("--students", type=int, default=8)
    args = parser.parse_args(argv)
    if args.students < 1:
        parser.error("--students must be at least 1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        course, folder = build_class(Path(tmp), args.assignment, args.students)
        n = args.students
        print(f"{n} submissions of {args.assignment}, {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.1f}", flush=True)
        p_wall, p_cpu, p_failed = plain_nbgrader(course, folder, args.assignment, Path(tmp))
        print(f"plain nbgrader autograde, one student at a time: {p_wall / n:6.1f} s wall, {p_cpu / n:6.1f} s CPU "
              f"per submission ({p_failed} failed)", flush=True)
        f_wall, f_cpu, code, isolated = freezelab_grade(course, folder, Path(tmp) / "out")
        mode = "isolation on" if isolated else "NO isolation (bubblewrap unavailable here)"
        print(f"freezelab grade --workers 1, {mode}:  {f_wall / n:6.1f} s wall, {f_cpu / n:6.1f} s CPU "
              f"per submission (exit {code}, start-up included)")
        print(f"ratio plain / freezelab: {p_wall / f_wall:.2f}x wall, {p_cpu / f_cpu:.2f}x CPU (goal >= 2x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
