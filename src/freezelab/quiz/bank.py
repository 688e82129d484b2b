"""Load the question bank from course_content/quiz/*.yaml and pick items from it."""

from __future__ import annotations

import random
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from ..paths import quiz_dir
from .schema import DIFFICULTIES, TOPICS, TYPES, BankError, validate_item

Item = dict[str, Any]


def bank_dir() -> Path:
    """Where the bank lives: $FREEZELAB_QUIZ_DIR, else course_content/quiz in the repo or bundle."""
    return quiz_dir()


def load_file(path: Path) -> list[Item]:
    """Parse and validate one bank file (a YAML list of items)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BankError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, list):
        raise BankError(f"{path}: expected a YAML list of items, got {type(data).__name__}")
    for item in data:
        validate_item(item, str(path))
    return data


@lru_cache(maxsize=8)
def _load(directory: str) -> tuple[Item, ...]:
    files = sorted(Path(directory).glob("*.yaml"))
    if not files:
        raise BankError(f"{directory}: no quiz bank files (*.yaml) found; "
                        "set FREEZELAB_QUIZ_DIR to the course_content/quiz folder")
    items: list[Item] = []
    seen: dict[str, Path] = {}
    for path in files:
        for item in load_file(path):
            if item["id"] in seen:
                raise BankError(f"{path}: item {item['id']!r}: field 'id': duplicate of the item "
                                f"in {seen[item['id']].name}")
            seen[item["id"]] = path
            items.append(item)
    return tuple(items)


def load_bank(directory: str | Path | None = None) -> list[Item]:
    """Return every item of the bank, validated; raise BankError on the first broken item."""
    return [dict(item) for item in _load(str(directory or bank_dir()))]


def _as_set(value: str | Iterable[str] | None, allowed: tuple[str, ...], what: str) -> set | None:
    if value is None:
        return None
    values = {value} if isinstance(value, str) else set(value)
    unknown = values - set(allowed)
    if unknown:
        raise ValueError(f"unknown {what} {sorted(unknown)}; choose from {', '.join(allowed)}")
    return values


def select(items: list[Item], topic=None, difficulty=None, n: int | None = None,
           ids: Iterable[str] | None = None, types=None, seed: int | None = None,
           tags=None) -> list[Item]:
    """Filter items by topic, difficulty, type, tags and ids; keep n (spread over topics, or a
    random sample when seed is given)."""
    topics = _as_set(topic, TOPICS, "topic")
    levels = _as_set(difficulty, DIFFICULTIES, "difficulty")
    kinds = _as_set(types, TYPES, "type")
    if ids is not None:
        by_id = {item["id"]: item for item in items}
        ids = [ids] if isinstance(ids, str) else list(ids)
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise ValueError(f"no quiz item with id {missing}; see load_bank() for the ids")
        items = [by_id[i] for i in ids]
    picked = [item for item in items
              if (topics is None or item["topic"] in topics)
              and (levels is None or item["difficulty"] in levels)
              and (kinds is None or item["type"] in kinds)]
    if tags is not None:
        wanted = {tags} if isinstance(tags, str) else set(tags)
        picked = [item for item in picked if wanted & set(item.get("tags", []))]
    if n is not None and n < len(picked):
        picked = random.Random(seed).sample(picked, n) if seed is not None else _spread(picked, n)
    return picked


def _spread(items: list[Item], n: int) -> list[Item]:
    """The first n items taken round-robin over topics, so a mixed review covers every lesson."""
    by_topic: dict[str, list[Item]] = {}
    for item in items:
        by_topic.setdefault(item["topic"], []).append(item)
    queues = list(by_topic.values())
    chosen: list[Item] = []
    while len(chosen) < n:
        for queue in queues:
            if queue and len(chosen) < n:
                chosen.append(queue.pop(0))
    order = {id(item): i for i, item in enumerate(items)}
    return sorted(chosen, key=lambda item: order[id(item)])
