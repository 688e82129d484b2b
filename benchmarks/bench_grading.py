"""How long `freezelab grade` takes for a simulated class, by number of workers and batching.

    .venv/bin/python -m benchmarks.bench_grading --assignment a1_freezing_basics --students 8

Builds a class from the real course (reference answers and catalogued mistakes, round robin) on a
scratch copy of autograder/ and solutions/, then grades it with each setting and prints the times.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from freezelab.grading import grade
from freezelab.grading.course import generate, repo_root

SCRATCH = shutil.ignore_patterns("release", "submitted", "autograded", "feedback", "gradebook.db",
                                 "__pycache__")


def build_class(tmp: Path, assignment: str, students: int) -> tuple[Path, Path]:
    """Copy the course, release it, and write `students` filled notebooks; return (course, folder)."""
    root = repo_root()
    shutil.copytree(root / "autograder", tmp / "autograder", ignore=SCRATCH)
    shutil.copytree(root / "solutions", tmp / "solutions", ignore=SCRATCH)
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
        nb = catalogue.fill_notebook(blank, answers)
        nbformat.write(nb, folder / f"s{i:03d}_{assignment}.ipynb")
    return course, folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default="a1_freezing_basics")
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument("--workers", default=f"1,{os.cpu_count() or 1}", help="comma-separated")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        course, folder = build_class(Path(tmp), args.assignment, args.students)
        print(f"{args.students} submissions of {args.assignment}, {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f}")
        for workers in sorted({int(w) for w in args.workers.split(",")}):
            for one_by_one in (True, False):
                out = Path(tmp) / f"out-{workers}-{one_by_one}"
                t0 = time.perf_counter()
                code = grade.main([str(folder), "--course", str(course), "--out", str(out),
                                   "--workers", str(workers), "--no-progress"]
                                  + (["--one-by-one"] if one_by_one else []))
                mode = "one nbgrader per student" if one_by_one else "batched"
                print(f"workers={workers} {mode:<26} {time.perf_counter() - t0:7.1f} s  exit {code}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
