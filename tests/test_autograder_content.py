"""The autograder's content: source notebooks, solutions, hidden checks, the mistake catalogue, the pytest route.

Everything runs in-process on notebooks made from the source notebooks (nbgrader's own ClearSolutions /
ClearHiddenTests preprocessors, no gradebook); the end-to-end nbgrader run lives in the grading tests.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import types
from pathlib import Path

import assignments
import build_sources
import catalogue
import nbformat
import pytest
from freezelab_checks import REGISTRY, CheckFailed, checks_for
from freezelab_checks._common import banned_helpers
from submission import checks_of, load_submission, run_checks

from freezelab.grading.course import HIDDEN_PLACEHOLDER

ROOT = Path(__file__).resolve().parents[1]
AUTOGRADER = ROOT / "autograder"

ASSIGNMENTS = catalogue.ASSIGNMENTS
HIDDEN_CELL = re.compile(re.escape(HIDDEN_PLACEHOLDER) + r"\n"  # the one line a released hidden cell shows
                         r"### BEGIN HIDDEN TESTS\nfrom freezelab_checks\.(\w+) import (check_\w+)\n"
                         r"(check_\w+)\((\w+)\)\n### END HIDDEN TESTS")


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


@pytest.fixture(scope="session")
def released() -> dict[str, nbformat.NotebookNode]:
    """The student version of every assignment."""
    return {a: catalogue.release_notebook(a) for a in ASSIGNMENTS}


@pytest.fixture(scope="session")
def reference_results(released, tmp_path_factory) -> dict[str, dict[str, str | None]]:
    """Hidden-check results for every reference-filled notebook (each runs once per session)."""
    out = {}
    folder = tmp_path_factory.mktemp("reference")
    for assignment, nb in released.items():
        path = folder / f"{assignment}.ipynb"
        nbformat.write(catalogue.fill_notebook(nb, catalogue.reference_answers(assignment)), path)
        out[assignment] = run_checks(load_submission(path))
    return out


# ---------------------------------------------------------------------------------------------------------
# Sources: one source of truth, valid nbgrader metadata, hidden cells that only import and call
# ---------------------------------------------------------------------------------------------------------

def test_sources_rebuild_byte_identical() -> None:
    for assignment in ASSIGNMENTS:
        for path, text in build_sources.render(assignment).items():
            assert path.read_text() == text, f"{path} is stale: run python autograder/build_sources.py"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_regions_are_the_solutions(assignment: str) -> None:
    nb = catalogue.source_notebook(assignment)
    cells = catalogue.answer_cells(nb)
    assert list(cells) == catalogue.graded_names(assignment)
    for name, cell in cells.items():
        # Without the two marker lines, the answer cell is exactly the code in solution.py (or the MCQ key).
        kept = [line for line in cell.source.splitlines() if not re.fullmatch(r"\s*### (BEGIN|END) SOLUTION", line)]
        text, reference = "\n".join(kept), catalogue.reference_source(assignment, name)
        intro = text[:len(text) - len(reference)]  # comment lines above the answer (e.g. naming the variable)
        assert text.endswith(reference) and all(ln.startswith("#") for ln in intro.splitlines()), name
        assert cell.source.count("### BEGIN SOLUTION") == 1


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_notebooks_say_they_are_generated(assignment: str) -> None:
    note = catalogue.source_notebook(assignment).metadata["freezelab"]["generated"]
    assert f"autograder/assignments/{assignment}/spec.py" in note and "build_sources.py" in note
    assert "do not edit" in note


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_multiple_choice_keys_are_declared_once(assignment: str) -> None:
    questions = assignments.multiple_choice(assignment)
    assert questions and set(questions) <= set(catalogue.graded_names(assignment))
    _, solution = assignments.solution_nodes(assignment)
    cells = catalogue.answer_cells(catalogue.source_notebook(assignment))
    checks = checks_for(assignment)
    for name, question in questions.items():
        assert name not in solution, f"{name} is declared in solution.py too: its key belongs to spec.py only"
        assert f'### BEGIN SOLUTION\n{name} = "{question.key}"\n### END SOLUTION' in cells[name].source
        [check] = checks[name]
        assert check.__name__ == f"check_{name.lower()}"
        check(question.key)
        check(f" {question.key.upper()} ")
        for letter in sorted({"a", "b", "c", "d"} - {question.key}):
            with pytest.raises(CheckFailed, match="is not right") as info:
                check(letter)
            assert question.hint in str(info.value)
        with pytest.raises(CheckFailed, match="one of the letters"):
            check("e")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_nbgrader_metadata_is_valid(assignment: str) -> None:
    from nbgrader.nbgraderformat import MetadataValidator

    nb = catalogue.source_notebook(assignment)
    MetadataValidator().validate_nb(nb)
    ids = [c.id for c in nb.cells]
    assert len(ids) == len(set(ids)), "duplicate cell ids make nbgrader fail the whole notebook"
    grade_ids = [nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c)]
    assert len(grade_ids) == len(set(grade_ids))
    assert nb.metadata.kernelspec.name == "python3"
    kinds = {(m.get("grade"), m.get("solution"), c.cell_type) for c in nb.cells if (m := nbgrader_meta(c))}
    assert (True, True, "markdown") in kinds, "every assignment needs a manually graded free-response cell"
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        assert not meta or meta["schema_version"] == 3
        if meta.get("grade"):
            assert meta["points"] > 0


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_hidden_cells_only_import_and_call_checks(assignment: str) -> None:
    nb = catalogue.source_notebook(assignment)
    graded = set(catalogue.graded_names(assignment))
    called = []
    for cell in nb.cells:
        if "HIDDEN" not in cell.source:
            continue
        match = HIDDEN_CELL.fullmatch(cell.source)
        assert match, f"hidden cell {cell.id} must only import and call one check:\n{cell.source}"
        module, imported, called_name, target = match.groups()
        assert module == assignment and imported == called_name and target in graded
        grade_id = nbgrader_meta(cell)["grade_id"]
        assert grade_id == build_sources.test_cell_id(called_name, target)
        assert grade_id == f"test_{target}" or grade_id.startswith(f"test_{target}_")
        called.append(called_name)
    registered = [c.__name__ for checks in checks_for(assignment).values() for c in checks]
    assert sorted(called) == sorted(registered), "every registered check has exactly one hidden cell"
    assert set(checks_for(assignment)) == graded, "every graded answer has hidden checks"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_notebook_has_no_secrets(assignment: str, released) -> None:
    text = nbformat.writes(released[assignment])
    assert "freezelab_checks" not in text and "BEGIN SOLUTION" not in text and "Rubric" not in text
    for name, cell in catalogue.answer_cells(catalogue.source_notebook(assignment)).items():
        region = re.search(r"### BEGIN SOLUTION\n(.*)\n\s*### END SOLUTION", cell.source, re.S).group(1)
        for line in region.splitlines():
            if len(line.strip()) >= 30 and not line.strip().startswith("#"):
                assert line.strip() not in text, f"solution code of {name} leaked: {line.strip()}"


# ---------------------------------------------------------------------------------------------------------
# Reference passes, blank fails, each mistake fails what it targets
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_passes_every_hidden_check(assignment: str, reference_results) -> None:
    results = reference_results[assignment]
    assert len(results) == len(checks_of(assignment)) >= 8
    assert {k: v for k, v in results.items() if v} == {}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_blank_notebook_fails_every_hidden_check(assignment: str, released, tmp_path) -> None:
    path = tmp_path / "blank.ipynb"
    nbformat.write(released[assignment], path)
    submission = load_submission(path)
    # Stubbed functions are defined (they raise when called); stubbed constants fail at their cell.
    constants = {n for n in catalogue.graded_names(assignment) if n.isupper()}
    assert set(submission.errors) == constants
    results = run_checks(submission)
    assert all(results.values()), [k for k, v in results.items() if v is None]


def test_catalogue_is_big_and_well_formed() -> None:
    mistakes = catalogue.MISTAKES
    assert len(mistakes) >= 30
    assert len({m.id for m in mistakes}) == len(mistakes)
    for m in mistakes:
        assert m.name in catalogue.graded_names(m.assignment), m.id
        assert m.misconception and "\n" not in m.misconception, m.id
        ast.parse(m.code)
    for assignment in ASSIGNMENTS:
        assert len(catalogue.mistakes_for(assignment)) >= 8


@pytest.mark.parametrize("mistake", catalogue.MISTAKES, ids=lambda m: m.id)
def test_mistake_fails_a_check_of_its_target(mistake, released, tmp_path) -> None:
    path = tmp_path / "mistake.ipynb"
    nbformat.write(catalogue.fill_notebook(released[mistake.assignment], catalogue.mistake_answers(mistake)), path)
    submission = load_submission(path)
    assert mistake.name not in submission.errors, submission.errors
    results = run_checks(submission, names=[mistake.name])
    failed = {k: v for k, v in results.items() if v}
    assert failed, f"{mistake.id} ({mistake.misconception}) passed every check of {mistake.name}"
    for message in failed.values():
        assert "Traceback" not in message and "def " not in message


# ---------------------------------------------------------------------------------------------------------
# Robustness: syntax errors, banned helpers, clean failures
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_syntax_error_fails_only_its_own_cell(assignment: str, released, tmp_path) -> None:
    # The first graded answer is one nothing else builds on, so breaking it costs only its own checks.
    answers = catalogue.reference_answers(assignment)
    broken = catalogue.graded_names(assignment)[0]
    answers[broken] = answers[broken].replace("def ", "def (", 1) + "\n  oops("
    path = tmp_path / "syntax.ipynb"
    nbformat.write(catalogue.fill_notebook(released[assignment], answers), path)
    submission = load_submission(path)
    assert "syntax error" in submission.errors[broken]
    results = run_checks(submission)
    failing = {k for k, v in results.items() if v}
    own = {c.__name__ for c in checks_for(assignment)[broken]}
    assert failing == own
    assert all("syntax error" in results[name] for name in own)


def test_infinite_loop_in_a_cell_times_out(released, tmp_path) -> None:
    answers = {"ANSWER_Q1": "while True:\n    pass"}
    path = tmp_path / "loop.ipynb"
    nbformat.write(catalogue.fill_notebook(released["a1_freezing_basics"], answers), path)
    submission = load_submission(path, timeout=1)
    assert "more than 1 s" in submission.errors["ANSWER_Q1"]


def test_banned_freezelab_helper_loses_the_points(monkeypatch) -> None:
    # A stand-in for freezelab.inspect, so this test does not depend on that module's progress.
    fake = types.ModuleType("freezelab.inspect")
    exec("def count_parameters(model, trainable_only=False):\n"
         "    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)\n",
         fake.__dict__)
    fake.count_parameters.__module__ = "freezelab.inspect"
    monkeypatch.setitem(sys.modules, "freezelab.inspect", fake)
    helper = fake.count_parameters

    def learner(model, trainable_only=False):
        return helper(model, trainable_only)

    check = checks_for("a1_freezing_basics")["count_parameters"][0]
    with pytest.raises(CheckFailed, match="off limits"):
        check(learner)
    with banned_helpers():
        pass
    assert helper(__import__("torch").nn.Linear(2, 2)) == 6, "the helper is restored after the check"


@pytest.mark.parametrize("module, helper, target", [
    ("freezelab.plans", "eval_frozen_batchnorm", "set_frozen_bn_eval"),
    ("freezelab.features", "frozen_backbone", "feature_extractor"),
])
def test_real_course_helpers_are_refused(module: str, helper: str, target: str) -> None:
    function = getattr(pytest.importorskip(module), helper, None)
    if function is None:
        pytest.skip(f"{module}.{helper} does not exist (any more)")
    assignment = next(a for a in ASSIGNMENTS if target in catalogue.graded_names(a))

    def learner(*args):
        function(args[0])
        return args[0]

    with pytest.raises(CheckFailed, match="off limits"):
        checks_for(assignment)[target][0](learner)


def test_a_helper_imported_inside_the_answer_is_refused(monkeypatch) -> None:
    monkeypatch.delitem(sys.modules, "freezelab.plans", raising=False)  # not imported before the check runs
    assignment = next(a for a in ASSIGNMENTS if "set_frozen_bn_eval" in catalogue.graded_names(a))

    def learner(model):
        from freezelab.plans import eval_frozen_batchnorm

        eval_frozen_batchnorm(model)
        return model

    with pytest.raises(CheckFailed, match="freezelab.plans.eval_frozen_batchnorm is off limits"):
        checks_for(assignment)["set_frozen_bn_eval"][0](learner)
    model = __import__("torch").nn.Sequential(__import__("torch").nn.BatchNorm1d(2))
    sys.modules["freezelab.plans"].eval_frozen_batchnorm(model)  # works again once the check is over


@pytest.mark.filterwarnings("ignore:a UserWarning")
def test_checks_swallow_stderr_of_correct_answers(capsys) -> None:
    # nbgrader scores a test cell with any stderr as 0: warnings and progress bars must not cost points.
    import warnings

    def noisy(model, trainable_only=False):
        warnings.warn("a UserWarning from somewhere in torch", UserWarning, stacklevel=1)
        print("epoch 1/1: 100%|##########| 3/3 [00:00<00:00, 99.0it/s]", file=sys.stderr)
        return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)

    for check in checks_for("a1_freezing_basics")["count_parameters"]:
        check(noisy)
    assert capsys.readouterr().err == ""


def test_check_failure_shows_no_checking_code() -> None:
    import traceback

    check = checks_for("a1_freezing_basics")["freeze_module"][0]
    with pytest.raises(CheckFailed) as info:
        check(lambda module: module)
    text = "".join(traceback.format_exception(info.value))
    assert "requires_grad=True" in text
    assert "for_all(" not in text and "sgd_step" not in text and "_run_quietly" not in text


def test_registry_names_match_assignments() -> None:
    for assignment in ASSIGNMENTS:
        checks_for(assignment)
    assert {name.rsplit(".", 1)[-1] for name in REGISTRY} == set(ASSIGNMENTS)
    with pytest.raises(ValueError, match="unknown assignment"):
        checks_for("a9")
    with pytest.raises(KeyError, match="no autograded-answer cell"):
        catalogue.fill_notebook(catalogue.release_notebook("a1_freezing_basics"), {"nope": "x = 1"})


# ---------------------------------------------------------------------------------------------------------
# The pytest route: pytest autograder --submission PATH
# ---------------------------------------------------------------------------------------------------------

def _pytest_route(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pytest", str(AUTOGRADER), "-v", "-p", "no:cacheprovider", "-o", "addopts=",
           *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)


@pytest.mark.slow
def test_pytest_route_on_reference_and_mistake(released, tmp_path) -> None:
    assignment = "a1_freezing_basics"
    good = tmp_path / "good.ipynb"
    nbformat.write(catalogue.fill_notebook(released[assignment], catalogue.reference_answers(assignment)), good)
    mistake = next(m for m in catalogue.MISTAKES if m.id == "a1-count-tensors")
    bad = tmp_path / "bad.ipynb"
    nbformat.write(catalogue.fill_notebook(released[assignment], catalogue.mistake_answers(mistake)), bad)

    result = _pytest_route("--submission", str(good), "--submission", str(bad))
    outcome = dict(re.findall(r"test_hidden_check\[(\S+)\] (PASSED|FAILED)", result.stdout))
    checks = [c.__name__ for _, c in checks_of(assignment)]
    assert sorted(outcome) == sorted([f"good-{c}" for c in checks] + [f"bad-{c}" for c in checks]), result.stdout
    assert all(outcome[f"good-{c}"] == "PASSED" for c in checks), result.stdout[-3000:]
    failed = {c for c in checks if outcome[f"bad-{c}"] == "FAILED"}
    assert failed and failed <= {c.__name__ for c in checks_for(assignment)["count_parameters"]}
    assert result.returncode == 1
    assert "counted parameter tensors" in result.stdout  # the learner's message, not the check's code

