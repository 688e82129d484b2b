"""The ledger on a real PostgreSQL 15 gradebook: atomic writes, manual grades kept, formgrader's reads.

No grading runs here: the results a worker would return are written by hand, so every property of the
coordinator's writes is checked in seconds (the end-to-end runs are in tests/test_cluster.py).
"""

from __future__ import annotations

import os
import runpy
from pathlib import Path

import pytest
import sqlalchemy as sa
from _services import postgres_server
from test_grading_tools import make_course

from freezelab.grading import cluster, ledger
from freezelab.grading.course import repo_root
from freezelab.paths import DB_URL_ENV

pytestmark = pytest.mark.nbgrader


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """(course root, URL) of a PostgreSQL gradebook that knows the tiny assignment."""
    tmp = tmp_path_factory.mktemp("pg")
    course = make_course(tmp / "course")
    with postgres_server() as pg:
        url = pg.create_database("gradebook")
        cluster.G.use_venv_tools()
        assert cluster.prepare_gradebook(course, url, ["tiny"], tmp / "scratch") == "tiny"
        yield course, url


def result(student: str, add: float, mcq: float, sha: str = "h1") -> dict:
    """What a worker returns for one graded tiny submission."""
    return dict(student=student, assignment="tiny", sha256=sha, notes=[f"{student} ok"], timestamp=None,
                grades=[dict(notebook="tiny", name="test_add", auto_score=add, needs_manual_grade=False),
                        dict(notebook="tiny", name="test_MCQ_1", auto_score=mcq, needs_manual_grade=False),
                        dict(notebook="tiny", name="explain", auto_score=None, needs_manual_grade=True)],
                comments=[dict(notebook="tiny", name="add", auto_comment=None)])


def test_record_is_one_row_per_submission_and_keeps_manual_grades(shared):
    _, url = shared
    with ledger.Ledger(url, "tiny") as book:
        book.record(result("alice", 2, 1))
        g = book.gb.find_grade("explain", "tiny", "tiny", "alice")
        g.manual_score, g.needs_manual_grade = 0.5, False  # formgrader, by hand
        book.gb.db.commit()
        book.record(result("alice", 0, 1, sha="h2"))  # a re-grade of changed files
        assert book.hashes()[("alice", "tiny")] == "h2"
        assert book.notes("alice", "tiny") == ["alice ok"]
        sub = book.gb.find_submission("tiny", "alice")
        assert sub.score == 1.5  # new auto scores, the hand grade kept
        assert not book.gb.find_grade("explain", "tiny", "tiny", "alice").needs_manual_grade
        assert [s.student.id for s in book.gb.find_assignment("tiny").submissions].count("alice") == 1
        writes = book.gb.db.execute(sa.text(f"SELECT writes FROM {ledger.TABLE} WHERE student='alice'"))
        assert writes.scalar() == 2
        book.gb.db.commit()


def test_a_write_that_fails_half_way_leaves_nothing(shared, monkeypatch):
    _, url = shared
    with ledger.Ledger(url, "tiny") as book:
        book.record(result("bob", 2, 1))
        real_execute = book.gb.db.execute

        def die_on_ledger_insert(stmt, *a, **k):  # the coordinator dies between the grades and the ledger
            if isinstance(stmt, sa.Insert):
                raise KeyboardInterrupt
            return real_execute(stmt, *a, **k)

        monkeypatch.setattr(book.gb.db, "execute", die_on_ledger_insert)
        with pytest.raises(KeyboardInterrupt):
            book.record(result("bob", 0, 0, sha="h2"))
        monkeypatch.undo()
    with ledger.Ledger(url, "tiny") as book:  # a fresh connection sees the last complete write only
        assert book.hashes()[("bob", "tiny")] == "h1"
        assert book.gb.find_submission("tiny", "bob").score == 3


def test_formgrader_reads_the_postgres_gradebook(shared):
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    course, url = shared
    with ledger.Ledger(url, "tiny") as book:
        book.record(result("carol", 2, 0))
    for who in ("carol",):
        folder = course / "autograded" / who / "tiny"  # formgrader lists students with autograded files
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "tiny.ipynb").write_text("{}")
        (course / "submitted" / who / "tiny").mkdir(parents=True, exist_ok=True)
    config = Config()
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.course_id = "tiny"
    config.CourseDirectory.db_url = ledger.engine_url(url)
    api = NbGraderAPI(CourseDirectory(config=config), config=config)
    assert [a["name"] for a in api.get_assignments()] == ["tiny"]
    subs = {s["student"]: s for s in api.get_submissions("tiny")}
    assert subs["carol"]["score"] == 2 and subs["carol"]["max_score"] == 4
    assert subs["carol"]["needs_manual_grade"]
    assert "carol" in {s["id"] for s in api.get_students()}
    assert [n["score"] for n in api.get_student_notebook_submissions("carol", "tiny")] == [2]
    indices = api.get_notebook_submission_indices("tiny", "tiny")
    assert indices and all(isinstance(v, int) for v in indices.values())


def test_course_config_reads_the_shared_database(monkeypatch):
    config = repo_root() / "autograder" / "nbgrader_config.py"
    monkeypatch.setenv(DB_URL_ENV, "postgresql://grader@db.example/course")
    got = _load(config)
    assert got.CourseDirectory.db_url == "postgresql+psycopg2://grader@db.example/course"
    monkeypatch.delenv(DB_URL_ENV)
    assert _load(config).CourseDirectory.db_url.startswith("sqlite:///")


def _load(path: Path):
    from traitlets.config import Config

    c = Config()
    saved = dict(os.environ)
    try:  # the config file edits os.environ (PYTHONPATH, ...): leave this process as it was
        runpy.run_path(str(path), init_globals={"get_config": lambda: c})
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return c
