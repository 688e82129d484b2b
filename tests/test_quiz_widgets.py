"""Quiz widgets driven by simulated clicks: feedback, score, retry, hints, flashcards, progress."""

from __future__ import annotations

import re

import pytest

from freezelab.quiz import flashcards, load_bank, progress_overview, reset_progress, show
from freezelab.quiz import progress as prog
from freezelab.quiz.widgets import (
    REVEAL_AFTER,
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
    assert "Score: 0 / 1 right on the first try" in quiz.score_label.value
    right, wrong = right_and_wrong(item)
    q.buttons[wrong].click()
    assert "Not quite" in q.feedback.value
    assert q.buttons[wrong].icon == "times" and q.buttons[wrong].disabled
    assert "Score: 0 / 1" in quiz.score_label.value
    q.buttons[right].click()
    assert "Correct" in q.feedback.value and "Why:" in q.feedback.value
    assert all(b.disabled for b in q.buttons)
    # Right only after a wrong try: counted apart from first-try answers.
    assert "Score: 0 / 1 right on the first try</strong>, 1 more after retrying" in quiz.score_label.value
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


def test_typed_answer_accepts_compact_lists_and_thousands_separators():
    base = first("code-output", with_options=False)
    q = TypedOutputWidget(dict(base, answer="[0.01, 0.00385]\n23518277\n", id="typed-lists"))
    q.text.value = "[ 0.01,0.00385] 23,518,277"
    assert "Correct" in q.feedback.value and q.correct


def test_typed_answer_tolerance_comes_from_the_item():
    item = dict(first("code-output", with_options=False), answer="0.895 0.85", id="tol-test")
    strict = TypedOutputWidget(item)
    strict.text.value = "0.8950 0.85"  # trailing zero: a different printout unless the item says otherwise
    assert not strict.correct
    lenient = TypedOutputWidget(dict(item, tolerance=0.001, id="tol-test-2"))
    assert "off by up to 0.001" in lenient.inputs[1].value
    lenient.text.value = "0.8950 0.851"
    assert lenient.correct


def test_typed_answer_is_revealed_after_three_wrong_tries():
    item = first("code-output", with_options=False)
    q = show(ids=[item["id"]]).questions[0]
    assert f"shown after {REVEAL_AFTER} wrong tries" in q.inputs[1].value
    for n in range(1, REVEAL_AFTER):
        q.text.value = f"wrong {n}"
        assert "Printed output" not in q.feedback.value
        assert f"after {REVEAL_AFTER - n} more wrong" in q.feedback.value
    q.text.value = "wrong again"
    assert "here is the answer" in q.feedback.value and "Printed output" in q.feedback.value
    assert not q.correct
    # Reopened: the earlier misses still count.
    again = show(ids=[item["id"]]).questions[0]
    assert again.wrong == REVEAL_AFTER


def test_predict_locks_before_revealing():
    item = first("predict", with_options=True)
    q = show(ids=[item["id"]]).questions[0]
    assert isinstance(q, PredictWidget)
    q.lock_button.click()  # nothing chosen yet: no reveal
    assert "Commit first" in q.feedback.value
    assert item["answer"][:20] not in q.feedback.value
    right, wrong = right_and_wrong(item)
    q.buttons[right].click()  # a pick can still change before locking in
    assert "Your prediction: " in q.feedback.value and "Why:" not in q.feedback.value
    q.buttons[wrong].click()
    q.lock_button.click()
    assert all(b.disabled for b in q.buttons) and q.lock_button.disabled
    assert "Not quite" in q.feedback.value and "Why:" in q.feedback.value
    assert prog.get(item["id"])["response"] == "ABCDEFGHIJ"[wrong]
    q.retry_button.click()
    assert not q.lock_button.disabled and q.pick is None


def test_free_response_checklist_tallies_and_saves():
    item = first("free-response")
    q = show(ids=[item["id"]]).questions[0]
    assert isinstance(q, FreeResponseWidget)
    assert q.checklist.layout.display == "none"
    q.text.value = "my explanation"
    q.reveal_button.click()
    assert q.checklist.layout.display == "" and "Model answer" in q.feedback.value
    children = list(q.box.children)
    assert children.index(q.feedback) < children.index(q.checklist)  # checklist after the model answer
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
    assert "Score: 1 / 1 right on the first try" in again.score_label.value
    assert "Saved progress: correct" in again.questions[0].status.value
    reset_progress()
    assert "Score: 0 / 1" in show(ids=[item["id"]]).score_label.value


def test_outputs_are_static_fallback_then_live_widget():
    item = first("mcq")
    fallback, live = show(ids=[item["id"]]).outputs()
    assert WIDGET_MIME in live and "text/html" not in live  # GitHub shows the fallback, once
    html = fallback["text/html"]
    assert "Run this cell to load the interactive quiz" in html and "freezelab-fallback" in html
    assert "<details><summary>Answer</summary>" in html
    assert all(o["text"].split("`")[0][:10] in html for o in item["options"])
    deck_fallback, deck_live = flashcards(topic="peft").outputs()
    assert WIDGET_MIME in deck_live and "interactive flashcards" in deck_fallback["text/html"]


def test_headers_name_the_kind_not_the_id_and_code_is_highlighted():
    item = next(i for i in load_bank() if i["type"] == "code-output" and not i.get("options"))
    quiz = show(ids=[item["id"]])
    head = quiz.questions[0].box.children[0].value
    assert "Question 1 · What does this print?" in head
    visible = re.sub(r"<[^>]+>", "", head)
    assert item["id"] not in visible and f'data-item-id="{item["id"]}"' in head
    assert "<span style=" in head  # Pygments colours, inline


def test_option_text_renders_inline_code():
    item = next(i for i in load_bank() if i["type"] == "mcq" and any("`" in o["text"] for o in i["options"]))
    q = show(ids=[item["id"]]).questions[0]
    texts = [row.children[1].value for row in q.inputs[0].children]
    assert any("<code>" in t for t in texts) and not any("`" in t for t in texts)
    assert [b.description for b in q.buttons] == list("ABCDEFGHIJ"[:len(item["options"])])


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
    assert row.endswith("<td>1</td><td>1</td><td>0</td>")  # answered 1, right first try 1, later 0


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
    assert "Practice only, nothing is scored" in quiz.score_label.value
    assert "1 of 1 questions answered" in quiz.score_label.value


def test_mixed_review_spreads_over_topics_and_tags_filter():
    review = show(n=10)
    assert len({i["topic"] for i in review.items}) == 10  # one question from every lesson
    interview = show(tags="interview")
    assert interview.items and all("interview" in i.get("tags", []) for i in interview.items)
    a, b = show(n=5, seed=1).items, show(n=5, seed=1).items
    assert [i["id"] for i in a] == [i["id"] for i in b]
