"""Grading a class on a real Dask cluster into a real PostgreSQL gradebook: same grades, nothing lost, nothing twice.

One tiny course (tests/test_grading_tools.py), a class of three gradable submissions and one corrupt file,
a throwaway PostgreSQL 15 server and a `dask scheduler` with two `dask worker` processes on loopback
(tests/_services.py). The processes are killed for real with SIGKILL.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import sqlalchemy as sa
from _services import dask_cluster, postgres_server, wait_until, worker_pids
from test_grading_tools import REFERENCE, fill, make_course

from freezelab.grading import grade
from freezelab.grading.course import generate
from freezelab.grading.ledger import TABLE, engine_url

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow]

CLASS = {  # student -> answers (None: a corrupt file)
    "ref": {**REFERENCE, "explain": "Frozen weights get no gradient."},
    "blank": {},
    "absy": {**REFERENCE, "add": "def add(a, b):\n    return abs(a) + abs(b)"},
    "mcq": {**REFERENCE, "MCQ_1": "MCQ_1 = 'a'"},
    "broken": None,
}


# The trusted checker asks the course's checks package which hidden checks grade which answer.
CHECKS_API = '''\
from .tiny import check_add, check_mcq

check_add.target, check_mcq.target = "add", "MCQ_1"


def checks_for(assignment):
    return {"add": [check_add], "MCQ_1": [check_mcq]}
'''


def gradable_course(root: Path) -> Path:
    """The tiny course of tests/test_grading_tools.py, with the checks API the checker reads."""
    course = make_course(root)
    (course / "freezelab_checks" / "__init__.py").write_text(CHECKS_API)
    return course


def _sandbox_flags() -> list[str]:
    from freezelab.grading.sandbox import isolation_available

    return [] if isolation_available()[0] else ["--no-sandbox"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(course root, LMS folder of the class) built on the tiny course."""
    tmp = tmp_path_factory.mktemp("cluster")
    course = gradable_course(tmp / "course")
    grade.use_venv_tools()
    generate(course, "tiny")
    blank = nbformat.read(course / "release" / "tiny" / "tiny.ipynb", as_version=4)
    lms = tmp / "lms"
    lms.mkdir()
    for student, answers in CLASS.items():
        if answers is None:
            (lms / f"{student}_tiny.ipynb").write_text("{ this is not json")
        else:
            nbformat.write(fill(blank, answers), lms / f"{student}_tiny.ipynb")
    return course, lms


@pytest.fixture(scope="module")
def pg():
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="module")
def cluster():
    with dask_cluster(n_workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def baseline(tiny, tmp_path_factory):
    """cells.csv of today's local grading (SQLite, local workers)."""
    course, lms = tiny
    out = tmp_path_factory.mktemp("baseline")
    code = grade.main([str(lms), "--course", str(course), "--out", str(out), "--workers", "2",
                       "--no-progress", *_sandbox_flags()])
    assert code == 1  # the corrupt file is reported, the others graded
    cells = _cells(out)
    assert len(graded(cells)) >= 3, cells  # the kill tests need three gradable submissions
    return cells


def graded(cells: list[tuple]) -> list[str]:
    """Students whose submission was graded (not 'failed') in these cells.csv rows."""
    return sorted({r[0] for r in cells if r[-1] != "failed"})


def _cells(out: Path) -> list[tuple]:
    with open(out / "cells.csv", newline="") as fh:
        return sorted(tuple(r.values()) for r in csv.DictReader(fh))


def _grade_cmd(tiny, out: Path, *extra: str) -> list[str]:
    course, lms = tiny
    return [sys.executable, "-m", "freezelab.cli", "grade", str(lms), "--course", str(course), "--out", str(out),
            "--no-progress", *_sandbox_flags(), *extra]


def _env(tmp: Path) -> dict[str, str]:
    tmp.mkdir(exist_ok=True)  # a killed coordinator leaves its scratch folder here, inside the test's tmp
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore", TMPDIR=str(tmp))


def _ledger(url: str) -> dict[str, tuple[str, int]]:
    engine = sa.create_engine(engine_url(url))
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(TABLE):
                return {}
            rows = conn.execute(sa.text(f"SELECT student, sha256, writes FROM {TABLE}")).all()
    finally:
        engine.dispose()
    return {s: (h, w) for s, h, w in rows}


def _submissions(url: str) -> list[str]:
    """Students with a tiny submission in the gradebook, with repeats if any were duplicated."""
    from nbgrader.api import Gradebook

    with Gradebook(engine_url(url), "tiny") as gb:
        return sorted(s.student.id for s in gb.find_assignment("tiny").submissions)


def _run(cmd: list[str], env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def test_cluster_on_postgres_matches_local_sqlite(tiny, pg, cluster, baseline, tmp_path):
    url = pg.create_database("e2e")
    out = tmp_path / "out"
    done = _run(_grade_cmd(tiny, out, "--scheduler", cluster.address, "--db-url", url), _env(tmp_path / "t"))
    assert done.returncode == 1, done.stderr  # the corrupt file, as in the local run
    assert "broken" in done.stdout and "not a valid notebook" in done.stdout
    assert _cells(out) == baseline
    assert _submissions(url) == graded(baseline)
    assert {s: w for s, (_, w) in _ledger(url).items()} == dict.fromkeys(graded(baseline), 1)
    html = (out / "feedback" / "absy" / "tiny" / "tiny.html").read_text()
    assert "wrong sum when one number is negative" in html and "freezelab_checks" not in html

    again = _run(_grade_cmd(tiny, tmp_path / "out2", "--scheduler", cluster.address, "--db-url", url),
                 _env(tmp_path / "t"))
    summary = (tmp_path / "out2" / "summary.txt").read_text()
    assert f"{len(graded(baseline))} unchanged since they were graded" in summary, again.stderr
    assert _cells(tmp_path / "out2") == baseline  # skipped submissions still appear, from the gradebook
    # nothing graded twice
    assert {s: w for s, (_, w) in _ledger(url).items()} == dict.fromkeys(graded(baseline), 1)


def test_coordinator_killed_mid_batch_rerun_completes(tiny, pg, cluster, baseline, tmp_path):
    from nbgrader.api import Gradebook

    url = pg.create_database("resume")
    env = _env(tmp_path / "t")
    # SIGKILL the grade command as soon as its first result is in the gradebook
    proc = subprocess.Popen(_grade_cmd(tiny, tmp_path / "o1", "--scheduler", cluster.address, "--db-url", url,
                                       "--one-by-one"),
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: bool(_ledger(url)) or proc.poll() is not None, 240, "the first recorded submission")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(30)
    recorded = sorted(_ledger(url))
    assert recorded and len(recorded) < len(graded(baseline)), recorded  # killed mid-batch
    first = recorded[0]
    with Gradebook(engine_url(url), "tiny") as gb:  # the instructor grades a free answer by hand meanwhile
        g = gb.find_grade("explain", "tiny", "tiny", first)
        g.manual_score, g.needs_manual_grade, auto = 0.25, False, gb.find_submission("tiny", first).score
        gb.db.commit()
    rerun = _run(_grade_cmd(tiny, tmp_path / "o2", "--scheduler", cluster.address, "--db-url", url), env)
    assert rerun.returncode == 1, rerun.stderr  # only the corrupt file failed
    assert f"{len(recorded)} unchanged since they were graded" in rerun.stdout
    assert _submissions(url) == graded(baseline)  # nothing lost, nothing duplicated
    # each graded exactly once
    assert {s: w for s, (_, w) in _ledger(url).items()} == dict.fromkeys(graded(baseline), 1)
    with Gradebook(engine_url(url), "tiny") as gb:
        assert gb.find_grade("explain", "tiny", "tiny", first).manual_score == 0.25
        assert gb.find_submission("tiny", first).score == auto + 0.25
    cells = _cells(tmp_path / "o2")
    manual = [r for r in cells if r[0] == first and r[3] == "explain"]
    assert manual and manual[0][-1] == "manually_graded"
    assert [r for r in cells if r not in manual] == [r for r in baseline if r[:4] != manual[0][:4]]


def test_worker_killed_mid_task_every_grade_once(tiny, pg, cluster, baseline, tmp_path):
    """Last in this module: it leaves the cluster with one worker."""
    from distributed import Client

    url = pg.create_database("workerkill")
    proc = subprocess.Popen(_grade_cmd(tiny, tmp_path / "out", "--scheduler", cluster.address, "--db-url", url,
                                       "--one-by-one"),
                            env=_env(tmp_path / "t"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ours = {p.pid for p in cluster.workers}
    try:
        with Client(cluster.address, timeout=30) as client:
            busy: list[str] = []

            def a_worker_is_grading() -> bool:
                busy[:] = [w for w, keys in client.processing().items()
                           if any(str(k).startswith("grade-") for k in keys)]
                return bool(busy) or proc.poll() is not None

            wait_until(a_worker_is_grading, 120, "a worker to start grading")
            victim = worker_pids(cluster.address)[busy[0]]
            assert victim in ours
            os.kill(victim, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 1, stderr  # only the corrupt file failed
    assert f"FAILED: {len(set(r[0] for r in baseline)) - len(graded(baseline))} submission" in stdout
    assert _cells(tmp_path / "out") == baseline
    assert _submissions(url) == graded(baseline)
    assert {s: w for s, (_, w) in _ledger(url).items()} == dict.fromkeys(graded(baseline), 1)
