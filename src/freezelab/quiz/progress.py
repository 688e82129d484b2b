"""Per-learner progress: one small JSON file under the user's data directory."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..paths import data_dir

FILENAME = "quiz_progress.json"


def progress_path() -> Path:
    """The JSON file that holds this learner's answers."""
    return data_dir() / FILENAME


def load() -> dict[str, dict[str, Any]]:
    """Return {item_id: record}; a corrupt file is backed up and reset with one warning line."""
    path = progress_path()
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("items"), dict):
            raise ValueError("unexpected layout")
        return data["items"]
    except (OSError, ValueError) as exc:
        backup = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        try:
            path.replace(backup)
        except OSError:
            backup = None
        print(f"freezelab: quiz progress file {path} was unreadable ({exc}); "
              f"starting fresh (old file kept as {backup}).", file=sys.stderr)
        return {}


def _write(items: dict[str, dict[str, Any]]) -> None:
    path = progress_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write to a temp file in the same folder, then rename: a crash never leaves half a file.
    fd, tmp = tempfile.mkstemp(prefix=".progress-", suffix=".json", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"version": 1, "items": items}, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def record(item_id: str, **fields: Any) -> dict[str, Any]:
    """Merge `fields` into the saved record of one item and return the new record."""
    items = load()
    entry = items.get(item_id, {})
    entry.update(fields, updated=time.strftime("%Y-%m-%dT%H:%M:%S"))
    items[item_id] = entry
    _write(items)
    return entry


def get(item_id: str) -> dict[str, Any]:
    """The saved record of one item ({} if never answered)."""
    return load().get(item_id, {})


def reset_progress(topic: str | None = None) -> None:
    """Forget saved answers: all of them, or only those of one topic."""
    if topic is None:
        path = progress_path()
        if path.exists():
            path.unlink()
        return
    items = {k: v for k, v in load().items() if v.get("topic") != topic}
    _write(items)
