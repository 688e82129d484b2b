"""`freezelab quiz export -o FILE` through the installed command: it never replaces what it did not write
unless told to with --force."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from freezelab.quiz.bank import bank_dir

FREEZELAB = Path(sys.executable).parent / "freezelab"


def freezelab(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "FREEZELAB_DATA_DIR": str(cwd / "data")}
    return subprocess.run([str(FREEZELAB), "quiz", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("export")


def test_an_existing_file_is_refused_and_left_alone(folder):
    notes = folder / "bank.json"
    notes.write_text("my notes\n", encoding="utf-8")
    os.utime(notes, (1_000_000_000, 1_000_000_000))
    run = freezelab("export", "--format", "json", "-o", "bank.json", cwd=folder)
    assert run.returncode != 0 and run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "bank.json" in lines[0] and "--force" in lines[0]
    assert notes.read_text(encoding="utf-8") == "my notes\n"
    assert notes.stat().st_mtime == 1_000_000_000
    assert sorted(p.name for p in folder.iterdir()) == ["bank.json"]  # no temporary file left behind


def test_force_replaces_the_file_and_keeps_its_permissions(folder):
    notes = folder / "handout.md"
    notes.write_text("old handout\n", encoding="utf-8")
    notes.chmod(0o640)
    run = freezelab("export", "--format", "markdown", "-o", "handout.md", "--force", cwd=folder)
    assert run.returncode == 0, run.stderr
    assert notes.read_text(encoding="utf-8").startswith("# freezelab question bank")
    assert notes.stat().st_mode & 0o777 == 0o640
    assert not [p for p in folder.iterdir() if p.name.startswith(".handout")]


def test_a_new_file_is_written(folder):
    run = freezelab("export", "--format", "json", "-o", "new.json", cwd=folder)
    assert run.returncode == 0, run.stderr
    assert "wrote" in run.stderr and "new.json" in run.stderr
    assert isinstance(json.loads((folder / "new.json").read_text(encoding="utf-8")), list)


def test_a_folder_or_the_bank_itself_is_refused_even_with_force(folder):
    (folder / "out").mkdir()
    run = freezelab("export", "-o", "out", "--force", cwd=folder)
    assert run.returncode != 0 and "out is a folder" in run.stderr
    assert list((folder / "out").iterdir()) == []
    bank_file = sorted(bank_dir().glob("*.yaml"))[0]
    before = bank_file.read_bytes()
    run = freezelab("export", "-o", str(bank_file), "--force", cwd=folder)
    assert run.returncode != 0 and "part of the question bank" in run.stderr
    assert bank_file.read_bytes() == before
