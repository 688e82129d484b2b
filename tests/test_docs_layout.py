"""The README's layout table and the docs name folders and modules that exist (they drifted once)."""

import importlib.util
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _layout_rows() -> dict[str, str]:
    rows = re.findall(r"^\| `([\w./-]+)/` \| (.*) \|$", (ROOT / "README.md").read_text(encoding="utf-8"), re.M)
    return dict(rows)


def test_every_tracked_top_level_folder_has_a_row_and_every_row_a_folder():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    folders = {line.split("/")[0] for line in tracked.splitlines() if "/" in line and not line.startswith(".")}
    rows = _layout_rows()
    named = {name.split("/")[0] for name in rows}
    assert folders <= named, f"README's layout table misses {sorted(folders - named)}"
    assert all((ROOT / name).is_dir() for name in rows), [n for n in rows if not (ROOT / n).is_dir()]


def test_the_package_row_names_only_modules_that_exist():
    row = _layout_rows()["src/freezelab"]
    for name in re.findall(r"`(\w+)/?`", row):
        if name == "freezelab":
            continue
        assert importlib.util.find_spec(f"freezelab.{name}") is not None, f"README names freezelab.{name}"


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent is a module, not a package: `name` is an attribute
        return False


def test_docs_name_freezelab_modules_that_exist():
    missing = []
    for doc in DOCS:
        for dotted in set(re.findall(r"\bfreezelab(?:\.\w+)+", doc.read_text(encoding="utf-8"))):
            if "NN" in dotted:  # a pattern such as freezelab.lessons.lNN_slug, not a name
                continue
            parts = dotted.split(".")
            # the longest importable prefix must exist; what follows it is an attribute of that module
            found = next((i for i in range(len(parts), 1, -1) if _is_module(".".join(parts[:i]))), None)
            if found is None:
                missing.append(f"{doc.name}: {dotted}")
            elif found < len(parts):
                module = importlib.import_module(".".join(parts[:found]))
                if not hasattr(module, parts[found]):
                    missing.append(f"{doc.name}: {dotted}")
    assert not missing, "docs name what does not exist: " + ", ".join(sorted(missing))
