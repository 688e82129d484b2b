"""Record the golden outputs of the lessons' `check-output` cells, and the helpers the harness shares.

Usage (from the repository root):

    python -m tools.record_notebook_outputs                 # every notebook
    python -m tools.record_notebook_outputs 01_requires_grad  # just these

Each notebook is executed top to bottom (nbclient, the current environment's kernel) and the text of
every code cell tagged `check-output` is written to `notebooks/expected/<slug>.json`. The harness in
`tests/test_notebooks.py` injects that text back into a temporary copy of the notebook and lets nbval
check that a fresh run prints exactly the same thing.

Goldens are keyed by a hash of the cell's source (plus an occurrence number), so moving a cell keeps its
golden, and editing a tagged cell asks you to re-record it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
EXPECTED = NOTEBOOKS / "expected"
CHECK_TAG = "check-output"
NBVAL_TAG = "nbval-check-output"
RECORD_CMD = "python -m tools.record_notebook_outputs"
KERNEL = "python3"


def notebook_paths() -> list[Path]:
    """All lesson notebooks, in course order."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def golden_path(notebook: Path) -> Path:
    """Where a notebook's golden outputs live."""
    return EXPECTED / f"{notebook.stem}.json"


def is_checked(cell) -> bool:
    """True for code cells tagged `check-output`."""
    return cell.cell_type == "code" and CHECK_TAG in cell.get("metadata", {}).get("tags", [])


def cell_keys(nb) -> dict[int, str]:
    """Map the index of each tagged cell to its golden key: source hash + occurrence number."""
    keys, seen = {}, {}
    for i, cell in enumerate(nb.cells):
        if is_checked(cell):
            digest = hashlib.sha256(cell.source.strip().encode()).hexdigest()[:16]
            seen[digest] = seen.get(digest, 0) + 1
            keys[i] = f"{digest}#{seen[digest]}"
    return keys


def run_env(data_dir: Path) -> dict[str, str]:
    """Environment for running notebooks: quiz progress in a temp dir, no GUI backend, colour off.

    One intra-op thread unless OMP_NUM_THREADS says otherwise: the lessons' models are tiny, and on a
    busy 2-core machine two spinning threads made them up to 10x slower, not faster.
    """
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(FREEZELAB_DATA_DIR=str(data_dir), MPLBACKEND="Agg", NO_COLOR="1",
               PYTHONHASHSEED="0")
    return env


def text_outputs(cell) -> list[dict[str, str]]:
    """The comparable outputs of an executed cell: stdout text and the text of its result.

    Raises ValueError when a tagged cell writes anything else (stderr, images, widgets): such output is
    not deterministic text, so the cell should not carry the `check-output` tag.
    """
    stdout, result = "", None
    for out in cell.outputs:
        if out.output_type == "stream" and out.name == "stdout":
            stdout += out.text
        elif out.output_type == "execute_result" and set(out.data) == {"text/plain"}:
            result = out.data["text/plain"]
        else:
            kind = out.get("name") or out.output_type
            raise ValueError(f"a check-output cell wrote {kind!r} output; tag only cells that print text:\n"
                             f"{cell.source[:200]}")
    outputs = [{"stdout": stdout}] if stdout else []
    if result is not None:
        outputs.append({"text/plain": result})
    return outputs


def execute(notebook: Path, timeout: int = 300):
    """Run a notebook top to bottom in a temp copy of the notebooks folder; return (executed nb, seconds)."""
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "notebooks"
        shutil.copytree(notebook.parent, work, ignore=shutil.ignore_patterns("expected", ".ipynb_checkpoints"))
        old_env = dict(os.environ)
        os.environ.update(run_env(Path(tmp) / "data"))
        try:
            start = time.perf_counter()
            NotebookClient(nb, timeout=timeout, kernel_name=KERNEL,
                           resources={"metadata": {"path": str(work)}}).execute()
            seconds = time.perf_counter() - start
        finally:
            os.environ.clear()
            os.environ.update(old_env)
    return nb, seconds


def record(notebook: Path) -> Path:
    """Execute one notebook and write the golden text of its tagged cells."""
    nb, seconds = execute(notebook)
    goldens = {}
    for i, key in cell_keys(nb).items():
        cell = nb.cells[i]
        goldens[key] = {"cell": i, "source_head": cell.source.strip().splitlines()[0][:80],
                        "outputs": text_outputs(cell)}
    EXPECTED.mkdir(parents=True, exist_ok=True)
    path = golden_path(notebook)
    path.write_text(json.dumps(goldens, indent=1, sort_keys=True) + "\n")
    print(f"{notebook.name}: {len(goldens)} checked cells recorded in {seconds:.1f} s -> "
          f"{path.relative_to(REPO)}")
    return path


def inject_goldens(notebook: Path, dest: Path) -> int:
    """Write a copy of `notebook` whose tagged cells carry their golden outputs for nbval to compare.

    Returns the number of checked cells. Raises LookupError naming the cell when a golden is missing.
    """
    nb = nbformat.read(notebook, as_version=4)
    gpath = golden_path(notebook)
    goldens = json.loads(gpath.read_text()) if gpath.exists() else {}
    for i, key in cell_keys(nb).items():
        if key not in goldens:
            head = nb.cells[i].source.strip().splitlines()[0][:80]
            raise LookupError(
                f"{notebook.name} cell {i} ({head!r}) is tagged check-output but has no golden output "
                f"(new or edited cell): run `{RECORD_CMD} {notebook.stem}` and commit {gpath.name}.")
        cell = nb.cells[i]
        cell.execution_count = 1  # nbval skips the comparison for cells that look unrun
        cell.outputs = []
        for out in goldens[key]["outputs"]:
            if "stdout" in out:
                cell.outputs.append(nbformat.v4.new_output("stream", name="stdout", text=out["stdout"]))
            else:
                cell.outputs.append(nbformat.v4.new_output("execute_result", data=dict(out),
                                                           execution_count=1))
        cell.metadata.setdefault("tags", []).append(NBVAL_TAG)
    nbformat.write(nb, dest)
    return len(cell_keys(nb))


def main(argv: list[str]) -> int:
    """Record goldens for the named notebooks (slugs or paths), or all of them."""
    paths = notebook_paths()
    if argv:
        wanted = {Path(a).stem for a in argv}
        unknown = wanted - {p.stem for p in paths}
        if unknown:
            print(f"no such notebook: {', '.join(sorted(unknown))} (choose from {[p.stem for p in paths]})",
                  file=sys.stderr)
            return 2
        paths = [p for p in paths if p.stem in wanted]
    for path in paths:
        record(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
