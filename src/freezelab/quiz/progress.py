"""Per-learner progress: one small JSON file under the user's data directory.

This module owns the file and the shape of its records: widgets judge an answer (`judge.judge`) and
hand the verdict to `save`, which writes the one record shape: {"version": 2, "items": {item_id:
record}}, each record holding the FIELDS below (`correct` is None for practice items, and for a
flashcard it is the learner's rating: True "I knew it", False "still learning").

Version 1 files (written before `wrong` was kept) load as version 2: `wrong` is filled in as the
earlier widgets counted it.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..paths import data_dir
from .judge import Item, Verdict

FILENAME = "quiz_progress.json"
VERSION = 2
FIELDS = ("topic", "type", "answered", "correct", "attempts", "wrong", "first_try", "response", "updated")


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
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, dict) or not all(isinstance(e, dict) for e in items.values()):
            raise ValueError("unexpected layout")
        return {item_id: _upgrade(entry) for item_id, entry in items.items()}
    except (OSError, ValueError) as exc:
        backup = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        try:
            path.replace(backup)
        except OSError:
            backup = None
        print(f"freezelab: quiz progress file {path} was unreadable ({exc}); "
              f"starting fresh (old file kept as {backup}).", file=sys.stderr)
        return {}


def _upgrade(entry: dict[str, Any]) -> dict[str, Any]:
    """A record in the current shape; version 1 had no `wrong`: all attempts were wrong if the last was."""
    if entry.get("answered") and "wrong" not in entry:
        entry["wrong"] = entry.get("attempts", 0) if entry.get("correct") is False else 0
    return entry


def replace_file(path: Path, text: str, prefix: str | None = None) -> None:
    """Write `text` to `path` through a temp file in the same folder and a rename (keeping an old file's mode).

    A crash or a failed write never leaves half a file: the old one stays whole until the rename.
    """
    fd, tmp = tempfile.mkstemp(prefix=prefix or f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        if path.exists():
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write(items: dict[str, dict[str, Any]]) -> None:
    path = progress_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, json.dumps({"version": VERSION, "items": items}, indent=1, sort_keys=True), ".progress-")


def record(item_id: str, **fields: Any) -> dict[str, Any]:
    """Merge `fields` into the saved record of one item and return it (answers go through `save`)."""
    items = load()
    entry = items.get(item_id, {})
    entry.update(fields, updated=time.strftime("%Y-%m-%dT%H:%M:%S"))
    items[item_id] = entry
    _write(items)
    return entry


def save(item: Item, verdict: Verdict) -> dict[str, Any]:
    """Store the learner's judged answer to `item`: the one writer of answer records."""
    return record(item["id"], topic=item["topic"], type=item["type"], answered=True,
                  correct=verdict.correct, attempts=verdict.attempts, wrong=verdict.wrong,
                  first_try=verdict.first_try, response=verdict.response)


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
