"""Helpers the lessons' claims tests share: recorded sweeps summarised, two comparisons, quoted texts."""

from __future__ import annotations

from pathlib import Path

import yaml

from freezelab.recipes import summarise
from freezelab.sweeps import measured

ROOT = Path(__file__).resolve().parents[1]


def best(name: str) -> dict[tuple[str, int], dict]:
    """`summarise` rows of a recorded sweep, by (recipe, epochs)."""
    return {(r["recipe"], r["epochs"]): r for r in summarise(measured(name))}


def clearly_above(a: dict, b: dict) -> bool:
    """a's mean is above b's by more than the larger of the two standard deviations."""
    return a["mean_acc"] - b["mean_acc"] > max(a["std_acc"], b["std_acc"])


def within_spread(a: dict, b: dict) -> bool:
    """The two means are closer than the larger of the two standard deviations."""
    return abs(a["mean_acc"] - b["mean_acc"]) < max(a["std_acc"], b["std_acc"])


def quiz_item(item_id: str, path: str = "course_content/quiz/00_course.yaml") -> dict:
    """One item of a quiz file, by id."""
    return next(item for item in yaml.safe_load((ROOT / path).read_text()) if item["id"] == item_id)


def cheat_sheet() -> str:
    """Lesson 10's source with the comment markers and line breaks folded away."""
    text = (ROOT / "notebooks/10_cheat_sheet.py").read_text()
    return " ".join(line.removeprefix("#").strip() for line in text.splitlines())
