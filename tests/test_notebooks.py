"""Every lesson notebook: in sync with its jupytext source, committed without outputs, and run by nbval.

Cells tagged `check-output` must print exactly their golden text (notebooks/expected/<slug>.json);
other cells only have to run without error. Re-record goldens with `python -m tools.record_notebook_outputs`.
"""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import pytest

from tools.record_notebook_outputs import (
    NOTEBOOKS,
    RECORD_CMD,
    cell_keys,
    golden_path,
    inject_goldens,
    is_checked,
    notebook_paths,
    run_env,
)

SANITIZE = Path(__file__).with_name("nbval_sanitize.cfg")
LESSONS = ("00_start_here", "01_requires_grad", "02_counting", "03_strategies", "04_transfer",
           "05_workflows", "06_pitfalls", "07_speed", "08_evaluation", "09_peft", "10_cheat_sheet",
           "11_real_training")
PATHS = notebook_paths()


def run_nbval(notebook: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run nbval on a notebook whose tagged cells hold their goldens, with the library-wording sanitizer.

    Goldens pin what a lesson teaches, not how torch or torchvision word a message: the rules in
    nbval_sanitize.cfg reduce such messages to the part that carries the lesson on both sides.
    """
    cmd = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
           "-q", "--color=no", "--nbval-cell-timeout=120", "--nbval-sanitize-with", str(SANITIZE),
           notebook.name]
    return subprocess.run(cmd, cwd=notebook.parent, env=env, capture_output=True, text=True, timeout=600)


def _cells(nb) -> list[tuple[str, str, bool]]:
    return [(c.cell_type, c.source.strip(), is_checked(c)) for c in nb.cells]


def test_notebooks_are_lessons():
    """Every notebook has a jupytext source; names follow NN_slug."""
    assert PATHS, "no notebooks found in notebooks/"
    for path in PATHS:
        assert path.with_suffix(".py").exists(), f"{path.name} has no paired {path.stem}.py"
    for py in NOTEBOOKS.glob("[0-9][0-9]_*.py"):
        assert py.with_suffix(".ipynb").exists(), (
            f"{py.name} has no notebook: run `jupytext --to ipynb {py.name}` in notebooks/")


@pytest.mark.skipif(len(PATHS) < len(LESSONS), reason="the course is still being written")
def test_all_lessons_exist():
    """The whole course, 00 to 11, is there."""
    assert sorted(p.stem for p in PATHS) == sorted(LESSONS)


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_in_sync_and_clean(path: Path):
    """The .ipynb has the same cells as its .py, no outputs, and the python3 kernelspec."""
    ipynb = nbformat.read(path, as_version=4)
    py = jupytext.read(path.with_suffix(".py"))
    fix = f"run `jupytext --sync notebooks/{path.stem}.py` (or --to ipynb --update) and commit both files"
    assert _cells(ipynb) == _cells(py), f"{path.name} and {path.stem}.py differ: {fix}"
    for i, cell in enumerate(ipynb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, (
                f"{path.name} cell {i} has outputs committed: clear them ({fix})")
    assert ipynb.metadata.get("kernelspec", {}).get("name") == "python3", (
        f"{path.name} must use the 'python3' kernelspec")


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_goldens_match_tagged_cells(path: Path):
    """Every check-output cell has a golden and every golden belongs to a current cell (fast check)."""
    keys = set(cell_keys(nbformat.read(path, as_version=4)).values())
    gpath = golden_path(path)
    goldens = set(json.loads(gpath.read_text())) if gpath.exists() else set()
    fix = f"run `{RECORD_CMD} {path.stem}` and commit notebooks/expected/{gpath.name}"
    assert keys <= goldens, f"{path.name}: {len(keys - goldens)} tagged cell(s) without a golden: {fix}"
    assert goldens <= keys, f"{path.name}: stale goldens for cells that changed or were removed: {fix}"


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs_and_prints_goldens(path: Path, tmp_path: Path):
    """nbval runs the notebook top to bottom and compares tagged cells with their goldens."""
    work = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, work, ignore=shutil.ignore_patterns("expected", ".ipynb_checkpoints"))
    checked = inject_goldens(path, work / path.name)
    start = time.perf_counter()
    proc = run_nbval(work / path.name, env=run_env(tmp_path / "data"))
    seconds = time.perf_counter() - start
    (tmp_path / "wall_time.json").write_text(json.dumps({"notebook": path.name, "seconds": seconds}))
    print(f"{path.name}: {seconds:.1f} s, {checked} checked cells")
    assert proc.returncode == 0, (
        f"{path.name} failed under nbval (if a checked output changed on purpose, re-record with "
        f"`{RECORD_CMD} {path.stem}`):\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}")


def test_missing_golden_is_reported(tmp_path: Path):
    """A tagged cell without a recorded golden fails with the command that fixes it."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(1)", metadata={"tags": ["check-output"]})]
    path = tmp_path / "99_not_a_lesson.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(LookupError, match="record_notebook_outputs 99_not_a_lesson"):
        inject_goldens(path, tmp_path / "out.ipynb")


GOLDEN_MISMATCH = "RuntimeError: mat1 and mat2 shapes cannot be multiplied (1x576 and 1024x5)\n"
SANITIZER_CASES = [  # (what a fresh run prints, should it match the golden above?)
    (GOLDEN_MISMATCH, True),                                               # same text
    (GOLDEN_MISMATCH.replace(": mat1", ": addmm: mat1"), True),            # torch 2.14 adds a prefix
    (GOLDEN_MISMATCH.replace("mat1 and mat2", "input and weight"), True),  # other wording, same lesson
    (GOLDEN_MISMATCH.replace("1x576", "1x1024"), False),                   # the shapes are the lesson
    (GOLDEN_MISMATCH.replace("RuntimeError", "ValueError"), False),        # so is the exception type
]


def test_sanitizer_keeps_the_lesson_and_drops_the_wording(tmp_path: Path):
    """A changed message prefix still passes; changed shapes or exception type still fail (one nbval run)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for printed, _ in SANITIZER_CASES:
        cell = nbformat.v4.new_code_cell(f"print({printed!r}, end='')",
                                         metadata={"tags": ["nbval-check-output"]})
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=GOLDEN_MISMATCH)]
        cell.execution_count = 1  # nbval refuses outputs on a cell that never ran
        nb.cells.append(cell)
    nbformat.write(nb, tmp_path / "golden.ipynb")
    proc = run_nbval(tmp_path / "golden.ipynb")
    failed = {int(n) for n in re.findall(r"FAILED \S*::Cell (\d+)", proc.stdout)}
    expected = {i for i, (_, passes) in enumerate(SANITIZER_CASES) if not passes}
    assert failed == expected, proc.stdout[-3000:]


def test_sanitizer_rules_all_match_a_golden():
    """Every rule in nbval_sanitize.cfg is still needed: it matches some recorded golden output."""
    rules = configparser.ConfigParser()
    rules.read(SANITIZE)
    texts = [json.loads(p.read_text()) for p in (NOTEBOOKS / "expected").glob("*.json")]
    printed = "\n".join(o.get("stdout", "") + o.get("text/plain", "") for t in texts for cell in t.values()
                        for o in cell["outputs"])
    assert rules.sections(), f"{SANITIZE.name} has no rules"
    for name in rules.sections():
        assert re.search(rules[name]["regex"], printed), f"sanitizer rule [{name}] matches no golden: drop it"
