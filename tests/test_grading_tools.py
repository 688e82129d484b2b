"""Grading tools on a tiny nbgrader course built in tmp_path: bundle scan, naming rules, check, grade."""

from __future__ import annotations

import csv
import json
import re
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest

from freezelab.grading import check, grade, release
from freezelab.grading.course import HIDDEN_BEGIN, HIDDEN_PLACEHOLDER, SOLUTION_BEGIN, strip_hidden

CONFIG = '''\
import os
from pathlib import Path

c = get_config()  # noqa: F821
here = str(Path(__file__).resolve().parent)
os.environ["PYTHONPATH"] = here + os.pathsep + os.environ.get("PYTHONPATH", "")
c.CourseDirectory.course_id = "tiny"
c.Execute.timeout = 60
c.ExecutePreprocessor.kernel_name = "python3"
c.OverwriteCells.add_missing_cells = True
c.IgnorePattern.pattern = ".*Warning.*"
'''

CHECKS = '''\
def check_add(fn):
    assert fn(-2, 5) == 3, "add() gives the wrong sum when one number is negative"


def check_mcq(answer):
    assert answer == "b", "MCQ_1: not the right option; re-read the section on requires_grad"
'''


def _cell(kind, source, grade_id=None, solution=False, grade=False, points=0, locked=False):
    cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
    if grade_id:
        cell.metadata["nbgrader"] = {"grade_id": grade_id, "solution": solution, "grade": grade,
                                     "locked": locked, "schema_version": 3}
        if grade:
            cell.metadata["nbgrader"]["points"] = points
    return cell


def tiny_source() -> nbformat.NotebookNode:
    h, e = HIDDEN_BEGIN, HIDDEN_BEGIN.replace("BEGIN", "END")
    s, se = SOLUTION_BEGIN, SOLUTION_BEGIN.replace("BEGIN", "END")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        _cell("markdown", "# Tiny assignment"),
        _cell("code", f"def add(a, b):\n    {s}\n    return a + b\n    {se}", "add", solution=True),
        _cell("code", f"assert add(1, 2) == 3, 'add(1, 2) should be 3'\n{h}\n"
                      "from freezelab_checks.tiny import check_add\ncheck_add(add)\n" + e,
              "test_add", grade=True, points=2, locked=True),
        _cell("code", f"{s}\nMCQ_1 = 'b'\n{se}", "MCQ_1", solution=True),
        _cell("code", f"assert MCQ_1 in ('a', 'b', 'c'), 'answer a, b or c'\n{h}\n"
                      "from freezelab_checks.tiny import check_mcq\ncheck_mcq(MCQ_1)\n" + e,
              "test_MCQ_1", grade=True, points=1, locked=True),
        _cell("markdown", "YOUR ANSWER HERE", "explain", solution=True, grade=True, points=1),
    ]
    return nb


def make_course(root: Path) -> Path:
    """A minimal nbgrader course root with one assignment `tiny` and hidden checks in a package."""
    (root / "source" / "tiny").mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(CONFIG)
    (root / "freezelab_checks").mkdir()
    (root / "freezelab_checks" / "__init__.py").write_text("")
    (root / "freezelab_checks" / "tiny.py").write_text(CHECKS)
    nbformat.write(tiny_source(), root / "source" / "tiny" / "tiny.ipynb")
    return root


def fill(nb: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    return nb


REFERENCE = {"add": "def add(a, b):\n    return a + b", "MCQ_1": "MCQ_1 = 'b'"}


# ------------------------------------------------------------------ fast unit tests

def test_strip_hidden_keeps_public_part():
    src = tiny_source().cells[2].source
    out = strip_hidden(src)
    assert "add(1, 2) == 3" in out
    assert "freezelab_checks" not in out and HIDDEN_BEGIN not in out


def test_exercise_of_groups_test_cells():
    assert check.exercise_of("test_freeze_module") == "freeze_module"
    assert check.exercise_of("test_freeze_module_public") == "freeze_module"
    assert check.exercise_of("test_MCQ_1_hidden") == "MCQ_1"
    names = ["count", "count_parameters", "MCQ_1"]
    assert check.exercise_of("test_count_parameters_shared", names) == "count_parameters"
    assert check.exercise_of("test_count_public", names) == "count"
    assert check.exercise_of("test_MCQ_1", names) == "MCQ_1"
    assert check.exercise_of("test_mcq_1", names) == "MCQ_1"


def test_scan_refuses_planted_secrets(tmp_path):
    course = make_course(tmp_path / "course")
    (tmp_path / "solutions").mkdir()
    secret_py = "def add(a, b):\n    # the reference answer, long enough to be hashed\n    return a + b\n"
    (tmp_path / "solutions" / "tiny.py").write_text(secret_py)
    bundle = tmp_path / "bundle"
    (bundle / "notebooks").mkdir(parents=True)
    nbformat.write(fill(tiny_source(), {}), bundle / "notebooks" / "lesson.ipynb")
    (bundle / "README.md").write_text("hidden tests also run at grading time\n")
    assert any("lesson.ipynb" in s and "SOLUTION" in s for s in release.scan_bundle(bundle, course))

    (bundle / "notebooks" / "lesson.ipynb").write_text('{"cells": []}')
    assert release.scan_bundle(bundle, course) == []
    # a copy of a solutions/ file under another name
    (bundle / "notes.txt").write_text(secret_py)
    assert [s.split(":")[0] for s in release.scan_bundle(bundle, course)] == ["notes.txt"]
    (bundle / "notes.txt").unlink()
    # a hidden check hidden inside a wheel
    with zipfile.ZipFile(bundle / "pkg.whl", "w") as zf:
        zf.writestr("pkg/util.py", "from freezelab_checks.tiny import check_add\n")
    assert [s.split(":")[0] for s in release.scan_bundle(bundle, course)] == ["pkg.whl!pkg/util.py"]


def test_collect_naming_rules(tmp_path):
    course = make_course(tmp_path / "course")
    lms = tmp_path / "lms"
    lms.mkdir()
    nbformat.write(tiny_source(), lms / "alice.ipynb")            # assignment recognised from cells
    nbformat.write(tiny_source(), lms / "bob_tiny.ipynb")          # <student>_<assignment>
    (lms / "carol.ipynb").write_text('{"cells": [')                  # unreadable: cannot tell
    subs = {s.student: s for s in grade.collect(lms, course, None, tmp_path / "scratch")}
    assert subs["alice"].assignment == "tiny" and subs["bob"].assignment == "tiny"
    assert subs["carol"].error and "--assignment" in subs["carol"].error
    # with --assignment the unreadable one is attributed and fails later, in precheck
    carol = [s for s in grade.collect(lms, course, "tiny", tmp_path / "s2") if s.student == "carol"][0]
    assert carol.error is None and "not a valid notebook" in grade.precheck(carol)
    tree = tmp_path / "submitted" / "dana" / "tiny"  # an nbgrader tree with a single student
    tree.mkdir(parents=True)
    nbformat.write(tiny_source(), tree / "tiny.ipynb")
    [dana] = grade.collect(tmp_path / "submitted", course, None, tmp_path / "s4")
    assert (dana.student, dana.assignment, dana.source) == ("dana", "tiny", "dana/tiny")
    with pytest.raises(grade.GradingError, match="unknown assignment"):
        grade.collect(lms, course, "nope", tmp_path / "s3")


def test_reconcile_names_a_duplicated_cell(tmp_path):
    from freezelab.grading.nbplugins import reconcile

    nb = tiny_source()
    dup = nbformat.from_dict(json.loads(json.dumps(nb.cells[1])))
    dup.id = "pasted-copy"  # a pasted cell gets a new cell id but keeps its nbgrader grade_id
    dup.source = "def add(a, b):\n    return 0"
    nb.cells.append(dup)
    path = tmp_path / "dup.ipynb"
    nbformat.write(nb, path)
    assert grade.precheck(grade.Submission("x", "tiny", [path])) is None  # graded, not refused
    fixed, notes = reconcile(tiny_source(), nbformat.read(path, as_version=4))
    assert "cell 'add' appears more than once: only the first copy counts" in notes
    assert [c.source for c in fixed.cells] == [c.source for c in tiny_source().cells]


def test_bundle_start_script_explains_a_missing_wheel(tmp_path):
    import shutil
    import subprocess
    import sys

    start = Path(release.__file__).with_name("bundle_start.py")
    shutil.copy2(start, tmp_path / "start.py")
    done = subprocess.run([sys.executable, str(tmp_path / "start.py")], capture_output=True, text=True)
    assert done.returncode == 1 and "no wheels/freezelab-*.whl" in done.stderr
    assert not (tmp_path / ".venv").exists()  # nothing half-installed


def test_check_explains_a_bare_assert_by_its_line():
    arrow = "\x1b[31m----> 3\x1b[39m assert count_parameters(net) == 67"
    cell = nbformat.v4.new_code_cell("...")
    cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="",
                                           traceback=["Traceback", f"Cell In[4], line 3\n  1 x\n{arrow}\n"])]
    assert check._error_line(cell) == "AssertionError in `assert count_parameters(net) == 67`"
    cell.outputs[0]["evalue"] = "counted 3 but the model has 12"
    assert check._error_line(cell) == "AssertionError: counted 3 but the model has 12"
    # a released hidden test cell is only its placeholder comment: no public test to run or count
    assert not check._has_code(HIDDEN_PLACEHOLDER + "\n") and check._has_code("# why\nassert x")


def test_default_course_is_the_current_folders(tmp_path, monkeypatch):
    from freezelab.grading.course import find_course, repo_root

    monkeypatch.chdir(tmp_path)
    assert find_course() == repo_root() / "autograder"  # nothing here: the checkout's course
    here = make_course(tmp_path / "autograder")
    assert find_course() == here.resolve()  # a course in the current folder wins over the checkout's
    monkeypatch.chdir(here)
    assert find_course() == here.resolve()


def test_bundle_is_a_student_folder(tmp_path):
    course = make_course(tmp_path / "course")
    (course / "release" / "tiny").mkdir(parents=True)
    wheel = tmp_path / "freezelab-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"stand-in")
    release.build_bundle(course, tmp_path / "bundle", wheel)
    bundle = tmp_path / "bundle"
    assert ".venv/" in (bundle / ".gitignore").read_text().split()  # pushable as a student-only repo
    readme = (bundle / "README.md").read_text()
    assert "freezelab check assignments/" in readme and 'ANSWER_Q1 = "b"' in readme
    assert re.search(r"about \d+ GB to download", readme)
    assert sorted(p.name for p in bundle.iterdir()) == [".gitignore", "README.md", "assignments",
                                                         "course_content", "notebooks", "requirements",
                                                         "start.py", "wheels"]


def test_check_cli_bad_input(tmp_path, capsys):
    assert check.main([str(tmp_path / "missing.ipynb")]) == 2
    (tmp_path / "bad.ipynb").write_text("not json")
    assert check.main([str(tmp_path / "bad.ipynb")]) == 2
    assert "not a valid notebook" in capsys.readouterr().err


def _fake_release(tmp_path, monkeypatch, files: dict[str, str]):
    """release.main with nbgrader and the wheel build replaced by writing `files` into the stage."""
    course = make_course(tmp_path / "course")
    monkeypatch.setattr(release, "generate", lambda course_, name: None)

    def build(course_, stage, wheel=None):
        for rel, text in files.items():
            (stage / rel).parent.mkdir(parents=True, exist_ok=True)
            (stage / rel).write_text(text)

    monkeypatch.setattr(release, "build_bundle", build)
    return lambda *args: release.main(["--course", str(course), *args])


def test_release_refuses_a_folder_it_did_not_write(tmp_path, monkeypatch, capsys):
    run = _fake_release(tmp_path, monkeypatch, {"README.md": "student guide", "notebooks/00.ipynb": "{}"})
    here = tmp_path / "here"
    here.mkdir()
    (here / "notes.txt").write_text("mine")
    assert run("--out", str(here)) == 2
    assert "is not empty" in capsys.readouterr().err
    assert run("--out", str(here), "--force") == 2  # --force replaces a release, nothing else
    assert "no earlier `freezelab release`" in capsys.readouterr().err
    assert sorted(p.name for p in here.iterdir()) == ["notes.txt"] and not (tmp_path / "here.zip").exists()
    (tmp_path / "b.zip").write_text("someone's zip")
    assert run("--out", str(tmp_path / "b")) == 2
    assert "b.zip exists" in capsys.readouterr().err
    assert (tmp_path / "b.zip").read_text() == "someone's zip" and not (tmp_path / "b").exists()


def test_release_force_replaces_only_its_own_files(tmp_path, monkeypatch, capsys):
    out = tmp_path / "bundle"
    run = _fake_release(tmp_path, monkeypatch, {"README.md": "v1", "notebooks/00.ipynb": "{}"})
    assert run("--out", str(out)) == 0
    (out / ".git").mkdir()  # the instructor made it a student-only git repository
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main")
    (out / "notebooks" / "my_notes.ipynb").write_text("{}")
    assert run("--out", str(out)) == 2
    assert "pass --force" in capsys.readouterr().err
    run = _fake_release(tmp_path / "v2", monkeypatch, {"README.md": "v2", "assignments/a/a.ipynb": "{}"})
    assert run("--out", str(out), "--force") == 0
    kept = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert kept == {".git/HEAD", "notebooks/my_notes.ipynb", "README.md", "assignments/a/a.ipynb",
                    release.MARKER}
    assert (out / "README.md").read_text() == "v2"
    with zipfile.ZipFile(out.with_suffix(".zip")) as zf:  # the zip holds the release, not the extras
        assert sorted(zf.namelist()) == ["bundle/README.md", "bundle/assignments/a/a.ipynb"]
    run = _fake_release(tmp_path / "v3", monkeypatch, {"README.md": "v3", "extra.txt": "new file"})
    (out / "extra.txt").write_text("the instructor's")
    assert run("--out", str(out), "--force") == 2
    assert "extra.txt is in the way" in capsys.readouterr().err
    assert (out / "extra.txt").read_text() == "the instructor's" and (out / "README.md").read_text() == "v2"


# ------------------------------------------------------------------ real nbgrader on the tiny course

@pytest.fixture(scope="module")
def released(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tiny")
    course = make_course(tmp / "course")
    out = tmp / "bundle"
    assert release.main(["--course", str(course), "--out", str(out)]) == 0
    return course, out


@pytest.mark.nbgrader
@pytest.mark.slow
def test_release_builds_clean_bundle(released):
    course, out = released
    nb_path = out / "assignments" / "tiny" / "tiny.ipynb"
    text = nb_path.read_text()
    assert "NotImplementedError" in text and "freezelab_checks" not in text
    assert (out / "start.py").is_file() and list((out / "wheels").glob("freezelab-*.whl"))
    assert "python3 start.py" in (out / "README.md").read_text()
    with zipfile.ZipFile(out.with_suffix(".zip")) as zf:
        assert "bundle/assignments/tiny/tiny.ipynb" in zf.namelist()
        assert not [n for n in zf.namelist() if "freezelab_checks" in n or "nbgrader_config" in n]
    assert release.scan_bundle(out, course) == []


@pytest.mark.nbgrader
@pytest.mark.slow
def test_bundle_wheel_installs_and_carries_the_self_check(released, tmp_path):
    import subprocess
    import sys

    wheel = _released_wheel(released)
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--target", str(site), str(wheel)], check=True)
    assert (site / "freezelab" / "grading" / "check.py").is_file()
    assert not list(site.rglob("*checks*")) and not list(site.rglob("solutions"))
    code = "import freezelab.grading.check as c, freezelab.cli as m; print(c.__file__, 'check' in m.COMMANDS)"
    done = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(site), "PATH": ""},
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(str(site)) and done.stdout.strip().endswith("True")


@pytest.mark.nbgrader
@pytest.mark.slow
def test_release_refuses_planted_secret(released, tmp_path, monkeypatch, capsys):
    course, _ = released
    real_build = release.build_bundle

    def leaky(course_, stage, wheel=None):
        real_build(course_, stage, wheel)
        (stage / "extra").mkdir()
        (stage / "extra" / "oops.py").write_text("from freezelab_checks.tiny import check_add\n")

    monkeypatch.setattr(release, "build_bundle", leaky)
    wheel = _released_wheel(released)
    out = tmp_path / "leaky"
    assert release.main(["--course", str(course), "--out", str(out), "--wheel", str(wheel)]) == 1
    err = capsys.readouterr().err
    assert "refusing" in err and "extra/oops.py" in err
    assert not out.exists() and not out.with_suffix(".zip").exists()


def _released_wheel(released) -> Path:
    return next((released[1] / "wheels").glob("*.whl"))


@pytest.mark.nbgrader
@pytest.mark.slow
def test_check_passes_reference_fails_blank(released, tmp_path, capsys):
    _, out = released
    blank = nbformat.read(out / "assignments" / "tiny" / "tiny.ipynb", as_version=4)
    nbformat.write(fill(blank, REFERENCE), tmp_path / "ref.ipynb")
    nbformat.write(blank, tmp_path / "blank.ipynb")
    assert check.main([str(tmp_path / "ref.ipynb")]) == 0
    text = capsys.readouterr().out
    assert "PASS  add" in text and "PASS  MCQ_1" in text and "Hidden tests will also run" in text
    assert check.main([str(tmp_path / "blank.ipynb")]) == 1
    text = capsys.readouterr().out
    assert "FAIL  add: NotImplementedError" in text


@pytest.mark.nbgrader
@pytest.mark.slow
def test_check_says_what_failed_without_kernel_noise(released, tmp_path, capfd):
    _, out = released
    blank = nbformat.read(out / "assignments" / "tiny" / "tiny.ipynb", as_version=4)
    nbformat.write(fill(blank, {**REFERENCE, "add": "def add(a, b):\n    return a - b"}), tmp_path / "sub.ipynb")
    assert check.main([str(tmp_path / "sub.ipynb")]) == 1
    printed = capfd.readouterr()
    assert "FAIL  add: AssertionError: add(1, 2) should be 3" in printed.out
    assert "without encryption" not in printed.err and "Kernel is running" not in printed.err


@pytest.mark.nbgrader
@pytest.mark.slow
def test_grade_small_class(released, tmp_path, capsys):
    course, out = released
    blank = nbformat.read(out / "assignments" / "tiny" / "tiny.ipynb", as_version=4)
    subs = tmp_path / "lms"
    subs.mkdir()
    nbformat.write(fill(blank, {**REFERENCE, "explain": "Frozen weights get no gradient."}),
                   subs / "ref_tiny.ipynb")
    nbformat.write(blank, subs / "blank_tiny.ipynb")
    # passes the public test, fails the hidden one
    nbformat.write(fill(blank, {**REFERENCE, "add": "def add(a, b):\n    return abs(a) + abs(b)"}),
                   subs / "absy_tiny.ipynb")
    (subs / "broken_tiny.ipynb").write_text("{ this is not json")
    with zipfile.ZipFile(tmp_path / "class.zip", "w") as zf:
        for p in subs.iterdir():
            zf.write(p, f"download/{p.name}")
    res = tmp_path / "res"
    code = grade.main([str(tmp_path / "class.zip"), "--course", str(course), "--out", str(res),
                       "--workers", "2", "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 1 and "broken" in printed and "not a valid notebook" in printed
    rows = list(csv.DictReader(open(res / "cells.csv")))
    score = {(r["student_id"], r["cell"]): (float(r["score"]), float(r["max_score"]), r["status"])
             for r in rows}
    assert score[("ref", "test_add")] == (2.0, 2.0, "autograded")
    assert score[("ref", "test_MCQ_1")] == (1.0, 1.0, "autograded")
    assert score[("ref", "explain")][2] == "needs_manual_grade"
    assert score[("blank", "explain")] == (0.0, 1.0, "autograded")  # unchanged answer: nbgrader gives 0
    assert score[("blank", "test_add")][0] == 0 and score[("blank", "test_MCQ_1")][0] == 0
    assert score[("absy", "test_add")][0] == 0 and score[("absy", "test_MCQ_1")][0] == 1
    assert score[("broken", "test_add")] == (0.0, 2.0, "failed")
    grades = list(csv.DictReader(open(res / "grades.csv")))
    assert sorted(g["student_id"] for g in grades) == ["absy", "blank", "broken", "ref"]
    html = (res / "feedback" / "absy" / "tiny" / "tiny.html").read_text()
    assert "freezelab_checks" not in html and "HIDDEN TESTS" not in html and "check_add" not in html
    assert "wrong sum when one number is negative" in html  # the learner still learns what failed


@pytest.mark.nbgrader
@pytest.mark.slow
def test_into_course_keeps_manual_grades_and_feedback_only(released, tmp_path, capsys):
    from nbgrader.api import Gradebook

    course, out = released
    blank = nbformat.read(out / "assignments" / "tiny" / "tiny.ipynb", as_version=4)
    subs = tmp_path / "submitted" / "dana" / "tiny"  # an nbgrader submitted/ tree
    subs.mkdir(parents=True)
    nbformat.write(fill(blank, {**REFERENCE, "explain": "It stops the updates."}), subs / "tiny.ipynb")
    args = [str(tmp_path / "submitted"), "--course", str(course), "--out", str(tmp_path / "r1"),
            "--into-course", "--no-progress"]
    assert grade.main(args) == 0
    early = ["--feedback-only", "--assignment", "tiny", "--course", str(course), "--out", str(tmp_path / "fb0")]
    capsys.readouterr()
    assert grade.main(early) == 2  # the free-response answer would show as 0 points: refused
    assert "dana: explain" in capsys.readouterr().err and not (tmp_path / "fb0" / "feedback").exists()
    url = f"sqlite:///{course / 'gradebook.db'}"
    with Gradebook(url) as gb:  # the instructor grades the free-response answer in formgrader
        g = gb.find_grade("explain", "tiny", "tiny", "dana")
        assert g.needs_manual_grade
        g.manual_score, g.needs_manual_grade = 0.5, False
        gb.db.commit()
    assert grade.main(args[:-3] + [str(tmp_path / "r2"), "--into-course", "--no-progress"]) == 0
    with Gradebook(url) as gb:
        assert gb.find_grade("explain", "tiny", "tiny", "dana").manual_score == 0.5
        assert gb.find_submission("tiny", "dana").score == 3.5
    fb = tmp_path / "fb"
    assert grade.main(["--feedback-only", "--assignment", "tiny", "--course", str(course),
                       "--out", str(fb)]) == 0
    html = (fb / "feedback" / "dana" / "tiny" / "tiny.html").read_text()
    assert "freezelab_checks" not in html and "0.5" in html
    autograded = course / "autograded" / "dana" / "tiny" / "tiny.ipynb"
    assert "freezelab_checks" in autograded.read_text()  # the instructor's copy is left as nbgrader made it


def test_grade_out_never_overwrites_what_grading_did_not_write(tmp_path, capsys):
    """--out inside the course, or a non-empty folder grading did not write, is refused before anything."""
    course = make_course(tmp_path / "course")
    notes = tmp_path / "mine"
    notes.mkdir()
    (notes / "notes.txt").write_text("keep me")
    for out, why in ((course, "inside the course"), (course / "results", "inside the course"),
                     (notes, "not empty")):
        code = grade.main([str(tmp_path), "--course", str(course), "--out", str(out), "--no-sandbox",
                           "--no-progress"])
        err = capsys.readouterr().err
        assert code == 2 and why in err and len(err.strip().splitlines()) == 1
    assert [p.name for p in notes.iterdir()] == ["notes.txt"] and not (course / "results").exists()
    grade.prepare_out(tmp_path / "new", course)  # a new folder is marked as grading's ...
    (tmp_path / "new" / "grades.csv").write_text("an earlier run\n")
    grade.prepare_out(tmp_path / "new", course)  # ... so a later run may rewrite it


def test_grade_names_an_unknown_assignment(tmp_path, capsys):
    course = make_course(tmp_path / "course")
    code = grade.main(["--feedback-only", "--assignment", "a9_nope", "--course", str(course),
                       "--out", str(tmp_path / "fb")])
    assert code == 2 and "unknown assignment 'a9_nope'; the course has: tiny" in capsys.readouterr().err
    assert not (tmp_path / "fb").exists()


def test_grade_says_which_assignment_the_submissions_are_for(tmp_path, capsys):
    """--assignment X over files named (or filed) for another assignment names that one and the option."""
    course = make_course(tmp_path / "course")
    shutil.copytree(course / "source" / "tiny", course / "source" / "other")
    (course / "source" / "other" / "tiny.ipynb").rename(course / "source" / "other" / "other.ipynb")
    lms = tmp_path / "lms"
    lms.mkdir()
    for student in ("alice", "bob"):
        nbformat.write(tiny_source(), lms / f"{student}_tiny.ipynb")
    tree = tmp_path / "submitted" / "carol" / "tiny"
    tree.mkdir(parents=True)
    nbformat.write(tiny_source(), tree / "tiny.ipynb")
    for src in (lms, tmp_path / "submitted"):
        code = grade.main([str(src), "--assignment", "other", "--course", str(course), "--no-sandbox",
                           "--no-progress", "--out", str(tmp_path / f"out_{src.name}")])
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert code == 2 and last == (f"freezelab grade: no submissions for other in {src}: the files there "
                                      "are for tiny; use --assignment tiny"), last
    assert sorted(p.name for p in lms.iterdir()) == ["alice_tiny.ipynb", "bob_tiny.ipynb"]


def test_collect_flags_a_notebook_of_another_assignment(tmp_path):
    """--assignment other: <student>.ipynb with tiny's cells is named as tiny's; files named for tiny are listed."""
    course = make_course(tmp_path / "course")
    (course / "source" / "other").mkdir()
    other = tiny_source()
    for cell in other.cells:
        if "nbgrader" in cell.metadata:
            cell.metadata["nbgrader"]["grade_id"] = "o_" + cell.metadata["nbgrader"]["grade_id"]
    nbformat.write(other, course / "source" / "other" / "other.ipynb")
    lms = tmp_path / "lms"
    lms.mkdir()
    nbformat.write(tiny_source(), lms / "alice.ipynb")
    nbformat.write(tiny_source(), lms / "bob_tiny.ipynb")
    nbformat.write(other, lms / "carol.ipynb")
    skipped: list[str] = []
    subs = {s.student: s for s in grade.collect(lms, course, "other", tmp_path / "scratch", skipped)}
    assert sorted(subs) == ["alice", "carol"] and skipped == ["bob_tiny.ipynb (named for tiny)"]
    assert subs["carol"].assignment == "other" and subs["carol"].error is None
    assert subs["alice"].error == ("its graded cells are tiny's, none of other's: grade it with --assignment tiny "
                                   "(or name it <student>_tiny.ipynb)")


def test_every_free_response_answer_has_a_rubric_section_formgrader_can_show():
    """rubrics/<A>.md, as build_sources writes it, has the section InsertRubrics looks up for each hand-graded cell."""
    from freezelab.grading.course import repo_root
    from freezelab.grading.nbplugins import parse_rubrics

    course = repo_root() / "autograder"
    for source in sorted(course.glob("source/*/*.ipynb")):
        meta = [c.metadata.get("nbgrader", {}) for c in nbformat.read(source, as_version=4).cells]
        free = {m["grade_id"]: m["points"] for m in meta if m.get("solution") and m.get("grade")}
        rubrics = parse_rubrics((course / "rubrics" / f"{source.parent.name}.md").read_text())
        assert free and {gid: float(rubrics[gid][0]) for gid in free} == free, (source.name, sorted(rubrics))
        assert all(len(rubrics[gid][1]) > 100 for gid in free), source.name
