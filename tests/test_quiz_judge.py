"""The judging rules, one item type at a time, and the places that must agree with them."""

from __future__ import annotations

import pytest

from freezelab.quiz import load_bank, show
from freezelab.quiz.export import gift_item
from freezelab.quiz.judge import REVEAL_AFTER, judge, right_options, score, scored
from freezelab.quiz.static import answer_html


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FREEZELAB_DATA_DIR", str(tmp_path))
    return tmp_path


def item(kind: str, options: list[bool] | None = None, **fields) -> dict:
    """A minimal item of one type; `options` lists which options are correct."""
    base = {"id": f"t-{kind}", "type": kind, "topic": "counting", "difficulty": "easy",
            "question": "Q?", "explanation": "E.", "answer": "12 67", **fields}
    if options is not None:
        base["options"] = [{"text": f"option {i}", "correct": c, "feedback": f"about {i}"}
                           for i, c in enumerate(options)]
    return base


MCQ = item("mcq", [False, True, False])
MULTI = item("multi", [True, False, True])
PICKED_OUTPUT = item("code-output", [True, False], code="print(12, 67)")
TYPED = item("code-output", code="print(12, 67)")
PREDICT = item("predict", [False, True])
OPEN_PREDICT = item("predict")
FREE = item("free-response", checklist=["a", "b"])
CARD = item("flashcard")


@pytest.mark.parametrize("it, expected", [
    (MCQ, True), (MULTI, True), (PICKED_OUTPUT, True), (TYPED, True), (PREDICT, True),
    (OPEN_PREDICT, False), (FREE, False), (CARD, False),
])
def test_scored_items_have_a_right_answer_to_check(it, expected):
    assert scored(it) is expected


def test_right_options_are_the_ones_marked_correct():
    assert right_options(MCQ) == [1]
    assert right_options(MULTI) == [0, 2]
    assert right_options(TYPED) == []


@pytest.mark.parametrize("it", [MCQ, PICKED_OUTPUT], ids=["mcq", "code-output-options"])
def test_single_choice_wrong_then_right(it):
    right, wrong = right_options(it)[0], right_options(it)[0] ^ 1
    miss = judge(it, wrong)
    assert (miss.correct, miss.response, miss.attempts, miss.wrong) == (False, "ABC"[wrong], 1, 1)
    assert not miss.first_try and not miss.reveal  # the other options are left to try
    hit = judge(it, right, before={"attempts": 1, "wrong": 1, "first_try": False, "correct": False})
    assert (hit.correct, hit.attempts, hit.wrong, hit.first_try, hit.reveal) == (True, 2, 1, False, True)
    assert judge(it, right).first_try is True
    with pytest.raises(ValueError, match="no option 7"):
        judge(it, 7)


def test_multi_needs_exactly_the_right_set_and_marks_every_option():
    exact = judge(MULTI, [True, False, True])
    assert exact.correct and exact.response == ["A", "C"] and exact.marks == (True, True, True)
    short = judge(MULTI, [True, False, False])
    assert short.correct is False and short.marks == (True, True, False) and not short.reveal
    assert judge(MULTI, [False, False, False]).correct is False
    with pytest.raises(ValueError, match="2 ticks for 3 options"):
        judge(MULTI, [True, True])


def test_typed_output_is_normalised_and_uses_the_item_tolerance():
    spaced = dict(TYPED, answer="[0.01, 0.00385]\n23518277")
    assert judge(spaced, "[0.01,0.00385] 23,518,277").correct
    assert judge(spaced, "  [0.01, 0.00385]\n\n23518277  ").response == "  [0.01, 0.00385]\n\n23518277  "
    numbers = dict(TYPED, answer="0.895 0.85")
    assert judge(numbers, "0.8950 0.85").correct is False  # printed differently, no tolerance
    assert judge(dict(numbers, tolerance=0.001), "0.8950 0.851").correct is True
    assert judge(dict(numbers, tolerance=0.001), "0.9 0.85").correct is False


def test_typed_output_is_revealed_after_enough_wrong_tries():
    before: dict = {}
    for n in range(1, REVEAL_AFTER + 1):
        verdict = judge(TYPED, f"wrong {n}", before)
        assert verdict.wrong == n and verdict.reveal is (n >= REVEAL_AFTER)
        before = {"attempts": verdict.attempts, "wrong": verdict.wrong, "first_try": verdict.first_try}
    right = judge(TYPED, "12 67", before)
    assert right.correct and right.reveal and right.wrong == REVEAL_AFTER and not right.first_try
    assert judge(TYPED, "12 67").reveal  # right at once: the printed output is shown too


def test_predict_reveals_the_answer_once_locked():
    wrong = judge(PREDICT, 0)
    assert wrong.correct is False and wrong.reveal and wrong.response == "A"
    assert judge(PREDICT, 1).correct is True
    written = judge(OPEN_PREDICT, "it prints 12")
    assert written.correct is None and written.reveal and written.response == "it prints 12"
    assert written.wrong == 0 and not written.first_try


def test_free_response_is_self_assessed():
    verdict = judge(FREE, ("a",))
    assert verdict.correct is None and verdict.response == ["a"] and verdict.reveal


def test_flashcard_rating_and_flipping():
    knew = judge(CARD, True)
    assert knew.correct is True and knew.response == "knew" and knew.first_try
    learning = judge(CARD, False)
    assert learning.correct is False and learning.response == "learning"
    # A flip is not a rating: it keeps the rating saved before.
    flipped = judge(CARD, None, before={"correct": True, "attempts": 1, "first_try": True})
    assert flipped.correct is True and flipped.response == "seen" and flipped.attempts == 2
    assert judge(CARD, None).correct is None


def test_score_counts_only_scored_items_as_right():
    saved = {MCQ["id"]: {"answered": True, "correct": True, "first_try": True},
             TYPED["id"]: {"answered": True, "correct": True, "first_try": False},
             MULTI["id"]: {"answered": True, "correct": False, "first_try": False},
             CARD["id"]: {"answered": True, "correct": True, "first_try": True}}  # a known card
    assert score([MCQ, TYPED, MULTI, CARD, FREE], saved) == (1, 1, 3, 4)


def test_judging_writes_nothing(data_dir):
    for it, response in [(MCQ, 1), (MULTI, [True, True, True]), (TYPED, "x"), (CARD, True), (FREE, [])]:
        judge(it, response)
    assert list(data_dir.iterdir()) == []


@pytest.mark.parametrize("it", load_bank(), ids=lambda i: i["id"])
def test_quiz_score_static_answer_and_export_agree_with_the_rules(it):
    is_scored = scored(it)
    assert (show(ids=[it["id"]]).graded() == [it]) is is_scored
    # Moodle grades what the quiz scores; the rest becomes an essay question.
    assert ("{\n\n\t####" in gift_item(it)) is not is_scored
    key, shown = right_options(it), answer_html(it)
    assert shown.count(" (right): ") == len(key)
    assert not key or f"<strong>Answer:</strong> {'ABCDEFGHIJ'[key[0]]}. " in shown
