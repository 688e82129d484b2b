"""Quizzes, flashcards and progress for the lessons.

    from freezelab.quiz import show, flashcards, progress_overview, reset_progress, load_bank
    show(topic="requires_grad", difficulty="easy", n=5)
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from IPython.display import HTML

from . import progress
from .bank import load_bank, select
from .judge import score
from .progress import reset_progress
from .schema import TOPICS, BankError
from .widgets import Deck, Quiz

__all__ = ["show", "flashcards", "progress_overview", "reset_progress", "load_bank", "BankError",
           "Quiz", "Deck"]


def show(topic: str | Iterable[str] | None = None, difficulty: str | Iterable[str] | None = None,
         n: int | None = None, ids: Iterable[str] | None = None,
         types: str | Iterable[str] | None = None, tags: str | Iterable[str] | None = None,
         seed: int | None = None) -> Quiz:
    """A quiz from the bank, filtered by topic, difficulty, ids, item types or tags such as
    "interview"; n items spread over topics (or sampled with `seed`); flashcards only on request."""
    items = load_bank()
    if ids is None and types is None:
        types = ["mcq", "multi", "code-output", "predict", "free-response"]
    picked = select(items, topic=topic, difficulty=difficulty, n=n, ids=ids, types=types,
                    tags=tags, seed=seed)
    title = "Quiz" + (f": {topic}" if isinstance(topic, str) else "")
    return Quiz(picked, title=title)


def flashcards(topic: str | Iterable[str] | None = None) -> Deck:
    """A flashcard deck for one topic (or all topics)."""
    cards = select(load_bank(), topic=topic, types="flashcard")
    return Deck(cards, title="Flashcards" + (f": {topic}" if isinstance(topic, str) else ""))


def progress_overview() -> HTML:
    """A table of answered / correct items per topic, from the saved progress (scored as quizzes are)."""
    saved, bank = progress.load(), load_bank()
    rows = []
    for topic in TOPICS:
        items = [i for i in bank if i["topic"] == topic]
        first, later, _, answered = score(items, saved)
        rows.append(f"<tr><td>{html.escape(topic)}</td><td>{len(items)}</td>"
                    f"<td>{answered}</td><td>{first}</td><td>{later}</td></tr>")
    return HTML("<table><caption>Quiz progress per topic</caption><thead><tr><th>topic</th>"
                "<th>items</th><th>answered</th><th>right first try</th><th>right after retrying</th>"
                "</tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table>"
                f"<p><small>saved in {html.escape(str(progress.progress_path()))}</small></p>")
