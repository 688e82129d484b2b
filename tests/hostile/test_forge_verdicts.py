"""The whole hostile catalogue (tests/hostile/hostile_cases.py) graded in ONE `freezelab grade` batch with honest students.

For every hostile submission: the batch completes; it earns no more than the honest student it is built on
(exactly as much where its trick may cost nothing else); the honest students' grades equal their grades graded
alone; nothing outside its scratch folder changes (the course, every submission, the --out folder and the
test's own folder are checked); no process outlives grading (the test process is the subreaper of the whole
batch, so even a daemon in a new session would come back to it); no line of the hidden checks appears in any
output file; and the grader says what happened to it. The per-submission --timeout is short (one answer gets a
third of it), so every loop is cut within seconds.
"""

from __future__ import annotations

import csv
import ctypes
import hashlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import nbformat
import pytest
from _course import copy_course
from _procs import host_cmdlines
from hostile_cases import CASES, FIRST, HONEST, KINDS

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow]

A = "a1_freezing_basics"
TIMEOUT_S = 36  # per submission: one answer (cell or call) may take 12 s of it
MARK = b"PW" + b"NED"  # what every hostile write writes
PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(None, use_errno=True)


def student(case_name: str) -> str:
    return f"x_{case_name}"


def _tree_hash(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def _children(pid: int, keep: set[int] = frozenset()) -> set[int]:
    """Live children of `pid`; zombies that are not in `keep` are reaped on the way (they are gone already)."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()
            if not entry.name.isdigit() or int(fields[1]) != pid:
                continue
        except (OSError, ValueError, IndexError):
            continue
        child = int(entry.name)
        if fields[0] == b"Z" and child not in keep:
            try:
                os.waitpid(child, os.WNOHANG)
            except ChildProcessError:
                pass
            continue
        found.add(child)
    return found


def _grade(lms: Path, course: Path, out: Path) -> tuple[subprocess.CompletedProcess, float]:
    cmd = [sys.executable, "-m", "freezelab.cli", "grade", str(lms), "--course", str(course), "--out", str(out),
           "--no-progress", "--assignment", A, "--timeout", str(TIMEOUT_S), "--workers", "2"]
    env = dict(os.environ, FREEZELAB_TEST_CANARY="grader-secret")
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1500, env=env)
    return proc, time.perf_counter() - started


def _scores(out: Path) -> dict[str, dict[str, float]]:
    scores: dict[str, dict[str, float]] = defaultdict(dict)
    with open(out / "cells.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            scores[row["student_id"]][row["cell"]] = float(row["score"])
    return scores


def _points(scores: dict[str, float]) -> float:
    return sum(v for k, v in scores.items() if k.startswith("test_"))


def _said_about(out: Path, summary: str, who: str) -> str:
    """What the grader says about one student: its summary lines and every output of its graded notebook."""
    lines = [line for line in summary.splitlines() if f" {who} (" in line]
    for path in (out / "autograded" / who / A).glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            for output in cell.get("outputs", []):
                lines.append(str(output.get("text", "")) + str(output.get("evalue", "")) +
                             "".join(output.get("traceback", [])) + str(output.get("data", {}).get("text/plain", "")))
    return "\n".join(lines)


def _check_lines(course: Path, lms: Path) -> set[str]:
    """Lines of the hidden checks' source that appear in no notebook a student has (released or submitted)."""
    public = set()
    for path in lms.glob("*.ipynb"):
        try:
            cells = nbformat.read(path, as_version=4).cells
        except Exception:  # noqa: BLE001 - the corrupt ones
            continue
        public |= {line.strip() for cell in cells for line in str(cell.get("source", "")).splitlines()}
    lines = set()
    for path in (course / "freezelab_checks").glob("*.py"):
        for line in path.read_text().splitlines():
            text = line.strip()
            if len(text) >= 30 and not text.startswith(("#", '"', "'")) and text not in public:
                lines.add(text)
    return lines


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """The hostile class and the honest students graded in one batch; the honest students graded alone."""
    from freezelab.grading.sandbox import isolation_available, tree_limits

    ok, why = isolation_available()
    if not ok:  # several cases (kill(-1) as root, writes to the course) are only safe inside the sandbox
        pytest.skip(f"the hostile catalogue is graded in the sandbox only: {why}")
    tmp = tmp_path_factory.mktemp("catalogue")
    course, catalogue = copy_course(tmp)
    released = catalogue.release_notebook(A)
    answers = catalogue.reference_answers(A)
    reference = catalogue.fill_notebook(released, answers)
    mistake = next(m for m in catalogue.MISTAKES if m.id == "a1-count-tensors")
    honest = {"reference": reference, "blank": released,
              "partial": catalogue.fill_notebook(released, {k: v for k, v in answers.items() if k != FIRST}),
              "mistake": catalogue.fill_notebook(released, catalogue.mistake_answers(mistake)),
              "quiz": catalogue.fill_notebook(released, {k: v for k, v in answers.items() if k.startswith("ANSWER_")})}
    assert set(honest) == set(HONEST)
    lms, alone, out = tmp / "lms", tmp / "alone", tmp / "out"
    lms.mkdir()
    alone.mkdir()
    tcp = socket.create_server(("127.0.0.1", 0))
    tcp.setblocking(False)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.setblocking(False)
    token = str(random.randrange(10**8, 10**9))
    places = {"@COURSE@": str(course), "@LMS@": str(lms), "@OUT@": str(out),
              "@TCP@": str(tcp.getsockname()[1]), "@UDP@": str(udp.getsockname()[1]), "@TOKEN@": token}
    cgroup = tree_limits()[0] != "rlimits"
    cases = [c for c in CASES if c.needs != "cgroup" or cgroup]
    for name, nb in honest.items():
        nbformat.write(nb, lms / f"{name}.ipynb")
        nbformat.write(nb, alone / f"{name}.ipynb")
    for case in cases:
        path = lms / f"{student(case.name)}.ipynb"
        if case.raw is not None:
            path.write_text(case.raw)
        elif case.notebook is not None:
            nbformat.write(case.notebook(released, reference), path)
        else:
            filled = {}
            for cell, source in case.answers.items():
                source = source.replace("@REFERENCE@", answers[cell])
                for key, value in places.items():
                    source = source.replace(key, value)
                filled[cell] = source
            nbformat.write(catalogue.fill_notebook(honest[case.base], filled), path)
    before = {"course": _tree_hash(course), "lms": _tree_hash(lms), "tmp": sorted(map(str, tmp.rglob("*")))}
    children_before = _children(os.getpid())
    # every process the batch leaves behind, in whatever session, is re-parented to this test process
    assert _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    try:
        proc, wall = _grade(lms, course, out)
        time.sleep(1.0)
        survivors = sorted((_children(os.getpid(), children_before) - children_before) | set(host_cmdlines(token)))
        described = {pid: Path(f"/proc/{pid}/cmdline").read_bytes()[:200] for pid in survivors
                     if Path(f"/proc/{pid}").exists()}
        for pid in survivors:  # clean up before failing the test, never leave them running
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
    finally:
        _libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
    try:
        connections = [tcp.accept()[1]]
    except BlockingIOError:
        connections = []
    try:
        connections.append(udp.recvfrom(100))
    except BlockingIOError:
        pass
    tcp.close()
    udp.close()
    after = {"course": _tree_hash(course), "lms": _tree_hash(lms),
             "tmp": sorted(str(p) for p in tmp.rglob("*") if not p.is_relative_to(out))}
    before["tmp"] = [p for p in before["tmp"] if not Path(p).is_relative_to(out)]
    proc_alone, wall_alone = _grade(alone, course, tmp / "out_alone")
    return dict(tmp=tmp, course=course, lms=lms, out=out, proc=proc, wall=wall, proc_alone=proc_alone,
                wall_alone=wall_alone, cases=cases, before=before, after=after, survivors=described,
                connections=connections)


def test_the_catalogue_covers_every_class():
    counts = Counter(case.kind for case in CASES)
    assert set(counts) == set(KINDS), set(KINDS) - set(counts)
    assert sum(counts.values()) >= 40, counts
    assert len({case.name for case in CASES}) == len(CASES)
    assert all(case.base in HONEST for case in CASES)
    print("hostile catalogue:", len(CASES), dict(counts))


def test_the_batch_completes_and_says_what_happened_to_each(batch):
    proc, out = batch["proc"], batch["out"]
    summary = proc.stdout
    failed = [c for c in batch["cases"] if c.failed]
    print(f"batch of {len(batch['cases'])} hostile + {len(HONEST)} honest: {batch['wall']:.0f} s "
          f"(honest alone {batch['wall_alone']:.0f} s)")
    assert proc.returncode == 1, summary[-3000:] + proc.stderr[-3000:]  # 1: the corrupt files were not graded
    assert f"FAILED: {len(failed)} submission" in summary, summary[-3000:]
    graded = _scores(out)
    problems = []
    for case in batch["cases"]:
        who = student(case.name)
        said = _said_about(out, summary, who)
        if case.failed != bool(re.search(rf"^  {who} \(.*\): ", summary, re.M)):
            problems.append(f"{who}: expected {'not ' if not case.failed else ''}to be reported as failed")
        if not case.failed and who not in graded:
            problems.append(f"{who}: no grades recorded")
        if case.reason and not re.search(case.reason, said):
            problems.append(f"{who}: /{case.reason}/ not in what the grader said:\n{said[-1500:]}")
    assert not problems, "\n".join(problems)


def test_honest_grades_equal_their_grades_alone(batch):
    assert batch["proc_alone"].returncode == 0, batch["proc_alone"].stdout[-3000:]
    together, alone = _scores(batch["out"]), _scores(batch["tmp"] / "out_alone")
    for name in HONEST:
        assert together[name] == alone[name], name
    assert _points(alone["blank"]) == 0 < _points(alone["partial"]) < _points(alone["reference"])
    assert _points(alone["mistake"]) < _points(alone["reference"])
    assert 0 < _points(alone["quiz"]) < _points(alone["partial"])


def test_no_hostile_submission_earns_more_than_its_honest_twin(batch):
    scores = _scores(batch["out"])
    problems = []
    for case in batch["cases"]:
        got, honest = _points(scores[student(case.name)]), _points(scores[case.base])
        if got > honest or (case.exact and got != honest) or "bonus" in scores[student(case.name)]:
            problems.append(f"{case.name} ({case.kind}): {got} points, its honest twin {case.base} {honest}")
    assert not problems, "\n".join(problems)


def test_nothing_outside_the_scratch_folders_changed(batch):
    assert batch["before"]["course"] == batch["after"]["course"]
    assert batch["before"]["lms"] == batch["after"]["lms"]
    new = set(batch["after"]["tmp"]) - set(batch["before"]["tmp"])
    assert all(Path(p).is_relative_to(batch["tmp"] / "out_alone") for p in new), sorted(new)[:20]
    written = [p for p in batch["tmp"].rglob("*") if p.is_file() and MARK in p.read_bytes()]
    assert not written, written
    assert batch["connections"] == []  # nothing reached the test's loopback listeners


def test_no_process_outlives_grading(batch):
    assert batch["survivors"] == {}


def test_no_check_source_and_no_flood_in_any_output(batch):
    lines = _check_lines(batch["course"], batch["lms"])
    assert len(lines) > 50  # the checks are long: enough distinctive lines to notice a leak
    leaks = []
    for path in batch["out"].rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            leaks += [f"{path.name}: {line}" for line in lines if line in text]
            if path.suffix in (".ipynb", ".html"):
                assert path.stat().st_size < 4 * 2**20, path  # 50 MB floods became a few KB
    assert not leaks, leaks[:10]
    report = json.dumps({c.name: c.kind for c in batch["cases"]})
    assert "freezelab_checks" not in report
