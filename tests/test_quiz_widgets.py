"""Quiz widgets driven by simulated clicks: feedback, score, retry, hints, flashcards, progress."""

from __future__ import annotations

import pytest

from freezelab.quiz import flashcards, load_bank, progress_overview, reset_progress, show
from freezelab.quiz import progress as prog
from freezelab.quiz.widgets import (
    ChoiceWidget,
    FreeResponseWidget,
    MultiWidget,
    PredictWidget,
    TypedOutputWidget,
)

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FREEZELAB_DATA_DIR", str(tmp_path))
    return tmp_path


def first(kind: str, with_options: bool | None = None) -> dict:
    for item in load_bank():
        if item["type"] == kind and (with_options is None or bool(item.get("options")) == with_options):
            return item
    raise LookupError(kind)


def right_and_wrong(item: dict) -> tuple[int, int]:
    flags = [bool(o.get("correct")) for o in item["options"]]
    return flags.index(True), flags.index(False)


def test_mcq_wrong_then_right_updates_feedback_and_score():
    item = first("mcq")
    quiz = show(ids=[item["id"]])
    q = quiz.questions[0]
    assert isinstance(q, ChoiceWidget)
    assert "Score: 0 / 1" in quiz.score_label.value
    right, wrong = right_and_wrong(item)
    q.buttons[wrong].click()
    assert "Not quite" in q.feedback.value
    assert q.buttons[wrong].icon == "times" and q.buttons[wrong].disabled
    assert "Score: 0 / 1" in quiz.score_label.value
    q.buttons[right].click()
    assert "Correct" in q.feedback.value and "Why:" in q.feedback.value
    assert all(b.disabled for b in q.buttons)
    assert "Score: 1 / 1" in quiz.score_label.value
    saved = prog.get(item["id"])
    assert saved["correct"] is True and saved["attempts"] == 2 and saved["first_try"] is False


def test_retry_clears_the_answer():
    item = first("mcq")
    q = show(ids=[item["id"]]).questions[0]
    right, _ = right_and_wrong(item)
    q.buttons[right].click()
    q.retry_button.click()
    assert q.feedback.value == "" and not any(b.disabled for b in q.buttons)
    assert all(b.icon == "" for b in q.buttons)


def test_hint_button_reveals_hint():
    item = next(i for i in load_bank() if i.get("hint") and i["type"] == "mcq")
    q = show(ids=[item["id"]]).questions[0]
    assert q.hint.value == ""
    q.hint_button.click()
    assert "Hint:" in q.hint.value


def test_multi_needs_exactly_the_right_set():
    item = first("multi")
    q = show(ids=[item["id"]]).questions[0]
    assert isinstance(q, MultiWidget)
    q.check_button.click()  # nothing ticked: wrong (at least one option is correct)
    assert "Not quite" in q.feedback.value
    q.retry_button.click()
    for box, option in zip(q.boxes, item["options"], strict=True):
        box.value = bool(option.get("correct"))
    q.check_button.click()
    assert "Correct" in q.feedback.value and q.correct


def test_typed_code_output_ignores_whitespace():
    item = first("code-output", with_options=False)
    q = show(ids=[item["id"]]).questions[0]
    assert isinstance(q, TypedOutputWidget)
    q.text.value = "definitely not the output"
    assert "Not quite" in q.feedback.value and not q.correct
    q.retry_button.click()
    q.text.value = "  " + item["answer"].replace("\n", "   ") + " "
    assert "Correct" in q.feedback.value and q.correct


def test_predict_locks_before_revealing():
    item = first("predict", with_options=True)
    q = show(ids=[item["id"]]).questions[0]
    assert isinstance(q, PredictWidget)
    q.lock_button.click()  # nothing chosen yet: no reveal
    assert "Commit first" in q.feedback.value
    assert item["answer"][:20] not in q.feedback.value
    q.choice.value = right_and_wrong(item)[1]
    q.lock_button.click()
    assert q.choice.disabled and q.lock_button.disabled
    assert "Not quite" in q.feedback.value and "Why:" in q.feedback.value


def test_free_response_checklist_tallies_and_saves():
    item = first("free-response")
    q = show(ids=[item["id"]]).questions[0]
    assert isinstance(q, FreeResponseWidget)
    assert q.checklist.layout.display == "none"
    q.text.value = "my explanation"
    q.reveal_button.click()
    assert q.checklist.layout.display == "" and "Model answer" in q.feedback.value
    q.concepts[0].value = True
    assert f"1 / {len(item['checklist'])}" in q.tally_label.value
    assert prog.get(item["id"])["response"] == [item["checklist"][0]]


def test_flashcard_deck_flips_steps_and_marks():
    deck = flashcards(topic="requires_grad")
    n = len(deck.items)
    assert n >= 3 and f"Card 1 of {n}" in deck.position.value
    assert deck.items[0]["question"][:15] in deck.card.value
    deck.flip_button.click()
    assert "Back" in deck.card.value and "showing the back" in deck.position.value
    deck.next_button.click()
    assert f"Card 2 of {n}" in deck.position.value and "showing the front" in deck.position.value
    deck.prev_button.click()
    assert deck.prev_button.disabled
    deck.knew_button.click()
    assert deck.index == 1 and deck.known() == 1
    assert prog.get(deck.items[0]["id"])["correct"] is True


def test_reopened_quiz_shows_saved_progress():
    item = first("mcq")
    q = show(ids=[item["id"]]).questions[0]
    q.buttons[right_and_wrong(item)[0]].click()
    again = show(ids=[item["id"]])  # a fresh widget, as after reopening the notebook
    assert "Score: 1 / 1" in again.score_label.value
    assert "Saved progress: correct" in again.questions[0].status.value
    reset_progress()
    assert "Score: 0 / 1" in show(ids=[item["id"]]).score_label.value


def test_bundle_has_live_widget_and_static_html():
    item = first("mcq")
    bundle = show(ids=[item["id"]])._repr_mimebundle_()
    assert WIDGET_MIME in bundle
    html = bundle["text/html"]
    assert "<details><summary>Answer</summary>" in html
    assert all(o["text"].split("`")[0][:10] in html for o in item["options"])
    deck_bundle = flashcards(topic="peft")._repr_mimebundle_()
    assert WIDGET_MIME in deck_bundle and "<details>" in deck_bundle["text/html"]


def test_show_filters_and_rejects_bad_selections():
    quiz = show(topic="counting", difficulty="hard")
    assert all(i["topic"] == "counting" and i["difficulty"] == "hard" for i in quiz.items)
    assert all(i["type"] != "flashcard" for i in quiz.items)
    assert len(show(topic="pitfalls", n=3).items) == 3
    assert {i["type"] for i in show(types="code-output").items} == {"code-output"}
    with pytest.raises(ValueError, match="unknown topic"):
        show(topic="nope")
    with pytest.raises(ValueError, match="no quiz item with id"):
        show(ids=["missing-id"])


def test_progress_overview_counts_per_topic():
    item = first("mcq")
    show(ids=[item["id"]]).questions[0].buttons[right_and_wrong(item)[0]].click()
    html = progress_overview().data
    row = html.split(f"<td>{item['topic']}</td>")[1].split("</tr>")[0]
    assert row.count("<td>1</td>") == 2  # answered 1, correct 1


def test_plain_text_repr_is_short_and_stable():
    quiz = show(topic="speed", difficulty="easy")
    first_repr = quiz._repr_mimebundle_()["text/plain"]
    quiz.questions[0].retry()
    assert first_repr == quiz._repr_mimebundle_()["text/plain"] == f"Quiz: speed ({len(quiz.items)} items)"


def test_flashcard_inside_a_quiz_flips_and_is_not_scored():
    card = first("flashcard")
    quiz = show(ids=[card["id"]])
    q = quiz.questions[0]
    q.flip_button.click()
    assert "Back:" in q.feedback.value and card["answer"][:20] in q.feedback.value
    q.flip_button.click()
    assert q.feedback.value == ""
    assert "Score: 0 / 0" in quiz.score_label.value and "(1 of 1 answered)" in quiz.score_label.value


def test_mixed_review_spreads_over_topics_and_tags_filter():
    review = show(n=10)
    assert len({i["topic"] for i in review.items}) == 10  # one question from every lesson
    interview = show(tags="interview")
    assert interview.items and all("interview" in i.get("tags", []) for i in interview.items)
    a, b = show(n=5, seed=1).items, show(n=5, seed=1).items
    assert [i["id"] for i in a] == [i["id"] for i in b]
