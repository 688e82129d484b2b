"""Grade a class on a pool of local threads or on a Dask cluster, resumable, every grade recorded once.

The coordinator (the `freezelab grade` process) hashes every submission, skips those the ledger already
holds with the same hash, and sends the rest in small one-assignment batches to `grade_batch`: on a Dask
cluster (`--scheduler tcp://HOST:PORT`, any cluster a `distributed.Client` reaches: Dask Gateway,
dask-jobqueue, dask-kubernetes) or on local threads. A batch carries the course (a zip of its root) and
the submitted files as bytes, so workers need no shared file system; each worker keeps a warm copy of the
course and one trusted checker. Workers return plain data (scores, comments, notebooks, feedback HTML);
only the coordinator writes the gradebook, one transaction per submission (`ledger.Ledger.record`).
A batch whose worker dies is run again elsewhere by Dask; its result is recorded when it first arrives.
"""

from __future__ import annotations

import atexit
import csv
import hashlib
import io
import os
import shutil
import tempfile
import threading
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..paths import DB_URL_ENV
from . import grade as G
from .course import WORK_DIRS, WORK_FILES, GradingError, generate, last_error_line, nbgrader, plural
from .ledger import Ledger, engine_url, files_digest, path_digest

BATCH = 4  # submissions per task: amortises one nbgrader run, small enough to balance and to lose little


# ---------------------------------------------------------------- worker side

def pack_course(course: Path) -> bytes:
    """The course root as a zip (nbgrader's working folders and gradebook left out)."""
    skip = set(WORK_DIRS) | set(WORK_FILES) | {"__pycache__", ".ipynb_checkpoints"}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(course.rglob("*")):
            rel = path.relative_to(course)
            if path.is_file() and not skip & set(rel.parts):
                zf.write(path, rel.as_posix())
    return buf.getvalue()


@dataclass
class _Slot:
    """One worker thread's warm state: a private course copy (per course digest) and its checker."""

    root: Path
    isolate: bool
    generated: set[str] = field(default_factory=set)
    checker: G.CheckerWorker | None = None

    @property
    def course(self) -> Path:
        return self.root / "course"

    def close(self) -> None:
        if self.checker is not None:
            self.checker.close()
        shutil.rmtree(self.root, ignore_errors=True)


_slots: dict[tuple[str, bool, int], _Slot] = {}
_slots_lock = threading.Lock()


def close_slots() -> None:
    """Stop every warm checker this process started and remove the course copies."""
    with _slots_lock:
        slots = list(_slots.values())
        _slots.clear()
    for slot in slots:
        slot.close()


atexit.register(close_slots)


def _scratch_base() -> str | None:
    """On a Dask worker its own local directory (which Dask removes when the worker stops), else $TMPDIR."""
    try:
        from distributed import get_worker

        return get_worker().local_directory
    except (ImportError, ValueError):  # not inside a Dask worker
        return None


def _slot(course_zip: bytes, digest: str, isolate: bool, memory_mib: int | None = None) -> _Slot:
    key = (digest, isolate, memory_mib, threading.get_ident())
    with _slots_lock:
        slot = _slots.get(key)
    if slot is None:
        slot = _Slot(Path(tempfile.mkdtemp(prefix="freezelab-worker-", dir=_scratch_base())), isolate)
        with zipfile.ZipFile(io.BytesIO(course_zip)) as zf:
            zf.extractall(slot.course)
        slot.checker = G.CheckerWorker(slot.course, isolate, memory_mib)
        with _slots_lock:
            _slots[key] = slot
    return slot


def _read_grades(course: Path, student: str, assignment: str) -> dict:
    """The scores and comments nbgrader recorded for one student in a worker's own gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(G._url(course)) as gb:
        sub = gb.find_submission(assignment, student)
        grades = [dict(notebook=nb.name, name=g.name, auto_score=g.auto_score,
                       needs_manual_grade=bool(g.needs_manual_grade))
                  for nb in sub.notebooks for g in nb.grades]
        comments = [dict(notebook=nb.name, name=c.name, auto_comment=c.auto_comment)
                    for nb in sub.notebooks for c in nb.comments]
        stamp = sub.timestamp.isoformat() if sub.timestamp else None
    return dict(grades=grades, comments=comments, timestamp=stamp)


def _files_of(folder: Path, prefix: str, pattern: str) -> dict[str, bytes]:
    return {f"{prefix}/{p.name}": p.read_bytes() for p in sorted(folder.glob(pattern))}


def grade_batch(course_zip: bytes, digest: str, jobs: list[dict], timeout: float, isolate: bool,
                memory_mib: int | None = None) -> list[dict]:
    """Worker side: grade one assignment's jobs in this worker's course copy; one plain result per job.

    A job is {student, assignment, sha256, files: {name: bytes}, stamp: bytes | None}. A result is the job's
    key plus either `error` or the recorded grades, comments, notes, timing and the files to keep
    (autograded/, submitted/ notebooks and feedback/ HTML). Nothing here touches the shared gradebook.
    """
    os.environ.pop(DB_URL_ENV, None)  # nbgrader here must use the copy's own gradebook, never the shared one
    G.use_venv_tools()
    slot = _slot(course_zip, digest, isolate, memory_mib)
    assignment = jobs[0]["assignment"]
    if assignment not in slot.generated:
        generate(slot.course, assignment)
        slot.generated.add(assignment)
    for name in ("autograded", "feedback", "incoming", "out"):
        shutil.rmtree(slot.course / name, ignore_errors=True)
    subs = []
    for job in jobs:
        folder = slot.course / "incoming" / job["student"] / assignment
        folder.mkdir(parents=True)
        for name, data in job["files"].items():
            (folder / name).write_bytes(data)
        if job.get("stamp") is not None:
            (folder / "timestamp.txt").write_bytes(job["stamp"])
        subs.append(G.Submission(job["student"], assignment, sorted(folder.glob("*.ipynb")), job["student"]))
    try:
        G.autograde_chunk(subs, slot.course, timeout, slot.checker)
    except Exception as exc:  # one broken batch reports its students; the worker lives on
        for s in subs:
            s.error = s.error or f"{type(exc).__name__}: {exc}"
    ready = [s.student for s in subs if not s.error]
    problems: dict[str, str] = {}
    if ready:
        try:
            problems = G.feedback(slot.course, assignment, ready, slot.course / "out")
        except Exception as exc:  # grades are still good: report the missing feedback
            problems = {s: f"feedback failed: {type(exc).__name__}: {exc}" for s in ready}
    results = []
    for job, s in zip(jobs, subs, strict=True):
        res = dict(student=s.student, assignment=assignment, sha256=job["sha256"], error=s.error,
                   notes=list(dict.fromkeys(s.notes)), timing=s.timing, feedback_problem=problems.get(s.student))
        if not s.error:
            try:
                res.update(_read_grades(slot.course, s.student, assignment))
                res["files"] = {
                    **_files_of(slot.course / "submitted" / s.student / assignment, "submitted", "*.ipynb"),
                    **_files_of(slot.course / "autograded" / s.student / assignment, "autograded", "*.ipynb"),
                    **_files_of(slot.course / "out" / "feedback" / s.student / assignment, "feedback", "*.html"),
                }
            except Exception as exc:
                res["error"] = f"could not read the recorded grades: {type(exc).__name__}: {exc}"
        results.append(res)
    return results


# ---------------------------------------------------------------- coordinator side

def _job(sub: G.Submission) -> dict:
    files = {p.name: p.read_bytes() for p in sub.files}
    stamp = sub.files[0].parent / "timestamp.txt"  # from nbgrader collect: keeps late penalties right
    return dict(student=sub.student, assignment=sub.assignment, files=files, sha256=files_digest(files),
                stamp=stamp.read_bytes() if stamp.is_file() and stamp.parent.name == sub.assignment else None)


def prepare_gradebook(course: Path, db_url: str, assignments: list[str], scratch: Path) -> str:
    """Make the target gradebook know every assignment (nbgrader generate_assignment); return the course id."""
    import sqlalchemy as sa

    master = G.copy_course(course, scratch / "master")
    url = engine_url(db_url)
    for a in assignments:
        proc = nbgrader(["generate_assignment", a, "--force", f"--CourseDirectory.db_url={url}"], master)
        if proc.returncode != 0:
            raise GradingError(f"cannot set up {a} in the gradebook {redact_url(db_url)}: "
                               f"{last_error_line(proc.stdout + proc.stderr)}")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT course_id FROM assignment WHERE name = :a"),
                                {"a": assignments[0]}).scalar() or "default_course"
    finally:
        engine.dispose()


def redact_url(url: str) -> str:
    """A database URL without its password, fit to print."""
    import sqlalchemy as sa

    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


_clients: dict[str, object] = {}  # scheduler address -> a Client the caller made (Dask Gateway: TLS, auth)


def main_with_client(client, argv: list[str]) -> int:
    """`freezelab grade ARGV` on the cluster of an existing `distributed.Client` (e.g. Dask Gateway's)."""
    address = client.scheduler.address
    _clients[address] = client
    try:
        return G.main([*argv, "--scheduler", address])
    finally:
        _clients.pop(address, None)


class _Pool:
    """Where batches run: a Dask cluster (`scheduler` given) or `workers` local threads."""

    def __init__(self, scheduler: str | None, workers: int) -> None:
        self.client, self.own_client = None, False
        if scheduler in _clients:
            self.client = _clients[scheduler]
            self.size = max(1, sum(self.client.nthreads().values()))
        elif scheduler:
            from distributed import Client

            self.own_client = True
            try:
                self.client = Client(scheduler, timeout=30)
            except OSError as exc:
                raise GradingError(f"cannot reach the Dask scheduler at {scheduler}: {exc}; start it "
                                   "(dask scheduler) or fix --scheduler") from None
            self.size = max(1, sum(self.client.nthreads().values()))
        else:
            self.size = max(1, workers)
            self.threads = ThreadPoolExecutor(self.size, thread_name_prefix="grader")

    def submit(self, course, digest: str, batch: list[dict], timeout: float, isolate: bool,
               memory_mib: int | None = None):
        """Start one batch. The course zip (a few hundred kB) travels with each task rather than being
        scattered once: a scattered copy dies with the workers that hold it, and its tasks with it."""
        if self.client is not None:
            key = f"grade-{batch[0]['assignment']}-{batch[0]['student']}-{digest[:8]}-{uuid.uuid4().hex[:8]}"
            return self.client.submit(grade_batch, course, digest, batch, timeout, isolate, memory_mib, pure=False,
                                      key=key)
        return self.threads.submit(grade_batch, course, digest, batch, timeout, isolate, memory_mib)

    def first_done(self, futures) -> set:
        """Block until at least one of `futures` is finished (or cancelled); return those."""
        if self.client is None:
            from concurrent.futures import wait

            return set(wait(list(futures), return_when="FIRST_COMPLETED").done)
        from distributed import wait

        try:
            return set(wait(list(futures), return_when="FIRST_COMPLETED").done)
        except Exception:  # some were cancelled by the cluster: their result() says why
            return {f for f in futures if f.done()}

    def close(self) -> None:
        if self.client is not None:
            if self.own_client:
                self.client.close()
        else:
            self.threads.shutdown(wait=True)
            close_slots()


def _keep_files(result: dict, out: Path, course: Path | None) -> None:
    """Autograded notebooks and feedback under --out (and the course root with --into-course)."""
    s, a = result["student"], result["assignment"]
    for rel, data in result.get("files", {}).items():
        kind, name = rel.split("/", 1)
        targets = [out / kind / s / a] if kind != "submitted" else []
        if course is not None and kind in ("submitted", "autograded"):
            targets.append(course / kind / s / a)
        for folder in targets:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)


def _cell_rows(ledger: Ledger, sub: G.Submission, max_scores: dict) -> list[dict]:
    """cells.csv rows of one submission from the shared gradebook (every cell 'failed' when it failed)."""
    base = dict(student_id=sub.student, assignment=sub.assignment or "")
    if sub.error:
        cells = max_scores.get(sub.assignment) or [("", "", 0)]
        return [dict(base, notebook=nb, cell=c, score=0, max_score=m, status="failed") for nb, c, m in cells]
    rows = []
    for nb in ledger.gb.find_submission(sub.assignment, sub.student).notebooks:
        for g in nb.grades:
            status = ("needs_manual_grade" if g.needs_manual_grade else
                      "manually_graded" if g.manual_score is not None else "autograded")
            rows.append(dict(base, notebook=nb.name, cell=g.name, score=g.score, max_score=g.max_score,
                             status=status))
    return rows


def write_outputs(ledger: Ledger, subs: list[G.Submission], out: Path, skipped: int,
                  fb_problems: dict[str, str]) -> None:
    """grades.csv (nbgrader's CSV export, submitted pairs only), cells.csv and summary.txt."""
    from nbgrader.plugins import CsvExportPlugin

    gb = ledger.gb
    for s in subs:  # failed students still get a (zero) row in the export
        gb.update_or_create_student(s.student)
    assignments = sorted({s.assignment for s in subs if s.assignment})
    max_scores = {a: [(nb.name, c.name, c.max_score) for nb in gb.find_assignment(a).notebooks
                      for c in nb.grade_cells] for a in assignments}
    CsvExportPlugin(to=str(out / "grades.csv"), assignment=assignments,
                    student=sorted({s.student for s in subs})).export(gb)
    pairs = {(s.student, s.assignment) for s in subs}
    with open(out / "grades.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if (r["student_id"], r["assignment"]) in pairs]
    with open(out / "grades.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["assignment", "student_id", "score"])
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: (r["assignment"], r["student_id"])))
    with open(out / "cells.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=G.CELL_COLUMNS)
        writer.writeheader()
        for s in subs:
            writer.writerows(_cell_rows(ledger, s, max_scores))
    ok = [s for s in subs if not s.error]
    lines = [f"graded {len(ok)} of {plural(len(subs), 'submission')} ({skipped} unchanged since they were "
             "graded, not graded again; --regrade forces)", *G.summary_lines(gb, subs, fb_problems)]
    (out / "summary.txt").write_text("\n".join(lines) + "\n")


def _take(res: dict, sub: G.Submission, ledger: Ledger, out: Path, course: Path | None,
          fb_problems: dict[str, str]) -> None:
    """Record one worker result: files first, then grades + ledger row in one transaction (so a kill
    in between only means grading it again)."""
    sub.timing.update(res.get("timing") or {})
    sub.notes += res.get("notes") or []
    if res.get("error"):
        sub.error = res["error"]
        return
    _keep_files(res, out, course)
    ledger.record(res)
    if res.get("feedback_problem"):
        fb_problems[f"{sub.student}/{sub.assignment}"] = res["feedback_problem"]


def grade_distributed(course: Path, subs: list[G.Submission], out: Path, scratch: Path, *,
                      db_url: str | None = None, scheduler: str | None = None, workers: int = 1,
                      timeout: float = 600, isolate: bool = True, regrade: bool = False,
                      into_course: bool = False, progress: bool = True, batch: int = BATCH,
                      memory_mib: int | None = None) -> str:
    """Grade `subs` through the ledger at `db_url` (default: --out's gradebook.db); return that URL."""
    from tqdm.auto import tqdm

    os.environ.pop(DB_URL_ENV, None)  # local graders use their own copies; the coordinator passes the URL
    out.mkdir(parents=True, exist_ok=True)
    db_url = db_url or (G._url(course) if into_course else f"sqlite:///{out / 'gradebook.db'}")
    for s in subs:
        s.error = s.error or G.precheck(s)
    todo = [s for s in subs if not s.error]
    assignments = sorted({s.assignment for s in todo})
    course_id = prepare_gradebook(course, db_url, assignments, scratch) if assignments else "default_course"
    ledger = Ledger(db_url, course_id)
    try:
        digests = {(s.student, s.assignment): path_digest(s.files) for s in todo}
        known = ledger.hashes()
        fresh = [s for s in todo
                 if regrade or known.get((s.student, s.assignment)) != digests[s.student, s.assignment]]
        for s in todo:
            if s not in fresh:
                s.notes += ledger.notes(s.student, s.assignment)
        pool = _Pool(scheduler, workers)
        fb_problems: dict[str, str] = {}
        bar = tqdm(total=len(subs), initial=len(subs) - len(fresh), desc="grading", unit="submission",
                   disable=not progress)
        try:
            course_zip = pack_course(course)
            digest = hashlib.sha256(course_zip).hexdigest()
            waiting = iter(G.chunks(fresh, pool.size, most=max(1, batch)))
            running: dict = {}  # future -> its submissions; a few per worker, so memory stays flat
            by_key = {(s.student, s.assignment): s for s in fresh}
            while True:
                while len(running) < 3 * pool.size and (chunk := next(waiting, None)):
                    running[pool.submit(course_zip, digest, [_job(s) for s in chunk], timeout, isolate,
                                        memory_mib)] = chunk
                if not running:
                    break
                for fut in pool.first_done(running):
                    chunk = running.pop(fut)
                    try:
                        results = fut.result()
                    except Exception as exc:  # the cluster gave up on this batch (or cancelled it)
                        results = [dict(student=s.student, assignment=s.assignment,
                                        error=f"the cluster could not run it: {type(exc).__name__}: {exc}")
                                   for s in chunk]
                    for res in results:
                        _take(res, by_key[res["student"], res["assignment"]], ledger, out,
                              course if into_course else None, fb_problems)
                    bar.update(len(results))
        finally:
            bar.close()
            pool.close()
        write_outputs(ledger, subs, out, len(todo) - len(fresh), fb_problems)
    finally:
        ledger.close()
    return db_url

