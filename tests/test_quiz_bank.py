"""The question bank: schema, counts, coverage, and every checkable answer verified by running it."""

from __future__ import annotations

import contextlib
import io
from collections import Counter

import pytest

from freezelab.quiz import load_bank
from freezelab.quiz.answers import squash
from freezelab.quiz.schema import DIFFICULTIES, TOPICS

BANK = load_bank()
CODE_ITEMS = [i for i in BANK if i["type"] == "code-output"]
CHECKED_ITEMS = [i for i in BANK if i.get("check")]


def run_snippet(code: str) -> str:
    """Execute a snippet in a fresh namespace and return what it printed."""
    import torch

    torch.manual_seed(0)  # belt and braces: snippets must not depend on global RNG state
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<quiz>", "exec"), {"__name__": "__quiz__"})
    return out.getvalue()


def test_bank_meets_the_counts():
    assert len(BANK) >= 100
    levels = Counter(i["difficulty"] for i in BANK)
    assert all(levels[d] >= 10 for d in DIFFICULTIES), levels
    assert len(CODE_ITEMS) >= 20


@pytest.mark.parametrize("topic", TOPICS)
def test_every_topic_has_items_and_a_deck(topic):
    items = [i for i in BANK if i["topic"] == topic]
    assert len(items) >= 6
    assert sum(i["type"] == "flashcard" for i in items) >= 3


def test_every_type_is_used_and_ids_are_unique():
    assert {i["type"] for i in BANK} == {"mcq", "multi", "code-output", "flashcard", "predict",
                                         "free-response"}
    assert len({i["id"] for i in BANK}) == len(BANK)


def test_choice_items_explain_every_option():
    for item in BANK:
        for option in item.get("options", []):
            assert len(option["feedback"]) > 10, (item["id"], option["text"])


@pytest.mark.parametrize("item", CODE_ITEMS, ids=lambda i: i["id"])
def test_code_output_answer_is_what_the_code_prints(item):
    printed = run_snippet(item["code"])
    assert squash(printed) == squash(item["answer"]), (
        f"{item['id']}: stated {item['answer']!r}, code printed {printed!r}")


@pytest.mark.parametrize("item", CHECKED_ITEMS, ids=lambda i: i["id"])
def test_choice_answer_checks_pass(item):
    run_snippet(item["check"])  # raises AssertionError when the stated answer is wrong


@pytest.mark.parametrize("topic", TOPICS)
def test_lessons_can_ask_every_level(topic):
    # Lessons call show(topic=..., difficulty=...); each level must have questions (not only cards).
    for level in DIFFICULTIES:
        asked = [i for i in BANK if i["topic"] == topic and i["difficulty"] == level
                 and i["type"] != "flashcard"]
        assert len(asked) >= 2, (topic, level)


def test_choice_items_about_code_carry_a_check():
    # If the options are code, the claim can be run: such items must prove their answer.
    for item in BANK:
        if item["type"] in ("mcq", "multi") and any("`" in o["text"] for o in item["options"]):
            assert item.get("check"), f"{item['id']}: options are code, add a `check`"
