"""End to end on the real course: release -> simulated class -> `freezelab grade` -> scores, feedback, export.

`freezelab grade` runs every answer in the sandbox and decides every test cell in its checker; nbgrader only
records the verdicts, so these scores are the checker's (the pytest route at the end uses the same checker).

The class: per assignment a reference submission, a blank one (the released notebook as is) and one
with a syntax error in one answer; every catalogued mistake (those in answers nothing else uses share
submissions, one mistake per answer); one corrupt file.
Everything runs on a copy of autograder/ and solutions/ in tmp_path.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest
from _course import copy_course

from freezelab.grading import check, grade, release
from freezelab.grading.check import exercise_of
from freezelab.grading.course import CHECKS_PACKAGE, HIDDEN_BEGIN, SOLUTION_BEGIN, nbgrader

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    """Release the copied course, build the class, grade it once; the tests read the results."""
    if not (REPO / "autograder" / "catalogue.py").is_file():
        pytest.skip("autograder/catalogue.py is not in this checkout yet")
    tmp = tmp_path_factory.mktemp("e2e")
    course, catalogue = copy_course(tmp)
    assignments = [a for a in catalogue.ASSIGNMENTS if (course / "source" / a).is_dir()]

    bundle = tmp / "bundle"
    assert release.main(["--course", str(course), "--out", str(bundle)]) == 0

    lms = tmp / "lms"
    lms.mkdir()
    expect = {}  # (student, assignment) -> what the grades must show

    def submit(student, a, answers):
        nb = nbformat.read(bundle / "assignments" / a / f"{a}.ipynb", as_version=4)
        nbformat.write(catalogue.fill_notebook(nb, answers), lms / f"{student}_{a}.ipynb")

    for a in assignments:
        ref = {n: catalogue.reference_source(a, n) for n in catalogue.graded_names(a)}
        submit("reference", a, ref)
        expect[("reference", a)] = "full"
        submit("blank", a, {})
        expect[("blank", a)] = "zero"
        released = bundle / "assignments" / a / f"{a}.ipynb"
        broken = independent_answer(catalogue, a, released)
        submit("syntax", a, {**ref, broken: ref[broken].replace("def ", "def (", 1) + "\n  oops("})
        expect[("syntax", a)] = ("loses", (broken,), "only")
        # A mistake in an answer that nothing else uses can only cost that answer's points, so such mistakes
        # share submissions (one per answer in each); every other exercise there must keep full marks, which
        # shows that each lost point comes from its own mistake. The rest get a submission each.
        free = set(independent_names(catalogue, a, released))
        shared: dict[str, list] = defaultdict(list)
        for m in catalogue.MISTAKES:
            if m.assignment != a:
                continue
            if m.name in free:
                shared[m.name].append(m)
            else:
                submit(f"m_{m.id}", a, {**ref, m.name: m.code})
                expect[(f"m_{m.id}", a)] = ("loses", (m.name,), "cascade")
        for i in range(max((len(ms) for ms in shared.values()), default=0)):
            group = [ms[i] for ms in shared.values() if i < len(ms)]
            submit(f"mixed{i}", a, {**ref, **{m.name: m.code for m in group}})
            expect[(f"mixed{i}", a)] = ("loses", tuple(m.name for m in group), "only")
    (lms / f"corrupt_{assignments[0]}.ipynb").write_text('{"cells": [ this is not json')
    expect[("corrupt", assignments[0])] = "failed"

    out = tmp / "results"
    from freezelab.grading.sandbox import isolation_available

    isolated = isolation_available()[0]  # .ci/run installs bubblewrap; elsewhere the same checker, unisolated
    proc = subprocess.run([sys.executable, "-m", "freezelab.cli", "grade", str(lms), "--course", str(course),
                           "--out", str(out), "--no-progress"] + ([] if isolated else ["--no-sandbox"]),
                          capture_output=True, text=True)
    return dict(tmp=tmp, course=course, bundle=bundle, out=out, proc=proc, expect=expect,
                assignments=assignments, catalogue=catalogue)


def independent_names(catalogue, a: str, released: Path) -> list[str]:
    """Graded answers that no other answer or test uses, so that breaking one costs only its exercise."""
    names = catalogue.graded_names(a)
    refs = {n: catalogue.reference_source(a, n) for n in names}
    tests = [(c.metadata["nbgrader"]["grade_id"], c.source)
             for c in nbformat.read(released, as_version=4).cells
             if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test_")]
    return [n for n in names
            if not any(n in refs[m] for m in names if m != n)
            and not any(n in src for gid, src in tests if exercise_of(gid, names) != n)]


def independent_answer(catalogue, a: str, released: Path) -> str:
    """One independent graded function (the syntax-error submission breaks it)."""
    free = independent_names(catalogue, a, released)
    refs = {n: catalogue.reference_source(a, n) for n in free}
    funcs = [n for n in free if refs[n].lstrip().startswith("def ")]
    return (funcs or free or catalogue.graded_names(a))[-1]


def _cells(out: Path) -> dict[tuple[str, str], list[dict]]:
    by_sub = defaultdict(list)
    with open(out / "cells.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            by_sub[(row["student_id"], row["assignment"])].append(row)
    return by_sub


def test_every_submission_scores_as_expected(e2e):
    proc, expect = e2e["proc"], e2e["expect"]
    assert proc.returncode == 1, proc.stdout + proc.stderr  # 1: the corrupt file failed
    assert "FAILED: 1 submission" in proc.stdout and "corrupt" in proc.stdout
    cells = _cells(e2e["out"])
    assert set(cells) == set(expect)
    for key, want in expect.items():
        rows = cells[key]
        auto = [r for r in rows if r["cell"].startswith("test_")]
        assert auto, f"{key}: no autograded cells in cells.csv"
        if want == "full":
            assert all(float(r["score"]) == float(r["max_score"]) for r in auto), (key, auto)
        elif want == "zero":
            assert all(float(r["score"]) == 0 for r in rows), (key, rows)
        elif want == "failed":
            assert all(r["status"] == "failed" and float(r["score"]) == 0 for r in rows)
        else:
            _, targets, scope = want
            names = e2e["catalogue"].graded_names(key[1])
            for name in targets:
                target = [r for r in auto if exercise_of(r["cell"], names) == name]
                assert target, f"{key}: no test cell for {name}"
                lost = sum(float(r["max_score"]) - float(r["score"]) for r in target)
                assert lost > 0, f"{key} should lose points on {name} but scored full marks"
            if scope == "only":  # broken independent answers cost only their own exercises
                others = [r for r in auto if exercise_of(r["cell"], names) not in targets]
                assert all(float(r["score"]) == float(r["max_score"]) for r in others), (key, others)


def test_feedback_has_no_hidden_code(e2e):
    htmls = list((e2e["out"] / "feedback").rglob("*.html"))
    graded = {k for k, v in e2e["expect"].items() if v != "failed"}
    assert len(htmls) == len(graded)
    for html in htmls:
        text = html.read_text()
        assert CHECKS_PACKAGE not in text and HIDDEN_BEGIN not in text and SOLUTION_BEGIN not in text, html


def test_grades_export_has_one_row_per_submission(e2e):
    with open(e2e["out"] / "grades.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted((r["student_id"], r["assignment"]) for r in rows) == sorted(e2e["expect"])
    ref = [r for r in rows if r["student_id"] == "reference"]
    assert all(float(r["score"]) > 0 for r in ref)


def test_bundle_has_no_secret(e2e):
    bundle = e2e["bundle"]
    assert release.scan_bundle(bundle, e2e["course"]) == []
    assert bundle.with_suffix(".zip").is_file()
    for a in e2e["assignments"]:
        assert (bundle / "assignments" / a / f"{a}.ipynb").is_file()
    assert not list(bundle.rglob("nbgrader_config.py")) and not list(bundle.rglob("catalogue.py"))


def test_self_check_and_pytest_route_on_a_sample(e2e, tmp_path, capsys):
    a = e2e["assignments"][0]
    lms = e2e["tmp"] / "lms"
    assert check.main([str(lms / f"reference_{a}.ipynb")]) == 0
    assert check.main([str(lms / f"blank_{a}.ipynb")]) == 1
    assert "Hidden tests will also run" in capsys.readouterr().out
    if not (e2e["course"] / "conftest.py").is_file():
        pytest.skip("no pytest route (autograder/conftest.py) yet")
    env = dict(os.environ, MPLBACKEND="Agg")
    from freezelab.grading.sandbox import isolation_available

    run = [sys.executable, "-m", "pytest", str(e2e["course"]), "-q", "-p", "no:cacheprovider", "--assignment", a,
           *([] if isolation_available()[0] else ["--no-sandbox"]), "--submission"]
    good = subprocess.run(run + [str(lms / f"reference_{a}.ipynb")], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert good.returncode == 0, good.stdout[-2000:]
    bad = subprocess.run(run + [str(lms / f"blank_{a}.ipynb")], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 1, bad.stdout[-2000:]


def test_grade_cli_rejects_bad_input(tmp_path, capsys):
    assert grade.main([str(tmp_path / "nothing-here"), "--no-progress"]) == 2
    assert "no such file" in capsys.readouterr().err


# ---------------------------------------------------------------- rubrics in formgrader, not in feedback

FREE_ANSWER = "eval() changes how layers behave; requires_grad_(False) is what freezes the backbone."


@pytest.fixture(scope="module")
def rubric_class(tmp_path_factory):
    """A reference and a blank submission of the first assignment, graded into the course (for formgrader),
    and graded again in a copy of the course without rubrics/ (the scores to compare with)."""
    from freezelab.grading.nbplugins import parse_rubrics
    from freezelab.grading.sandbox import isolation_available

    tmp = tmp_path_factory.mktemp("rubric")
    course, catalogue = copy_course(tmp)
    a = catalogue.ASSIGNMENTS[0]
    rubrics = parse_rubrics((course / "rubrics" / f"{a}.md").read_text())
    assert rubrics, f"rubrics/{a}.md has no '## <grade_id> (N points)' section"
    released = catalogue.release_notebook(a)
    lms = tmp / "lms"
    lms.mkdir()
    ref = catalogue.fill_notebook(released, catalogue.reference_answers(a))
    for cell in ref.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") in rubrics:
            cell.source = FREE_ANSWER
    nbformat.write(ref, lms / f"reference_{a}.ipynb")
    nbformat.write(released, lms / f"blank_{a}.ipynb")
    bare = tmp / "bare"
    shutil.copytree(course, bare, ignore=shutil.ignore_patterns("rubrics", "__pycache__"))
    sandbox = [] if isolation_available()[0] else ["--no-sandbox"]
    for root, extra in ((course, ["--into-course"]), (bare, [])):
        assert grade.main([str(lms), "--course", str(root), "--out", str(tmp / f"out_{root.name}"),
                           "--workers", "1", "--no-progress", *sandbox, *extra]) == 0
    return dict(tmp=tmp, course=course, a=a, rubrics=rubrics, out=tmp / f"out_{course.name}",
                bare_out=tmp / f"out_{bare.name}")


def test_autograded_notebook_has_each_rubric_after_its_answer_and_scores_are_unchanged(rubric_class):
    from freezelab.grading.nbplugins import is_rubric_cell

    course, a, rubrics = rubric_class["course"], rubric_class["a"], rubric_class["rubrics"]
    for student in ("reference", "blank"):
        nb = nbformat.read(course / "autograded" / student / a / f"{a}.ipynb", as_version=4)
        gids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
        for gid, (points, text) in rubrics.items():
            after = nb.cells[gids.index(gid) + 1]
            assert is_rubric_cell(after) and "nbgrader" not in after.metadata, after
            assert f"Rubric for `{gid}` ({points} points)" in after.source
            assert all(line.strip() in after.source for line in text.splitlines()), after.source
        assert sum(map(is_rubric_cell, nb.cells)) == len(rubrics)
    # the same grades, cell by cell, as grading without any rubric; the free response awaits the grader
    assert _cells(rubric_class["out"]) == _cells(rubric_class["bare_out"])
    free = {(r["student_id"], r["cell"]): r for rows in _cells(rubric_class["out"]).values() for r in rows}
    assert {free[("reference", gid)]["status"] for gid in rubrics} == {"needs_manual_grade"}


def test_feedback_leaves_the_rubric_out(rubric_class, capsys):
    course, a, tmp = rubric_class["course"], rubric_class["a"], rubric_class["tmp"]
    fb = tmp / "fb"
    assert grade.main(["--feedback-only", "--assignment", a, "--course", str(course), "--out", str(fb),
                       "--allow-ungraded"]) == 0
    # nbgrader's own "Generate feedback" (formgrader's button) in the course runs RedactHidden too
    plain = nbgrader(["generate_feedback", a, "--force"], course)
    assert plain.returncode == 0, plain.stdout[-2000:] + plain.stderr[-2000:]
    htmls = [*fb.rglob("*.html"), *rubric_class["out"].joinpath("feedback").rglob("*.html"),
             *(course / "feedback").rglob("*.html")]
    assert len(htmls) == 6, htmls
    for html in htmls:
        text = html.read_text()
        assert "Rubric for" not in text and "1 point:" not in text, html
        assert FREE_ANSWER.split(";")[0] in text or "/blank/" in str(html), html
    assert "Rubric for" in (course / "autograded" / "reference" / a / f"{a}.ipynb").read_text()  # still there


def test_formgrader_page_shows_the_rubric_after_the_answer(rubric_class):
    from nbgrader.api import Gradebook
    from test_student_path import _get, _serve

    course, a, rubrics = rubric_class["course"], rubric_class["a"], rubric_class["rubrics"]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        sub_id = gb.find_submission_notebook(a, a, "reference").id
    (rubric_class["tmp"] / "fg").mkdir()
    server = _serve(rubric_class["tmp"] / "fg", ["formgrader", "--course", str(course)])
    lab_ = next(server)
    try:
        status, _, page = _get(f"http://{lab_['base']}/formgrader/submissions/{sub_id}/?token={lab_['token']}",
                               timeout=90)
    finally:
        server.close()
    assert status == 200, page[-2000:]
    for gid in rubrics:
        answer, rubric = page.find(FREE_ANSWER.split(";")[0][:20]), page.find(f"Rubric for <code>{gid}</code>")
        assert 0 <= answer < rubric, (answer, rubric)


def test_plain_nbgrader_autograde_also_shows_the_rubric(rubric_class):
    """The trusting route (`nbgrader autograde` with the course's config) inserts the rubric too, same score."""
    from nbgrader.api import Gradebook

    from freezelab.grading.nbplugins import is_rubric_cell

    course, a, rubrics = rubric_class["course"], rubric_class["a"], rubric_class["rubrics"]
    plain = rubric_class["tmp"] / "plain"
    shutil.copytree(course, plain, ignore=shutil.ignore_patterns("autograded", "feedback", "__pycache__"))
    proc = nbgrader(["autograde", a, "--student", "reference", "--force"], plain, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    nb = nbformat.read(plain / "autograded" / "reference" / a / f"{a}.ipynb", as_version=4)
    assert sum(map(is_rubric_cell, nb.cells)) == len(rubrics)
    scores = []
    for root in (course, plain):
        with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
            scores.append(gb.find_submission(a, "reference").score)
    assert scores[0] == scores[1], scores
