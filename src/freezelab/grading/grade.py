"""`freezelab grade SUBMISSIONS`: grade a class in sandboxes, record it with nbgrader, never lose a grade.

SUBMISSIONS is one of
- an nbgrader `submitted/` tree: `<student>/<assignment>/<notebook>.ipynb`;
- a folder or .zip of notebooks from an LMS, one per student, named `<student>.ipynb` (then give
  --assignment, or the assignment is recognised from the notebook's graded cells) or
  `<student>_<assignment>.ipynb` / `<student>-<assignment>.ipynb`.
No student code runs in a kernel or in this process: each worker's trusted checker (`checker.py`) runs
the answer cells in a sandboxed child and decides every test cell; nbgrader's autograde then records
those verdicts (its Execute step replaced, see `nbplugins.py`). Every submission is graded on a scratch
copy of the course root; workers each own one copy and merge each finished student into a scratch
master gradebook. --out receives grades.csv (nbgrader's
export), cells.csv, feedback/<student>/<assignment>/*.html (hidden checks removed), gradebook.db,
autograded/ and summary.txt. --into-course also merges the results into the course root so that
formgrader shows them for manual grading.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from .. import paths
from . import nbplugins
from .course import (
    SECRET_MARKERS,
    GradingError,
    UsageError,
    copy_course,
    find_course,
    generate,
    last_error_line,
    list_assignments,
    nbgrader,
    plural,
    use_venv_tools,
)

VERDICTS = "verdicts"  # the checker's reports, inside each worker's course copy
CELL_COLUMNS = ["student_id", "assignment", "notebook", "cell", "score", "max_score", "status"]


@dataclass
class Submission:
    """One student's notebooks for one assignment, or the reason it cannot be graded."""

    student: str
    assignment: str | None
    files: list[Path] = field(default_factory=list)
    source: str = ""
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------- collecting submissions

def _student_id(text: str) -> str:
    """A student id nbgrader accepts (letters, digits, '.', '_', '-')."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.") or "anonymous"


def _grade_ids(path: Path) -> set[str]:
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:
        return set()
    return {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells} - {None}


def _recognise(ids: set[str], known: dict[str, set[str]]) -> str | None:
    """The assignment whose graded cell ids (`known`: assignment -> ids) a notebook's `ids` share most."""
    best = max(known, key=lambda a: len(ids & known[a]), default=None)
    return best if best and ids & known[best] else None


def collect(src: Path, course: Path, assignment: str | None, scratch: Path,
            skipped: list[str] | None = None) -> list[Submission]:
    """Find every submission in a submitted/ tree, a folder of notebooks, or a zip of either.

    With --assignment, files named for another assignment are left out (each named in `skipped`, if given);
    a `<student>.ipynb` whose graded cells are another assignment's gets an error that names it."""
    assignments = list_assignments(course)
    known = {a: set().union(*map(_grade_ids, (course / "source" / a).glob("*.ipynb"))) for a in assignments}
    if assignment and assignment not in assignments:
        raise GradingError(f"unknown assignment {assignment!r}; the course has: {', '.join(assignments)}")
    if not src.exists():
        raise GradingError(f"{src}: no such file or folder")
    given = src
    if src.is_file():
        if not zipfile.is_zipfile(src):
            raise GradingError(f"{src}: not a folder or a .zip of notebooks")
        unzipped = scratch / "unzipped"
        with zipfile.ZipFile(src) as zf:
            zf.extractall(unzipped)
        src = unzipped
    # a zip often wraps everything in one folder: look inside it
    entries = [p for p in src.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    if (len(entries) == 1 and entries[0].is_dir() and entries[0].name not in assignments
            and not any((entries[0] / a).is_dir() for a in assignments)):  # not a one-student tree
        src = entries[0]
    wanted = [assignment] if assignment else assignments
    tree = [d for d in src.iterdir() if d.is_dir() and any((d / a).is_dir() for a in assignments)]
    subs: list[Submission] = []
    others: set[str] = set()  # assignments the files are for when --assignment names another one
    if tree:  # nbgrader's submitted/<student>/<assignment>/*.ipynb
        for student_dir in sorted(tree):
            for a in wanted:
                files = sorted((student_dir / a).glob("*.ipynb"))
                if files:
                    subs.append(Submission(_student_id(student_dir.name), a, files,
                                           f"{student_dir.name}/{a}"))
            others |= {a for a in assignments if any((student_dir / a).glob("*.ipynb"))}
        _refuse_other_assignment(subs, assignment, others, given)
        return subs
    for path in sorted(src.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        stem, a = path.stem, None
        for name in assignments:
            if stem.endswith(("_" + name, "-" + name)) and len(stem) > len(name) + 1:
                stem, a = stem[: -len(name) - 1], name
        if a and assignment and a != assignment:
            others.add(a)
            if skipped is not None:
                skipped.append(f"{path.name} (named for {a})")
            continue
        ids = set() if a else _grade_ids(path)
        found = _recognise(ids, known)
        a = a or assignment or found
        sub = Submission(_student_id(stem), a, [path], path.name)
        if a is None:
            sub.error = ("cannot tell which assignment this is: name it <student>_<assignment>.ipynb "
                         "or pass --assignment")
        elif found and found != a and not ids & known[a]:
            sub.error = (f"its graded cells are {found}'s, none of {a}'s: grade it with --assignment {found} "
                         f"(or name it <student>_{found}.ipynb)")
        subs.append(sub)
    _refuse_other_assignment(subs, assignment, others, given)
    seen = Counter((s.student, s.assignment) for s in subs)
    for s in subs:
        if seen[(s.student, s.assignment)] > 1 and not s.error:
            s.error = f"{seen[(s.student, s.assignment)]} files for the same student and assignment"
    return subs


def _refuse_other_assignment(subs: list[Submission], assignment: str | None, others: set[str],
                             src: Path) -> None:
    """Nothing for --assignment but files for other assignments: say which, and the option that grades them."""
    if subs or not assignment or not others:
        return
    named = sorted(others)
    raise UsageError(f"no submissions for {assignment} in {src}: the files there are for {', '.join(named)}; "
                     f"use --assignment {named[0]}" + (" (or leave --assignment out to grade them all)"
                                                      if len(named) > 1 else ""))


def precheck(sub: Submission) -> str | None:
    """A file that is not a notebook at all, as one line (tampered cells are handled by `reconcile`)."""
    for path in sub.files:
        try:
            nbformat.read(path, as_version=4)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return f"{path.name} is not a valid notebook (corrupt JSON?): {first[:150]}"
    return None


# ---------------------------------------------------------------- gradebook helpers

def _url(course: Path) -> str:
    return f"sqlite:///{course / 'gradebook.db'}"


def merge_submission(src: Path, dst: Path, assignment: str, student: str) -> None:
    """Copy one student's grades and comments from the gradebook of `src` into that of `dst`."""
    merge_submissions(src, dst, assignment, [student])


def merge_submissions(src: Path, dst: Path, assignment: str, students: list[str]) -> None:
    """Copy students' grades and comments from the gradebook of `src` into that of `dst` (each opened once).

    Scores and comments given by hand in `dst` (formgrader) are kept: re-grading never loses them.
    """
    from nbgrader.api import Gradebook

    with Gradebook(_url(src)) as a, Gradebook(_url(dst)) as b, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy chatters about objects that nbgrader adds later
        for student in students:
            _merge_one(a, b, assignment, student)


def _merge_one(a, b, assignment: str, student: str) -> None:
    from nbgrader.api import MissingEntry

    sub = a.find_submission(assignment, student)
    b.update_or_create_student(student)
    manual: dict[tuple[str, str, str], object] = {}
    try:
        for nb in b.find_submission(assignment, student).notebooks:
            for g in nb.grades:
                if g.manual_score is not None or g.extra_credit:
                    manual[("grade", nb.name, g.name)] = (g.manual_score, g.extra_credit)
            for c in nb.comments:
                if c.manual_comment:
                    manual[("comment", nb.name, c.name)] = c.manual_comment
        b.remove_submission(assignment, student)
    except MissingEntry:
        pass
    b.add_submission(assignment, student, **({"timestamp": sub.timestamp} if sub.timestamp else {}))
    for nb in sub.notebooks:
        for g in nb.grades:
            d = b.find_grade(g.name, nb.name, assignment, student)
            d.auto_score, d.manual_score = g.auto_score, g.manual_score
            d.extra_credit, d.needs_manual_grade = g.extra_credit, g.needs_manual_grade
            if ("grade", nb.name, g.name) in manual:
                d.manual_score, d.extra_credit = manual[("grade", nb.name, g.name)]
                d.needs_manual_grade = False
        for c in nb.comments:
            d = b.find_comment(c.name, nb.name, assignment, student)
            d.auto_comment = c.auto_comment
            d.manual_comment = manual.get(("comment", nb.name, c.name), c.manual_comment)
    b.db.commit()


def cell_rows(course: Path, sub: Submission, gradebook: Any = None) -> list[dict]:
    """cells.csv rows for one submission (status 'failed' on every graded cell when it failed)."""
    from nbgrader.api import Gradebook, MissingEntry

    rows = []
    with contextlib.nullcontext(gradebook) if gradebook is not None else Gradebook(_url(course)) as gb:
        if sub.error:
            try:
                notebooks = gb.find_assignment(sub.assignment).notebooks
            except MissingEntry:
                return [dict(student_id=sub.student, assignment=sub.assignment or "", notebook="",
                             cell="", score=0, max_score=0, status="failed")]
            for nb in notebooks:
                for cell in nb.grade_cells:
                    rows.append(dict(student_id=sub.student, assignment=sub.assignment, notebook=nb.name,
                                     cell=cell.name, score=0, max_score=cell.max_score, status="failed"))
            return rows
        for nb in gb.find_submission(sub.assignment, sub.student).notebooks:
            for g in nb.grades:
                if g.needs_manual_grade:
                    status = "needs_manual_grade"
                elif g.manual_score is not None:
                    status = "manually_graded"
                else:
                    status = "autograded"
                rows.append(dict(student_id=sub.student, assignment=sub.assignment, notebook=nb.name,
                                 cell=g.name, score=g.score, max_score=g.max_score, status=status))
    return rows


# ---------------------------------------------------------------- grading one submission

MIN_MEMORY_MIB = 1024  # measured: below about 900 MiB a child with torch imported cannot even start


class CheckerWorker:
    """One trusted checker process (with its own warm sandbox zygote), fed one submission at a time."""

    def __init__(self, course: Path, isolate: bool, memory_mib: int | None = None) -> None:
        self.course, self.isolate, self.memory_mib = course, isolate, memory_mib
        self.proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "freezelab.grading.checker", "worker", "--course", str(self.course)]
        if not self.isolate:
            cmd.append("--no-sandbox")
        if self.memory_mib:
            cmd += ["--memory-mib", str(self.memory_mib)]
        env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
        return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True, env=env)

    def check(self, job: dict) -> dict:
        """Run one job; a checker that died is reported for this submission and replaced for the next."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        try:
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
            return json.loads(line)
        except (OSError, ValueError):
            self.close()
            return {"ok": False, "error": "the grader's checker process stopped unexpectedly"}

    def close(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def _place(sub: Submission, course: Path) -> list[Path]:
    """Put the reconciled submission where nbgrader expects it, under the released notebook names."""
    dest = course / "submitted" / sub.student / sub.assignment
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    released = sorted((course / "release" / sub.assignment).glob("*.ipynb"))
    by_name = {p.name: p for p in sub.files}
    placed = []
    for rel in released:
        theirs = by_name.get(rel.name) or (sub.files[0] if len(sub.files) == 1 and len(released) == 1 else None)
        if theirs is None:
            sub.notes.append(f"{rel.name} was not submitted")
            continue
        nb, notes = nbplugins.reconcile(nbformat.read(rel, as_version=4), nbformat.read(theirs, as_version=4))
        sub.notes += notes
        nbformat.write(nb, dest / rel.name)
        placed.append(dest / rel.name)
    stamp = sub.files[0].parent / "timestamp.txt"  # from nbgrader collect: keeps late penalties right
    if stamp.is_file() and stamp.parent.name == sub.assignment:
        shutil.copy2(stamp, dest / stamp.name)
    return placed


def check_one(sub: Submission, course: Path, timeout: float, checker: CheckerWorker) -> None:
    """Place one submission and let the checker write its verdicts (sub.error on failure)."""
    for path in _place(sub, course):
        out = nbplugins.verdicts_path(course / VERDICTS, sub.student, sub.assignment, path.stem)
        out.parent.mkdir(parents=True, exist_ok=True)
        source = course / "source" / sub.assignment / path.name
        result = checker.check({"source": str(source), "submitted": str(path), "assignment": sub.assignment,
                                "out": str(out), "timeout": timeout})
        for key in ("cpu", "wall"):
            sub.timing[key] = sub.timing.get(key, 0.0) + float(result.get(key, 0.0))
        if not result.get("ok"):
            sub.error = f"the checker could not grade it: {result.get('error')}"
            return
        sub.notes += json.loads(out.read_text()).get("notes", [])


def autograde_chunk(chunk: list[Submission], course: Path, timeout: float, checker: CheckerWorker) -> None:
    """Check several students of one assignment, then record them with one nbgrader autograde."""
    shutil.rmtree(course / "submitted", ignore_errors=True)  # only this chunk is in submitted/
    shutil.rmtree(course / VERDICTS, ignore_errors=True)
    for sub in chunk:
        check_one(sub, course, timeout, checker)
    ready = [s for s in chunk if not s.error]
    for sub in chunk:
        if sub.error:
            shutil.rmtree(course / "submitted" / sub.student, ignore_errors=True)
    if not ready:
        return
    t0 = time.perf_counter()
    proc = nbgrader(["autograde", ready[0].assignment, "--force", *nbplugins.autograde_args(course / VERDICTS)],
                    course, 120 + 30 * len(ready))
    for sub in ready:
        sub.timing["nbgrader"] = (time.perf_counter() - t0) / len(ready)
        if not _executed(course / "autograded" / sub.student / sub.assignment):
            sub.error = f"nbgrader could not record the grades: {last_error_line(proc.stdout + proc.stderr)}"


def _executed(folder: Path) -> bool:
    """True when nbgrader finished this folder (a killed run leaves unexecuted notebooks behind)."""
    notebooks = list(folder.glob("*.ipynb"))
    try:
        return bool(notebooks) and all(
            any(c.get("execution_count") for c in nbformat.read(p, as_version=4).cells) for p in notebooks)
    except Exception:
        return False


def chunks(subs: list[Submission], workers: int, most: int = 8) -> list[list[Submission]]:
    """Split submissions into one-assignment chunks, small enough to keep every worker busy."""
    out = []
    for a in sorted({s.assignment for s in subs}):
        group = [s for s in subs if s.assignment == a]
        # one nbgrader start-up per chunk: as few chunks as keep every worker busy
        size = max(1, min(most, -(-len(group) // (workers if workers == 1 else 2 * workers))))
        out += [group[i:i + size] for i in range(0, len(group), size)]
    return out


def hide_checks(nb_path: Path) -> str:
    """Remove hidden test code from an autograded notebook (sources and tracebacks); return the original."""
    original = nb_path.read_text()
    nb_path.chmod(0o644)  # nbgrader leaves autograded notebooks read-only
    nbformat.write(nbplugins.redact(nbformat.reads(original, as_version=4)), nb_path)
    return original


def feedback(course: Path, assignment: str, students: list[str], out: Path) -> dict[str, str]:
    """Generate feedback HTML without hidden code; copy it to out/feedback; return problems by student."""
    saved = {}
    for student in students:
        for nb_path in (course / "autograded" / student / assignment).glob("*.ipynb"):
            saved[nb_path] = hide_checks(nb_path)
    problems = {}
    proc = nbgrader(["generate_feedback", assignment, "--force"], course)
    for nb_path, text in saved.items():
        nb_path.write_text(text)  # formgrader keeps showing what nbgrader really ran
    for student in students:
        src = course / "feedback" / student / assignment
        htmls = list(src.glob("*.html"))
        if not htmls:
            problems[student] = f"no feedback generated: {last_error_line(proc.stdout + proc.stderr)}"
            continue
        dest = out / "feedback" / student / assignment
        dest.mkdir(parents=True, exist_ok=True)
        for html in htmls:
            text = html.read_text()
            for marker in SECRET_MARKERS:
                text = text.replace(marker, "hidden")  # belt and braces: never ship a marker
            (dest / html.name).write_text(text)
    return problems


# ---------------------------------------------------------------- the batch

def grade(course: Path, subs: list[Submission], out: Path, workers: int, timeout: float,
          scratch: Path, progress: bool = True, one_by_one: bool = False, isolate: bool = True,
          memory_mib: int | None = None) -> Path:
    """Grade every submission in parallel workers; write the outputs; return the master copy."""
    from tqdm.auto import tqdm

    use_venv_tools()
    todo = [s for s in subs if not s.error]
    for s in todo:
        s.error = precheck(s)
    todo = [s for s in todo if not s.error]
    workers = max(1, min(workers, len(todo)))
    # The checkers import torch and warm their sandboxes while nbgrader generates the assignments.
    checkers = [CheckerWorker(course, isolate, memory_mib) for _ in range(workers if todo else 0)]
    for checker in checkers:
        checker.proc = checker._start()
    try:
        master = copy_course(course, scratch / "master")
        for a in sorted({s.assignment for s in subs if s.assignment}):
            generate(master, a)
    except BaseException:
        for checker in checkers:
            checker.close()
        raise
    jobs: queue.Queue = queue.Queue()
    for chunk in chunks(todo, workers, most=1 if one_by_one else 16):
        jobs.put(chunk)
    lock = threading.Lock()
    bar = tqdm(total=len(subs), desc="grading", unit="submission", disable=not progress)
    bar.update(len(subs) - len(todo))
    out.mkdir(parents=True, exist_ok=True)
    feedback_problems: dict[str, str] = {}

    def work(i: int) -> None:
        copy = copy_course(master, scratch / f"worker{i}", keep_gradebook=True)
        done: dict[str, list[str]] = {}
        checker = checkers[i]
        while True:
            try:
                chunk = jobs.get_nowait()
            except queue.Empty:
                break
            try:
                autograde_chunk(chunk, copy, timeout, checker)
            except Exception as exc:  # never let one submission stop the batch
                for s in chunk:
                    s.error = s.error or f"{type(exc).__name__}: {exc}"
            graded = [s for s in chunk if not s.error]
            with lock:  # the master gradebook is SQLite: one writer at a time
                try:
                    if graded:
                        merge_submissions(copy, master, graded[0].assignment, [s.student for s in graded])
                except Exception:  # find who cannot be recorded, one by one
                    for s in graded:
                        try:
                            merge_submission(copy, master, s.assignment, s.student)
                        except Exception as exc:
                            s.error = f"could not record the grades: {type(exc).__name__}: {exc}"
                for s in graded:
                    if s.error:
                        continue
                    for folder in ("submitted", "autograded"):
                        shutil.copytree(copy / folder / s.student / s.assignment,
                                        master / folder / s.student / s.assignment, dirs_exist_ok=True)
                    done.setdefault(s.assignment, []).append(s.student)
            with lock:
                bar.update(len(chunk))
        checker.close()
        for a, students in done.items():
            try:
                problems = feedback(copy, a, students, out)
            except Exception as exc:  # grades are safe already; report the missing feedback
                problems = {st: f"feedback failed: {type(exc).__name__}: {exc}" for st in students}
            with lock:
                feedback_problems.update({f"{st}/{a}": p for st, p in problems.items()})

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bar.close()
    write_outputs(master, subs, out, feedback_problems)
    return master


def write_outputs(master: Path, subs: list[Submission], out: Path, fb_problems: dict[str, str]) -> None:
    """grades.csv (nbgrader export), cells.csv, gradebook.db, autograded/, summary.txt."""
    from nbgrader.api import Gradebook

    with Gradebook(_url(master)) as gb:  # failed students still get a (zero) row in the export
        for s in subs:
            gb.update_or_create_student(s.student)
    proc = nbgrader(["export", "--to", str(out / "grades.csv")], master)
    if proc.returncode != 0:
        raise GradingError(f"nbgrader export failed: {last_error_line(proc.stdout + proc.stderr)}")
    # nbgrader exports every student x every assignment: keep the pairs that were submitted
    pairs = {(s.student, s.assignment) for s in subs}
    with open(out / "grades.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
        fields = list(rows[0].keys()) if rows else []
    with open(out / "grades.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields or ["assignment", "student_id", "score"])
        writer.writeheader()
        kept = [r for r in rows if (r["student_id"], r["assignment"]) in pairs]
        writer.writerows(sorted(kept, key=lambda r: (r["assignment"], r["student_id"])))
    with open(out / "cells.csv", "w", newline="") as fh, Gradebook(_url(master)) as gb:
        writer = csv.DictWriter(fh, fieldnames=CELL_COLUMNS)
        writer.writeheader()
        for s in subs:
            writer.writerows(cell_rows(master, s, gb))
    shutil.copy2(master / "gradebook.db", out / "gradebook.db")
    if (master / "autograded").is_dir():
        shutil.copytree(master / "autograded", out / "autograded", dirs_exist_ok=True)
    (out / "summary.txt").write_text(summary(master, subs, fb_problems))


def summary(master: Path, subs: list[Submission], fb_problems: dict[str, str]) -> str:
    """The text printed at the end: graded, failed (with reasons), mean score per assignment."""
    from nbgrader.api import Gradebook

    ok = [s for s in subs if not s.error]
    with Gradebook(_url(master)) as gb:
        body = summary_lines(gb, subs, fb_problems)
    return "\n".join([f"graded {len(ok)} of {plural(len(subs), 'submission')}", *body]) + "\n"


def summary_lines(gb: Any, subs: list[Submission], fb_problems: dict[str, str]) -> list[str]:
    """The summary after its first line: mean score per assignment, notes, failures with reasons."""
    ok = [s for s in subs if not s.error]
    lines = []
    for a in sorted({s.assignment for s in ok}):
        scores = [gb.find_submission(a, s.student) for s in ok if s.assignment == a]
        mean = sum(x.score for x in scores) / len(scores)
        lines.append(f"  {a}: {len(scores)} graded, mean score {mean:.2f} / {scores[0].max_score:g} "
                     "(free-response answers still need manual grading in formgrader)")
    for s in ok:
        lines += [f"  note for {s.student} ({s.assignment}): {n}" for n in dict.fromkeys(s.notes)]
    failed = [s for s in subs if s.error]
    if failed:
        lines.append(f"FAILED: {len(failed)} submission(s) could not be graded:")
        lines += [f"  {s.student} ({s.assignment or '?'}, {s.source}): {s.error}" for s in failed]
    lines += [f"  feedback for {who}: {problem}" for who, problem in fb_problems.items()]
    return lines


def into_course(master: Path, course: Path, subs: list[Submission]) -> None:
    """Merge the graded submissions into the real course root (gradebook + folders) for formgrader."""
    for a in sorted({s.assignment for s in subs if not s.error}):
        generate(course, a)  # makes sure the real gradebook knows the assignment
    for s in subs:
        if s.error:
            continue
        merge_submission(master, course, s.assignment, s.student)
        for folder in ("submitted", "autograded"):
            shutil.copytree(master / folder / s.student / s.assignment,
                            course / folder / s.student / s.assignment, dirs_exist_ok=True)


def ungraded_manual_cells(course: Path, assignment: str) -> list[str]:
    """'student: cell' for every answer formgrader still flags "needs manual grade" in the course."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(_url(course)) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:  # nothing graded yet: the caller says so
            return []
        return sorted(f"{sub.student.id}: {grade.name}" for sub in gb.assignment_submissions(assignment)
                      for nb in sub.notebooks for grade in nb.grades if grade.needs_manual_grade)


def feedback_from_course(course: Path, assignment: str, out: Path, scratch: Path,
                         allow_ungraded: bool = False) -> list[str]:
    """Clean feedback from the course's own gradebook (after manual grading); return the students."""
    use_venv_tools()
    copy = scratch / "feedback-course"
    shutil.copytree(course, copy, ignore=shutil.ignore_patterns("submitted", "feedback", "__pycache__"))
    pending = ungraded_manual_cells(copy, assignment)  # read from the copy: the course's gradebook stays as is
    if pending and not allow_ungraded:  # the HTML would show those answers as 0 points to the student
        raise GradingError(f"{len(pending)} answer(s) not graded by hand yet ({', '.join(pending[:5])}"
                           f"{', ...' if len(pending) > 5 else ''}): grade them in formgrader first, or pass "
                           "--allow-ungraded to write feedback that shows them as 0")
    folder = copy / "autograded"
    students = sorted(d.name for d in folder.iterdir() if (d / assignment).is_dir()) if folder.is_dir() else []
    if not students:
        raise GradingError(f"no autograded {assignment} submissions in {course / 'autograded'}; "
                           "grade them first (freezelab grade ... --into-course)")
    problems = feedback(copy, assignment, students, out)
    for who, problem in problems.items():
        print(f"feedback for {who}: {problem}")
    return [s for s in students if s not in problems]


NO_SANDBOX_WARNING = """\
WARNING: --no-sandbox: students' code runs WITHOUT isolation, as your own user.
  The verdicts still come from the separate checker process (a submission cannot edit its score),
  but a hostile submission can read the solutions, the hidden checks and other students' work,
  write to the gradebook and to any file you can write, reach the network, leave processes behind
  and use all memory. Grade untrusted work only with isolation (see `freezelab doctor`)."""


def require_isolation(no_sandbox: bool) -> bool:
    """True to grade in the sandbox; refuse without isolation unless --no-sandbox (then warn loudly)."""
    if no_sandbox:
        print(NO_SANDBOX_WARNING, file=sys.stderr)
        return False
    from .sandbox import isolation_available

    ok, why = isolation_available()
    if not ok:
        raise GradingError(f"cannot isolate students' code: {why}. Fix that, or pass --no-sandbox "
                           "to grade without isolation (it says what you give up)")
    return True


OUT_MARKER = ".freezelab-grade"  # in --out: the folder holds results of freezelab grade (safe to rewrite)


def prepare_out(out: Path, course: Path) -> None:
    """Refuse an --out whose files grading would overwrite without having written them; mark it ours."""
    course = course.resolve()
    if out == course or course in out.parents:
        raise GradingError(f"--out {out} is inside the course {course}: grading would overwrite its gradebook "
                           "and folders; choose a folder outside the course")
    if out.exists() and not out.is_dir():
        raise GradingError(f"--out {out} is a file: choose a new or empty folder")
    if out.is_dir() and any(out.iterdir()) and not (out / OUT_MARKER).is_file():
        raise GradingError(f"--out {out} is not empty and holds no earlier results of freezelab grade: "
                           "choose a new or empty folder (nothing was written)")
    out.mkdir(parents=True, exist_ok=True)
    (out / OUT_MARKER).write_text("results of `freezelab grade`: a later run may rewrite this folder\n")


def main(argv: list[str]) -> int:
    """Entry point of `freezelab grade`."""
    parser = argparse.ArgumentParser(prog="freezelab grade", description=__doc__.splitlines()[0])
    parser.add_argument("submissions", nargs="?", help="a submitted/ tree, or a folder or .zip of notebooks")
    parser.add_argument("--assignment", help="grade only this assignment (or: which one <student>.ipynb is)")
    parser.add_argument("--course", help="nbgrader course root (default: ./autograder or the current "
                                         "folder if it is one, else the repo's autograder/)")
    parser.add_argument("--out", default="grading_out", help="where the results go (default grading_out/)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="parallel graders (default: CPU count)")
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds allowed per submission (one answer gets at most a third of it)")
    parser.add_argument("--memory", type=int, metavar="MIB", default=None,
                        help="memory allowed per submission, all its processes together where a cgroup can be "
                             "made (default 3072)")
    parser.add_argument("--one-by-one", action="store_true",
                        help="one nbgrader process per student (slower; default batches a few)")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run students' code without isolation (only where bubblewrap cannot work; "
                             "see the warning it prints)")
    parser.add_argument("--into-course", action="store_true",
                        help="also merge the results into the course's gradebook (for formgrader)")
    parser.add_argument("--feedback-only", action="store_true",
                        help="only write clean feedback for --assignment from the course's gradebook "
                             "(after manual grading in formgrader)")
    parser.add_argument("--allow-ungraded", action="store_true",
                        help="with --feedback-only: write feedback even where an answer awaits manual grading")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                        help="grade on this Dask cluster (see docs/instructor.md); results are resumable")
    parser.add_argument("--db-url", default=paths.db_url(),
                        help="record into this gradebook, e.g. postgresql://user@host/db, and skip what it "
                             "already holds unchanged (default: $FREEZELAB_DB_URL; else SQLite as usual)")
    parser.add_argument("--regrade", action="store_true",
                        help="with --scheduler/--db-url: grade again even what is recorded unchanged")
    args = parser.parse_args(argv)
    if args.memory is not None and args.memory < MIN_MEMORY_MIB:
        parser.error(f"--memory {args.memory} is too little for a Python with torch: "
                     f"give at least {MIN_MEMORY_MIB} (MiB)")
    try:
        course = find_course(args.course)
        print(f"course: {course}")
        out = Path(args.out).resolve()
        if args.assignment and args.assignment not in list_assignments(course):
            raise GradingError(f"unknown assignment {args.assignment!r}; the course has: "
                               f"{', '.join(list_assignments(course))}")
        if args.feedback_only:
            if not args.assignment:
                raise GradingError("--feedback-only needs --assignment A")
            prepare_out(out, course)
            with tempfile.TemporaryDirectory(prefix="freezelab-feedback-") as tmp:
                done = feedback_from_course(course, args.assignment, out, Path(tmp), args.allow_ungraded)
            print(f"clean feedback for {len(done)} student(s) in {out / 'feedback'}")
            return 0
        if not args.submissions:
            raise GradingError("give the SUBMISSIONS folder or zip (or --feedback-only)")
        prepare_out(out, course)  # bad --out first: before any warning or work
        isolate = require_isolation(args.no_sandbox)
        with tempfile.TemporaryDirectory(prefix="freezelab-grade-") as tmp:
            skipped: list[str] = []
            subs = collect(Path(args.submissions), course, args.assignment, Path(tmp), skipped)
            if skipped:
                print(f"left out, not {args.assignment}: {', '.join(skipped)}")
            if not subs:
                raise GradingError(f"no submissions found in {args.submissions} "
                                   "(expected <student>/<assignment>/*.ipynb or *.ipynb files)")
            t0 = time.perf_counter()
            if args.scheduler or args.db_url:  # the resumable path: cluster.py, ledger.py (issue 13)
                from . import cluster

                cluster.grade_distributed(course, subs, out, Path(tmp), db_url=args.db_url,
                                          scheduler=args.scheduler, workers=args.workers, timeout=args.timeout,
                                          isolate=isolate, regrade=args.regrade, into_course=args.into_course,
                                          progress=not args.no_progress, memory_mib=args.memory,
                                          batch=1 if args.one_by_one else cluster.BATCH)
            else:
                master = grade(course, subs, out, args.workers, args.timeout, Path(tmp),
                               progress=not args.no_progress, one_by_one=args.one_by_one, isolate=isolate,
                               memory_mib=args.memory)
                if args.into_course:
                    into_course(master, course, subs)
            elapsed = time.perf_counter() - t0
    except GradingError as exc:
        print(f"freezelab grade: {exc}", file=sys.stderr)
        return 2
    print((out / "summary.txt").read_text(), end="")
    print(f"{plural(len(subs), 'submission')} in {elapsed:.1f} s with {args.workers} worker(s); "
          f"results in {out} (grades.csv, cells.csv, feedback/)")
    return 1 if any(s.error for s in subs) else 0
