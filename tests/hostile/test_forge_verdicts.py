"""Hostile submissions that try to forge their verdicts, graded in one batch with honest students.

Each hostile notebook is a blank or a reference notebook plus one trick from the catalogue of issue 9 (patched
checks, sys.modules, builtins, torch.nn.Module.parameters, always-equal int/str subclasses, IPython hooks, a
forged reply on the grader's socket, an extra 100-point grade cell, edited / deleted / duplicated / re-tagged
cells, corrupt files). It must earn no more than the honest notebook it is built on; the honest students'
grades in the batch must equal their grades alone; the course, the submissions and the feedback stay clean.
Every trick is bounded in time and size.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest
from _course import copy_course

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
A = "a1_freezing_basics"

# Tricks written into the first answer cell of a blank notebook (nothing else answered: the honest part is 0).
PATCH_CHECKS = """
import sys, pathlib
try:
    import freezelab
    sys.path.insert(0, str(pathlib.Path(freezelab.__file__).resolve().parents[2] / "autograder"))
    import freezelab_checks._common as common
    common.expect = lambda *args, **kwargs: None
    common._run_quietly.__code__ = (lambda *args: None).__code__
    common.CheckFailed = type("Never", (Exception,), {})
except Exception:
    pass
def freeze_module(module):
    return module
"""
SYS_MODULES = """
import sys, types
fake = types.ModuleType("freezelab_checks")
fake.__path__ = []
for name in ("freezelab_checks", "freezelab_checks._common", "freezelab_checks.a1_freezing_basics"):
    module = types.ModuleType(name)
    module.__getattr__ = lambda attr: (lambda *args, **kwargs: None)
    sys.modules[name] = module
def freeze_module(module):
    return module
"""
BUILTINS = """
import builtins
real_import = builtins.__import__
builtins.isinstance = lambda *args: True
builtins.AssertionError = type("Never", (Exception,), {})
def fake_import(name, *args, **kwargs):
    if name.startswith("freezelab_checks"):
        import types
        module = types.ModuleType(name)
        module.__getattr__ = lambda attr: (lambda *a, **k: None)
        return module
    return real_import(name, *args, **kwargs)
builtins.__import__ = fake_import
def freeze_module(module):
    return module
"""
MODULE_PARAMETERS = """
import torch
torch.nn.Module.parameters = lambda self, recurse=True: iter(())
torch.nn.Module.named_parameters = lambda self, *args, **kwargs: iter(())
torch.nn.Module.state_dict = lambda self, *args, **kwargs: {}
def freeze_module(module):
    return module
"""
ALWAYS_EQUAL = """
class Equal(int):
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    __hash__ = int.__hash__
def count_parameters(model, trainable_only=False):
    return Equal(0)
"""
IPYTHON_HOOKS = """
import sys
ip = get_ipython()
ip.events.register("post_run_cell", lambda result: print("26 / 26"))
ip.input_transformers_cleanup.append(lambda lines: [])
ip.set_custom_exc((Exception,), lambda *args, **kwargs: None)
"""
EXCEPT_HOOKS = """
import sys
sys.excepthook = lambda *args: None
sys.displayhook = lambda value: None
print('{"output_type": "execute_result", "data": {"text/plain": "26"}}')
def freeze_module(module):
    return module
"""
SOCKET_REPLY = """
import gc, json, socket, struct
def _forge(value):
    for sock in [o for o in gc.get_objects() if isinstance(o, socket.socket)]:
        data = json.dumps({"op": "result", "value": value}).encode()
        try:
            sock.sendall(struct.pack("<II", len(data), 0) + data)
        except OSError:
            pass
def count_parameters(model, trainable_only=False):
    _forge({"v": 63})
    return 0
"""


def _always_equal_str() -> str:
    return ('class Letter(str):\n    def __eq__(self, other):\n        return True\n'
            '    __hash__ = str.__hash__\nANSWER_Q1 = Letter("z")')


TRICKS = {  # name -> (answers on a blank notebook)
    "patch_checks": {"freeze_module": PATCH_CHECKS},
    "sys_modules": {"freeze_module": SYS_MODULES},
    "builtins": {"freeze_module": BUILTINS},
    "module_parameters": {"freeze_module": MODULE_PARAMETERS},
    "always_equal_int": {"count_parameters": ALWAYS_EQUAL},
    "always_equal_str": {"ANSWER_Q1": _always_equal_str()},
    "ipython_hooks": {"freeze_module": IPYTHON_HOOKS},
    "except_hooks": {"freeze_module": EXCEPT_HOOKS},
    "socket_reply": {"count_parameters": SOCKET_REPLY},
}


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _tests(nb) -> list:
    return [c for c in nb.cells if _meta(c).get("grade") and not _meta(c).get("solution")]


def tampered(released, reference) -> dict[str, tuple[nbformat.NotebookNode, str]]:
    """Notebook-level tricks: name -> (notebook, the honest student it is built on)."""
    out = {}
    extra = copy.deepcopy(reference)
    bonus = nbformat.v4.new_code_cell("pass", metadata={"nbgrader": {
        "grade": True, "grade_id": "bonus", "locked": False, "points": 100, "schema_version": 3,
        "solution": False, "task": False}})
    extra.cells.append(bonus)
    no_id = copy.deepcopy(bonus)
    del no_id.metadata["nbgrader"]["grade_id"]
    extra.cells.append(no_id)
    out["extra_grade_cell"] = (extra, "reference")
    edited = copy.deepcopy(released)
    for cell in _tests(edited):
        cell.source = "pass"
    out["edited_tests"] = (edited, "blank")
    deleted = copy.deepcopy(released)
    deleted.cells = [c for c in deleted.cells if c not in _tests(deleted)]
    out["deleted_tests"] = (deleted, "blank")
    retagged = copy.deepcopy(released)
    for cell in _tests(retagged):
        cell.metadata["nbgrader"].update(grade=False, solution=True)
        cell.source = "pass"
    out["retagged_tests"] = (retagged, "blank")
    duplicated = copy.deepcopy(released)
    answers = [c for c in reference.cells if _meta(c).get("solution") and c.cell_type == "code"]
    duplicated.cells += copy.deepcopy(answers)  # the reference answers, after the blank ones
    out["duplicated_answers"] = (duplicated, "blank")
    return out


def _tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _grade(lms: Path, course: Path, out: Path) -> subprocess.CompletedProcess:
    from freezelab.grading.sandbox import isolation_available

    cmd = [sys.executable, "-m", "freezelab.cli", "grade", str(lms), "--course", str(course), "--out", str(out),
           "--no-progress", "--assignment", A]
    if not isolation_available()[0]:
        cmd.append("--no-sandbox")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1800)


def _scores(out: Path) -> dict[str, dict[str, float]]:
    scores: dict[str, dict[str, float]] = defaultdict(dict)
    with open(out / "cells.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            scores[row["student_id"]][row["cell"]] = float(row["score"])
    return scores


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """The class graded in one batch, and the honest students graded alone."""
    tmp = tmp_path_factory.mktemp("forge")
    course, catalogue = copy_course(tmp)
    released = catalogue.release_notebook(A)
    reference = catalogue.fill_notebook(released, catalogue.reference_answers(A))
    mistake = next(m for m in catalogue.MISTAKES if m.id == "a1-count-tensors")
    honest = {"reference": reference, "blank": released,
              "mistake": catalogue.fill_notebook(released, catalogue.mistake_answers(mistake))}
    lms, alone = tmp / "lms", tmp / "alone"
    lms.mkdir()
    alone.mkdir()
    for name, nb in honest.items():
        nbformat.write(nb, lms / f"{name}.ipynb")
        nbformat.write(nb, alone / f"{name}.ipynb")
    base = {}
    for name, answers in TRICKS.items():
        nbformat.write(catalogue.fill_notebook(released, answers), lms / f"forge_{name}.ipynb")
        base[f"forge_{name}"] = "blank"
    for name, (nb, honest_twin) in tampered(released, reference).items():
        nbformat.write(nb, lms / f"forge_{name}.ipynb")
        base[f"forge_{name}"] = honest_twin
    (lms / "forge_corrupt.ipynb").write_text('{"cells": [ not json')
    (lms / "forge_not_a_notebook.ipynb").write_text(json.dumps({"cells": "none", "nbformat": 4}))
    before = {"course": _tree_hash(course), "lms": _tree_hash(lms)}
    proc = _grade(lms, course, tmp / "out")
    proc_alone = _grade(alone, course, tmp / "out_alone")
    after = {"course": _tree_hash(course), "lms": _tree_hash(lms)}
    return dict(tmp=tmp, proc=proc, proc_alone=proc_alone, base=base, honest=honest, before=before, after=after)


def test_batch_completes_and_names_every_failure(batch):
    proc = batch["proc"]
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]  # 1: the corrupt files failed
    assert "FAILED: 2 submission" in proc.stdout, proc.stdout[-3000:]
    assert "forge_corrupt" in proc.stdout and "forge_not_a_notebook" in proc.stdout
    assert "'bonus' is not part of the assignment" in proc.stdout


def test_honest_grades_equal_their_grades_alone(batch):
    assert batch["proc_alone"].returncode == 0, batch["proc_alone"].stdout[-3000:]
    together, alone = _scores(batch["tmp"] / "out"), _scores(batch["tmp"] / "out_alone")
    for name in batch["honest"]:
        assert together[name] == alone[name], name
    assert sum(alone["blank"].values()) == 0
    assert all(v > 0 for k, v in alone["reference"].items() if k.startswith("test_"))


def test_no_forgery_earns_more_than_its_honest_part(batch):
    scores = _scores(batch["tmp"] / "out")
    for student, twin in batch["base"].items():
        got = sum(v for k, v in scores[student].items() if k.startswith("test_"))
        honest = sum(v for k, v in scores[twin].items() if k.startswith("test_"))
        assert got <= honest, f"{student} earned {got} > {honest} of its honest twin {twin}"
        assert "bonus" not in scores[student], student
    for student in ("forge_corrupt", "forge_not_a_notebook"):
        assert sum(scores[student].values()) == 0


def test_nothing_outside_scratch_changed_and_no_check_source_leaks(batch):
    from freezelab.grading.course import CHECKS_PACKAGE, HIDDEN_BEGIN, SOLUTION_BEGIN

    assert batch["before"] == batch["after"]
    htmls = list((batch["tmp"] / "out" / "feedback").rglob("*.html"))
    assert htmls
    for html in htmls:
        text = html.read_text()
        assert CHECKS_PACKAGE not in text and HIDDEN_BEGIN not in text and SOLUTION_BEGIN not in text, html
        # names that only the checks' bodies use (a hostile cell may quote the helpers it tried to patch)
        assert not any(k in text for k in ("sgd_step", "for_all(", "net_specs(", "unique_params(")), html
