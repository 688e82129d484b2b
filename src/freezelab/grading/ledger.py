"""The grading ledger: which files the gradebook's grades came from, so a batch can resume and never repeat.

One row per (student, assignment) in table `freezelab_ledger`, in the same database as nbgrader's
gradebook (SQLite or PostgreSQL): the sha256 of the submitted files the current grades were computed from,
and how many times they were written. A re-run skips every submission whose files still have that hash.
The grades and the ledger row are written in ONE transaction: a coordinator killed at any moment leaves
either both (skipped next time) or neither (graded again next time), never half a submission. Scores
given by hand in formgrader (manual scores, extra credit, manual comments) are never overwritten.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa

TABLE = "freezelab_ledger"

_meta = sa.MetaData()
ledger_table = sa.Table(
    TABLE, _meta,
    sa.Column("student", sa.String(128), primary_key=True),
    sa.Column("assignment", sa.String(128), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("writes", sa.Integer, nullable=False),  # times these grades were recorded (1 unless --regrade)
    sa.Column("notes", sa.Text, nullable=False),  # JSON list of the grader's notes for the student
    sa.Column("graded_at", sa.DateTime, nullable=False),
)


def engine_url(url: str) -> str:
    """`postgresql://` means psycopg2 (the driver we ship); SQLAlchemy 2.1 would look for psycopg 3."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


def files_digest(files: dict[str, bytes]) -> str:
    """sha256 over the submitted files' names and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(files):
        data = files[name]
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def path_digest(paths: list[Path]) -> str:
    """`files_digest` of files on disk (names without folders)."""
    return files_digest({p.name: p.read_bytes() for p in paths})


class Ledger:
    """The gradebook at `url` (nbgrader's schema) plus the ledger table; the coordinator's only writer."""

    def __init__(self, url: str, course_id: str) -> None:
        from nbgrader.api import Gradebook

        self.url = engine_url(url)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.gb = Gradebook(self.url, course_id)
        _meta.create_all(self.gb.engine)

    def close(self) -> None:
        """Release the connections."""
        self.gb.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def hashes(self) -> dict[tuple[str, str], str]:
        """(student, assignment) -> sha256 of the files the recorded grades came from."""
        rows = self.gb.db.execute(sa.select(ledger_table.c.student, ledger_table.c.assignment,
                                            ledger_table.c.sha256)).all()
        self.gb.db.commit()
        return {(s, a): h for s, a, h in rows}

    def notes(self, student: str, assignment: str) -> list[str]:
        """The notes recorded with the grades of one submission."""
        row = self.gb.db.execute(sa.select(ledger_table.c.notes).where(
            ledger_table.c.student == student, ledger_table.c.assignment == assignment)).scalar()
        self.gb.db.commit()
        return json.loads(row) if row else []

    def record(self, result: dict) -> None:
        """Write one graded submission (a worker's `result`) and its ledger row in one transaction."""
        from nbgrader.api import MissingEntry

        db, student, assignment = self.gb.db, result["student"], result["assignment"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SQLAlchemy chatters about objects that nbgrader adds later
            try:
                sub = self.gb.find_submission(assignment, student)
            except MissingEntry:  # a new submission: nbgrader commits the empty shell on its own
                self.gb.update_or_create_student(student)
                sub = self.gb.add_submission(assignment, student)
            try:
                if result.get("timestamp"):
                    from nbgrader.utils import parse_utc

                    sub.timestamp = parse_utc(result["timestamp"])
                for g in result["grades"]:
                    d = self.gb.find_grade(g["name"], g["notebook"], assignment, student)
                    d.auto_score = g["auto_score"]
                    if d.manual_score is None and not d.extra_credit:  # a hand grade stays as given
                        d.needs_manual_grade = g["needs_manual_grade"]
                for c in result["comments"]:
                    self.gb.find_comment(c["name"], c["notebook"], assignment, student).auto_comment = \
                        c["auto_comment"]
                key = (ledger_table.c.student == student) & (ledger_table.c.assignment == assignment)
                before = db.execute(sa.select(ledger_table.c.writes).where(key)).scalar() or 0
                db.execute(sa.delete(ledger_table).where(key))
                db.execute(sa.insert(ledger_table).values(
                    student=student, assignment=assignment, sha256=result["sha256"], writes=before + 1,
                    notes=json.dumps(result.get("notes", [])),
                    graded_at=datetime.now(timezone.utc).replace(tzinfo=None)))
                db.commit()
            except BaseException:
                db.rollback()
                raise
