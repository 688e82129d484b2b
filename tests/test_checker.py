"""The trusted checker and its sandboxed executor: plain data only, exact types, state round trips, limits."""

from __future__ import annotations

import copy

import nbformat
import pytest
import torch
from torch import nn

from freezelab import paths
from freezelab.grading import checker, nbplugins
from freezelab.grading.checker import AnswerStopped, Cell, Session


@pytest.fixture(scope="module")
def launcher():
    from freezelab.grading.sandbox import isolation_available

    with checker.Launcher(isolate=isolation_available()[0]) as running:
        yield running


def session(launcher, code: str, names: list[str], **limits) -> Session:
    s = Session(launcher, [Cell("setup", "import torch\nfrom torch import nn", False), Cell("answer", code, True)],
                names, **limits)
    s.start()
    return s


def test_values_come_back_with_exact_types(launcher):
    s = session(launcher, """
class Equal(int):
    def __eq__(self, other):
        return True
def forged():
    return Equal(3)
def honest():
    return [3, 2.5, "c", None, True, (1, {"a": torch.ones(2)})]
LETTER = "b"
""", ["forged", "honest", "LETTER", "missing"])
    try:
        value = s.answer("forged")()
        assert type(value).__name__ == "Equal" and value != 3 and not isinstance(value, int)
        got = s.answer("honest")()
        assert got[:5] == [3, 2.5, "c", None, True] and type(got[4]) is bool
        assert torch.equal(got[5][1]["a"], torch.ones(2))
        assert s.answer("LETTER") == "b"
        with pytest.raises(AssertionError, match="missing is not available"):
            s.answer("missing")
    finally:
        s.close()


def test_model_and_optimizer_state_round_trip(launcher):
    s = session(launcher, """
def freeze_first(model):
    model[0].requires_grad_(False)
    model.eval()
    with torch.no_grad():
        model[1].weight.fill_(2.0)
    return model
def add_group(model, optimizer):
    model[0].requires_grad_(True)
    optimizer.add_param_group({"params": list(model[0].parameters()), "lr": 0.5})
def new_head(model):
    model[1] = nn.Linear(3, 7)
    return model
class Mine(nn.Module):
    def forward(self, x):
        return x
def custom(model):
    model[1] = Mine()
""", ["freeze_first", "add_group", "new_head", "custom"])
    try:
        model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2))
        s.begin("freeze_first")
        assert s.answer("freeze_first")(model) is model
        assert [p.requires_grad for p in model.parameters()] == [False, False, True, True]
        assert not model.training and torch.equal(model[1].weight, torch.full((2, 3), 2.0))
        optimizer = torch.optim.SGD(model[1].parameters(), lr=0.1, momentum=0.9)
        s.answer("add_group")(model, optimizer)
        assert len(optimizer.param_groups) == 2 and optimizer.param_groups[1]["lr"] == 0.5
        assert optimizer.param_groups[1]["params"][0] is model[0].weight
        assert optimizer.param_groups[1]["momentum"] == 0.9  # filled in by add_param_group
        old = model[0]
        s.answer("new_head")(model)
        assert model[0] is old and type(model[1]) is nn.Linear and model[1].out_features == 7
        assert model(torch.ones(1, 3)).shape == (1, 7)
        s.answer("custom")(model)
        with pytest.raises(RuntimeError, match="cannot be run by the grader"):
            model(torch.ones(1, 3))
    finally:
        s.close()


def test_exceptions_keep_builtin_classes_only(launcher):
    s = session(launcher, """
def bad(name):
    raise ValueError(f"unknown name {name}")
class Sneaky(Exception):
    pass
def sneaky():
    raise Sneaky("no")
def fake_assert():
    raise AssertionError("passed")
""", ["bad", "sneaky", "fake_assert"])
    try:
        with pytest.raises(ValueError, match="unknown name layr2"):
            s.answer("bad")("layr2")
        with pytest.raises(Exception, match="no") as info:
            s.answer("sneaky")()
        assert type(info.value).__name__ == "Sneaky" and type(info.value).__module__ == checker.__name__
        with pytest.raises(Exception) as info:  # an AssertionError from the child is never a verdict
            s.answer("fake_assert")()
        assert not isinstance(info.value, AssertionError)
    finally:
        s.close()


def test_a_hanging_call_is_killed_and_costs_only_its_answer(launcher):
    s = session(launcher, """
def hang():
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        pass
def fine():
    return 1
""", ["hang", "fine"], call_timeout=2)
    try:
        s.begin("hang")
        with pytest.raises(AnswerStopped, match="more than 2 s, the time limit of one answer"):
            s.answer("hang")()
        with pytest.raises(AnswerStopped, match="remaining checks were not run"):
            s.answer("hang")()  # never run twice
        s.begin("fine")
        assert s.answer("fine")() == 1  # a fresh child for the next answer
    finally:
        s.close()


def test_the_reason_names_the_limit_that_stopped_it(launcher):
    """A call cut short by the whole submission's deadline says so, with that limit, not the answer's."""
    import time

    code = "def hang():\n    while True:\n        pass\ndef fine():\n    return 1\n"
    s = session(launcher, code, ["hang", "fine"], call_timeout=120, deadline=time.monotonic() + 8, timeout=8)
    try:
        s.begin("hang")
        with pytest.raises(AnswerStopped) as stopped:
            s.answer("hang")()
        assert "the whole submission ran for more than 8 s, its time limit" in str(stopped.value)
        assert "120" not in str(stopped.value)
    finally:
        s.close()
    assert str(checker.TimeLimit(60)) == "it ran for more than 60 s, the time limit of one answer (killed)"


def test_a_cell_that_ignores_alarms_is_killed_once(launcher):
    cells = [Cell("loop", "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass",
                  True), Cell("ok", "def ok():\n    return 2", True)]
    s = Session(launcher, cells, ["loop", "ok"], cell_timeout=2)
    try:
        s.start()
        assert "more than 2 s" in s.cell_errors["loop"]
        assert s.answer("ok")() == 2
        assert len(s.notes) == 1 and "not run again" in s.notes[0]
    finally:
        s.close()


def test_a_forged_reply_is_refused(launcher):
    s = session(launcher, """
import gc, json, socket, struct
def forge():
    for sock in [o for o in gc.get_objects() if isinstance(o, socket.socket)]:
        data = json.dumps({"op": "result", "value": {"v": 63}, "state": "everything passed"}).encode()
        sock.sendall(struct.pack("<II", len(data), 0) + data)
    return 0
""", ["forge"])
    try:
        s.begin("forge")
        with pytest.raises(AnswerStopped, match="could not be read back"):
            s.answer("forge")()
    finally:
        s.close()


def _released() -> nbformat.NotebookNode:
    meta = {"grade": False, "grade_id": "f", "locked": False, "schema_version": 3, "solution": True,
            "task": False}
    test = dict(meta, grade=True, solution=False, grade_id="test_f", locked=True, points=2)
    return nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("def f():\n    raise NotImplementedError()", metadata={"nbgrader": meta}),
        nbformat.v4.new_code_cell("assert f() == 1", metadata={"nbgrader": test})])


def test_reconcile_keeps_answers_and_ignores_tampering():
    released = _released()
    sub = copy.deepcopy(released)
    sub.cells[0].source = "def f():\n    return 1"
    sub.cells[1].source = "pass"  # an edited test cell
    dup = copy.deepcopy(sub.cells[0])
    dup.source = "def f():\n    return 2"
    bonus = copy.deepcopy(sub.cells[1])
    bonus.metadata["nbgrader"].update(grade_id="bonus", points=100)
    sub.cells += [dup, bonus, nbformat.v4.new_code_cell("print('mine')")]
    nb, notes = nbplugins.reconcile(released, sub)
    assert [c.source for c in nb.cells] == ["def f():\n    return 1", "assert f() == 1"]
    assert any("'bonus' is not part of the assignment" in n for n in notes)
    assert any("'f' appears more than once" in n for n in notes)
    assert any("1 cell(s) added by the student were not run" in n for n in notes)
    assert "test cell 'test_f' was edited: the released one was used" in notes


@pytest.mark.parametrize("tamper, note", [
    (lambda nb: nb.cells.pop(1), "test cell 'test_f' is missing from the submission: the released one was used"),
    (lambda nb: nb.cells[1].metadata["nbgrader"].update(points=100),
     "test cell 'test_f' had its grading settings changed: the released one was used"),
    (lambda nb: nb.cells[1].metadata["nbgrader"].update(grade=False, solution=True),
     "test cell 'test_f' had its grading settings changed: the released one was used"),
    (lambda nb: None, None),  # untouched: nothing to say
])
def test_reconcile_says_when_a_test_cell_was_tampered_with(tamper, note):
    released = _released()
    sub = copy.deepcopy(released)
    tamper(sub)
    nb, notes = nbplugins.reconcile(released, sub)
    assert nb.cells[1].source == "assert f() == 1" and nb.cells[1].metadata["nbgrader"]["points"] == 2
    assert notes == ([note] if note else [])


def test_verdicts_become_outputs(tmp_path, monkeypatch):
    nb = _released()
    report = checker.Report({"test_f": (False, "f returned 2")}, {"f": "hello\n"})
    path = nbplugins.verdicts_path(tmp_path, "alice", "a", "a")
    path.parent.mkdir(parents=True)
    path.write_text(__import__("json").dumps(report.to_json()))
    monkeypatch.setenv(paths.VERDICTS_ENV, str(tmp_path))
    out, _ = nbplugins.CheckerVerdicts().preprocess(
        nb, {"nbgrader": {"student": "alice", "assignment": "a", "notebook": "a"}})
    assert out.cells[0].outputs[0]["text"] == "hello\n"
    assert out.cells[1].outputs[0]["output_type"] == "error" and out.cells[1].outputs[0]["evalue"] == "f returned 2"
    report.verdicts["test_f"] = (True, "")
    path.write_text(__import__("json").dumps(report.to_json()))
    out, _ = nbplugins.CheckerVerdicts().preprocess(
        _released(), {"nbgrader": {"student": "alice", "assignment": "a", "notebook": "a"}})
    assert out.cells[1].outputs == [] and out.cells[1].execution_count


def test_course_helpers_refuse_inside_the_child(launcher):
    s = session(launcher, """
from freezelab.inspect import trainable_names
def uses_helper(model):
    return trainable_names(model)
""", ["uses_helper"])
    try:
        with pytest.raises(PermissionError, match="off limits in graded answers"):
            s.answer("uses_helper")(nn.Linear(2, 2))
    finally:
        s.close()


def test_a_helper_imported_inside_the_answer_is_refused_and_the_allowed_ones_work(launcher):
    s = session(launcher, """
import sys
def imported_yet(model):
    return "freezelab.bench" in sys.modules
def late_import(model):
    from freezelab.bench import default_stages  # imported by nothing before this call: the import hook refuses it
    return default_stages(model)
def allowed(model):
    from freezelab.device import pick_device  # reads freezelab.paths, which stays allowed
    return str(pick_device("cpu"))
""", ["imported_yet", "late_import", "allowed"])
    try:
        assert s.answer("allowed")(nn.Linear(2, 2)) == "cpu"
        assert s.answer("imported_yet")(nn.Linear(2, 2)) is False
        with pytest.raises(PermissionError, match="freezelab.bench.default_stages is off limits in graded answers"):
            s.answer("late_import")(nn.Linear(2, 2))
    finally:
        s.close()


def test_the_memory_limit_is_the_one_the_grader_was_given():
    from freezelab.grading.sandbox import isolation_available

    with checker.Launcher(isolate=isolation_available()[0], memory_mib=1024) as small:
        s = session(small, """
def hog(model):
    block = bytearray(1536 * 2**20)  # more than the 1024 MiB this grader allows (the default allows 3072)
    return len(block)
def fine(model):
    return len(bytearray(64 * 2**20))
""", ["hog", "fine"])
        try:
            assert s.answer("fine")(nn.Linear(2, 2)) == 64 * 2**20
            with pytest.raises(MemoryError):
                s.answer("hog")(nn.Linear(2, 2))
        finally:
            s.close()


def test_grade_refuses_too_little_memory(capsys):
    from freezelab.grading import grade

    with pytest.raises(SystemExit) as stopped:
        grade.main(["somewhere", "--memory", "512"])
    assert stopped.value.code == 2
    assert "--memory 512 is too little" in capsys.readouterr().err
