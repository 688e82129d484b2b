"""One owner for the progress record: every way of answering writes the same shape; old files load."""

from __future__ import annotations

import json

import pytest

from freezelab.quiz import flashcards, load_bank, show
from freezelab.quiz import progress as prog
from freezelab.quiz.judge import REVEAL_AFTER, right_options


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FREEZELAB_DATA_DIR", str(tmp_path))
    return tmp_path


def first(kind: str, with_options: bool | None = None) -> dict:
    return next(i for i in load_bank() if i["type"] == kind
                and (with_options is None or bool(i.get("options")) == with_options))


def on_disk() -> dict:
    return json.loads(prog.progress_path().read_text(encoding="utf-8"))


def answer_every_way() -> list[str]:
    """Answer one item through every widget that saves, and rate a card in a deck; return their ids."""
    mcq = show(ids=[first("mcq")["id"]]).questions[0]
    mcq.buttons[right_options(mcq.item)[0]].click()
    multi = show(ids=[first("multi")["id"]]).questions[0]
    multi.check_button.click()
    typed = show(ids=[first("code-output", False)["id"]]).questions[0]
    typed.text.value = "not it"
    picked = show(ids=[first("code-output", True)["id"]]).questions[0]
    picked.buttons[0].click()
    predict = show(ids=[first("predict", True)["id"]]).questions[0]
    predict.choose(0)
    predict.lock_button.click()
    guess = show(ids=[first("predict", False)["id"]]).questions[0]
    guess.text.value = "a guess"
    guess.lock_button.click()
    free = show(ids=[first("free-response")["id"]]).questions[0]
    free.reveal_button.click()
    card = show(ids=[first("flashcard")["id"]]).questions[0]
    card.flip_button.click()
    deck = flashcards(topic="peft")
    deck.knew_button.click()
    answered = [mcq, multi, typed, picked, predict, guess, free, card]
    return [q.item["id"] for q in answered] + [deck.items[0]["id"]]


def test_every_writer_writes_the_one_shape():
    ids = answer_every_way()
    data = on_disk()
    assert data["version"] == prog.VERSION
    assert len(set(ids)) == 9 and set(ids) <= set(data["items"])
    for item_id, record in data["items"].items():
        assert set(record) == set(prog.FIELDS), item_id
        assert record["answered"] is True and record["attempts"] >= 1


def test_flipping_a_card_in_a_quiz_keeps_its_deck_rating():
    deck = flashcards(topic="counting")
    card = deck.items[0]
    deck.knew_button.click()
    quiz = show(ids=[card["id"]])
    quiz.questions[0].flip_button.click()
    saved = prog.get(card["id"])
    assert saved["correct"] is True and saved["response"] == "seen" and saved["attempts"] == 2
    assert flashcards(topic="counting").known() == 1
    assert "Saved progress: answered after 2" in quiz.questions[0].status.value


def test_a_version_1_file_still_loads_and_is_upgraded(data_dir):
    card, seen = [i for i in load_bank() if i["type"] == "flashcard"][:2]
    typed = first("code-output", False)
    old = {"version": 1, "items": {
        # written by the quiz widgets before `wrong` was kept: two wrong typed answers
        typed["id"]: {"topic": typed["topic"], "type": "code-output", "answered": True, "correct": False,
                      "attempts": REVEAL_AFTER - 1, "first_try": False, "response": "nope",
                      "updated": "2026-11-01T10:00:00"},
        # written by the flashcard deck
        card["id"]: {"topic": card["topic"], "type": "flashcard", "answered": True, "correct": True,
                     "attempts": 1, "first_try": True, "response": "knew", "updated": "2026-11-01T10:01:00"},
        # a flashcard flipped inside a quiz
        seen["id"]: {"topic": seen["topic"], "type": "flashcard", "answered": True, "correct": None,
                     "attempts": 1, "first_try": False, "response": "seen", "updated": "2026-11-01T10:02:00"},
    }}
    data_dir.mkdir(exist_ok=True)
    prog.progress_path().write_text(json.dumps(old), encoding="utf-8")
    loaded = prog.load()
    assert loaded[typed["id"]]["wrong"] == REVEAL_AFTER - 1
    assert loaded[card["id"]]["wrong"] == 0 and loaded[card["id"]]["correct"] is True
    assert not list(data_dir.glob("*.corrupt-*"))
    # The earlier misses count: one more wrong try reveals the printed output.
    question = show(ids=[typed["id"]]).questions[0]
    assert question.wrong == REVEAL_AFTER - 1
    question.text.value = "still not it"
    assert "here is the answer" in question.feedback.value
    data = on_disk()
    assert data["version"] == prog.VERSION
    assert all(set(r) == set(prog.FIELDS) for r in data["items"].values())
    assert data["items"][card["id"]]["response"] == "knew"  # the other records are kept as they were


def test_a_record_that_is_not_an_object_is_treated_as_corrupt(data_dir, capsys):
    data_dir.mkdir(exist_ok=True)
    prog.progress_path().write_text(json.dumps({"version": 1, "items": {"x": 3}}), encoding="utf-8")
    assert prog.load() == {}
    assert "starting fresh" in capsys.readouterr().err
