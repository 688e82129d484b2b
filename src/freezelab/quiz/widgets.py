"""ipywidgets front end: quizzes with per-option feedback, flashcard decks, predict and free-response."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import ipywidgets as W

from . import progress
from .bank import Item
from .static import LETTERS, answer_html, inline, paragraphs, question_html, quiz_html

# Long option texts must wrap inside their buttons; text is left-aligned like a list.
STYLE = W.HTML("<style>.freezelab-option.jupyter-button{white-space:normal;text-align:left;"
               "height:auto;min-height:32px;padding:4px 8px;line-height:1.4}</style>")
GRADED = ("mcq", "multi", "code-output")


def _option_button(index: int, text: str) -> W.Button:
    # The option text is the button's accessible name: screen readers read "A. ...".
    button = W.Button(description=f"{LETTERS[index]}. {text}", tooltip=text,
                      layout=W.Layout(width="100%", height="auto"))
    button.add_class("freezelab-option")
    return button


def _mark(button: W.Button, right: bool) -> None:
    # Icon + text + colour, so the verdict never relies on colour alone.
    button.icon = "check" if right else "times"
    button.button_style = "success" if right else "danger"


class ItemWidget:
    """One question: its prompt, its inputs and a feedback area; `box` is what gets displayed."""

    def __init__(self, item: Item, on_change: Callable[[], None] = lambda: None):
        self.item = item
        self.on_change = on_change
        self.feedback = W.HTML()
        self.status = W.HTML()
        self.hint = W.HTML()
        self.inputs: list[W.Widget] = []
        controls: list[W.Widget] = []
        self.build()
        if item.get("hint"):
            self.hint_button = W.Button(description="Show hint", icon="lightbulb-o",
                                        tooltip="Show a hint for this question")
            self.hint_button.on_click(lambda _: self.show_hint())
            controls.append(self.hint_button)
        if item["type"] in GRADED or (item["type"] == "predict"):
            self.retry_button = W.Button(description="Retry", icon="refresh",
                                         tooltip="Clear your answer and try again")
            self.retry_button.on_click(lambda _: self.retry())
            controls.append(self.retry_button)
        self.box = W.VBox([W.HTML(question_html(item)), *self.inputs, W.HBox(controls),
                           self.hint, self.feedback, self.status],
                          layout=W.Layout(border="1px solid #ccc", padding="6px", margin="4px 0"))
        self.show_saved()

    # --- per type -------------------------------------------------------------------------
    def build(self) -> None:
        """Create the input widgets (subclasses)."""

    def retry(self) -> None:
        """Clear the answer so the learner can try again (subclasses also reset inputs)."""
        self.feedback.value = ""

    # --- shared ---------------------------------------------------------------------------
    def show_hint(self) -> None:
        """Reveal the hint."""
        self.hint.value = f"<div><strong>Hint:</strong> {paragraphs(self.item['hint'])}</div>"

    def save(self, correct: bool | None, response: Any) -> None:
        """Store this answer in the learner's progress file and refresh the score."""
        saved = progress.get(self.item["id"])
        attempts = saved.get("attempts", 0) + 1
        progress.record(self.item["id"], topic=self.item["topic"], type=self.item["type"],
                        answered=True, correct=correct, attempts=attempts, response=response,
                        first_try=saved.get("first_try", attempts == 1 and correct is True))
        self.show_saved()
        self.on_change()

    def show_saved(self) -> None:
        """Say what was saved for this item earlier (survives a reopened notebook)."""
        saved = progress.get(self.item["id"])
        if not saved.get("answered"):
            self.status.value = ""
            return
        verdict = {True: "correct", False: "not correct yet", None: "answered"}[saved.get("correct")]
        response = saved.get("response")
        shown = ", ".join(response) if isinstance(response, list) else str(response or "")
        self.status.value = (f"<small>Saved progress: {verdict} after {saved.get('attempts', 1)} "
                             f"attempt(s). Your last answer: {inline(shown[:120])}</small>")

    @property
    def correct(self) -> bool:
        """True when the saved answer for this item is right."""
        return progress.get(self.item["id"]).get("correct") is True


class ChoiceWidget(ItemWidget):
    """mcq and code-output with options: one button per option, feedback on every click."""

    def build(self) -> None:
        self.buttons = [_option_button(i, o["text"]) for i, o in enumerate(self.item["options"])]
        for i, button in enumerate(self.buttons):
            button.on_click(lambda _, i=i: self.choose(i))
        self.inputs = [W.VBox(self.buttons)]

    def choose(self, index: int) -> None:
        """The learner picked option `index`."""
        option = self.item["options"][index]
        right = bool(option.get("correct"))
        _mark(self.buttons[index], right)
        letter = LETTERS[index]
        if right:
            for button in self.buttons:
                button.disabled = True
            # The header already says "right"; drop a leading "Right." from the option's feedback.
            note = re.sub(r"^Right[.,;:]?\s*", "", option["feedback"])
            self.feedback.value = (f"<div><strong>Correct: {letter} is right.</strong> "
                                   f"{inline(note)}{self._explain()}</div>")
        else:
            self.buttons[index].disabled = True
            self.feedback.value = (f"<div><strong>Not quite: {letter} is wrong.</strong> "
                                   f"{inline(option['feedback'])} Try another option.</div>")
        self.save(right, letter)

    def _explain(self) -> str:
        mistakes = "".join(f"<li>{inline(m)}</li>" for m in self.item.get("mistakes", []))
        extra = f"<p>Common mistakes:</p><ul>{mistakes}</ul>" if mistakes else ""
        return f"<div><strong>Why:</strong> {paragraphs(self.item['explanation'])}</div>{extra}"

    def retry(self) -> None:
        self.feedback.value = ""
        for button in self.buttons:
            button.disabled, button.icon, button.button_style = False, "", ""


class MultiWidget(ItemWidget):
    """multi: tick every right option, then check."""

    def build(self) -> None:
        self.boxes = [W.Checkbox(description=f"{LETTERS[i]}. {o['text']}", indent=False,
                                 layout=W.Layout(width="100%"))
                      for i, o in enumerate(self.item["options"])]
        self.check_button = W.Button(description="Check answer", icon="check-square-o",
                                     tooltip="Check the options you ticked")
        self.check_button.on_click(lambda _: self.check())
        self.inputs = [W.VBox(self.boxes), self.check_button]

    def check(self) -> None:
        """Compare the ticked set with the right set and explain every option."""
        options = self.item["options"]
        ticked = [box.value for box in self.boxes]
        right = all(t == bool(o.get("correct")) for t, o in zip(ticked, options, strict=True))
        rows = []
        for i, (t, o) in enumerate(zip(ticked, options, strict=True)):
            good = t == bool(o.get("correct"))
            what = "ticked" if t else "not ticked"
            verdict = "right" if good else "wrong"
            rows.append(f"<li>{LETTERS[i]} {what}: {verdict}. {inline(o['feedback'])}</li>")
        head = "Correct: all options right." if right else "Not quite: some options are wrong."
        why = (f"<div><strong>Why:</strong> {paragraphs(self.item['explanation'])}</div>"
               if right else "")
        self.feedback.value = f"<div><strong>{head}</strong><ul>{''.join(rows)}</ul>{why}</div>"
        if right:
            for box in self.boxes:
                box.disabled = True
        self.save(right, [LETTERS[i] for i, t in enumerate(ticked) if t])

    def retry(self) -> None:
        self.feedback.value = ""
        for box in self.boxes:
            box.disabled, box.value = False, False


def normalise(text: str) -> str:
    """Compare printed outputs ignoring surrounding and repeated whitespace."""
    return " ".join(str(text).split())


class TypedOutputWidget(ItemWidget):
    """code-output without options: type what the code prints, press Enter or Check."""

    def build(self) -> None:
        self.text = W.Text(placeholder="type the printed output, then press Enter",
                           description="Output:", continuous_update=False)
        self.text.observe(lambda change: self.check(), names="value")
        self.check_button = W.Button(description="Check answer", icon="check",
                                     tooltip="Check the output you typed")
        self.check_button.on_click(lambda _: self.check())
        self.inputs = [W.HBox([self.text, self.check_button])]

    def check(self) -> None:
        """Compare the typed output with the real one."""
        if not self.text.value.strip():
            return
        right = normalise(self.text.value) == normalise(self.item["answer"])
        if right:
            self.feedback.value = (f"<div><strong>Correct: that is what it prints.</strong>"
                                   f"{answer_html(self.item)}</div>")
        else:
            self.feedback.value = ("<div><strong>Not quite: the code prints something else."
                                   "</strong> Run it in your head line by line, or press Retry.</div>")
        self.save(right, self.text.value)

    def retry(self) -> None:
        self.feedback.value = ""
        self.text.value = ""


class PredictWidget(ItemWidget):
    """predict: commit to an answer (locked), then the answer is revealed."""

    def build(self) -> None:
        options = self.item.get("options")
        if options:
            self.choice = W.RadioButtons(
                options=[(f"{LETTERS[i]}. {o['text']}", i) for i, o in enumerate(options)],
                value=None, description="Prediction:", layout=W.Layout(width="100%"))
        else:
            self.choice = W.Textarea(placeholder="write your prediction before revealing",
                                     description="Prediction:", layout=W.Layout(width="100%"))
        self.lock_button = W.Button(description="Lock in my answer", icon="lock",
                                    tooltip="Commit to your answer; then the answer is revealed")
        self.lock_button.on_click(lambda _: self.lock())
        self.inputs = [self.choice, self.lock_button]

    def lock(self) -> None:
        """Freeze the learner's answer, then reveal."""
        value = self.choice.value
        if value is None or (isinstance(value, str) and not value.strip()):
            self.feedback.value = "<div><strong>Commit first:</strong> pick or write an answer.</div>"
            return
        self.choice.disabled = self.lock_button.disabled = True
        if isinstance(value, int):
            option = self.item["options"][value]
            right = bool(option.get("correct"))
            head = (f"{'Correct' if right else 'Not quite'}: you locked in {LETTERS[value]}. "
                    f"{inline(option['feedback'])}")
            response: Any = LETTERS[value]
        else:
            right, head, response = None, "Locked in. Compare with the answer:", value
        self.feedback.value = f"<div><strong>{head}</strong>{answer_html(self.item)}</div>"
        self.save(right, response)

    def retry(self) -> None:
        self.feedback.value = ""
        self.choice.disabled = self.lock_button.disabled = False
        self.choice.value = None if self.item.get("options") else ""


class FreeResponseWidget(ItemWidget):
    """free-response: write, reveal the model answer, tick the concepts you covered."""

    def build(self) -> None:
        self.text = W.Textarea(placeholder="explain in your own words", description="Answer:",
                               layout=W.Layout(width="100%", height="6em"))
        self.reveal_button = W.Button(description="Show model answer", icon="eye",
                                      tooltip="Reveal the model answer and the concept checklist")
        self.reveal_button.on_click(lambda _: self.reveal())
        self.concepts = [W.Checkbox(description=c, indent=False, layout=W.Layout(width="100%"))
                         for c in self.item["checklist"]]
        for box in self.concepts:
            box.observe(lambda change: self.tally(), names="value")
        self.tally_label = W.HTML()
        self.checklist = W.VBox([W.HTML("<strong>Concept checklist</strong> (tick what your "
                                        "answer covered):"), *self.concepts, self.tally_label])
        self.checklist.layout.display = "none"
        self.inputs = [self.text, self.reveal_button, self.checklist]

    def reveal(self) -> None:
        """Show the model answer and the checklist."""
        self.checklist.layout.display = ""
        self.feedback.value = (f"<div><strong>Model answer:</strong>{paragraphs(self.item['answer'])}"
                               f"<strong>Why it matters:</strong>"
                               f"{paragraphs(self.item['explanation'])}</div>")
        self.tally()

    def tally(self) -> None:
        """Count ticked concepts and save the self-assessment."""
        got = [c.description for c in self.concepts if c.value]
        self.tally_label.value = f"You covered {len(got)} / {len(self.concepts)} concepts."
        self.save(None, got)


class FlashcardWidget(ItemWidget):
    """A single flashcard inside a quiz: flip to see the back."""

    def build(self) -> None:
        self.flip_button = W.Button(description="Flip card", icon="exchange",
                                    tooltip="Show the back of the card")
        self.flip_button.on_click(lambda _: self.flip())
        self.inputs = [self.flip_button]

    def flip(self) -> None:
        """Toggle the back of the card."""
        if self.feedback.value:
            self.feedback.value = ""
            return
        self.feedback.value = f"<div><strong>Back:</strong>{answer_html(self.item)}</div>"
        self.save(None, "seen")


def item_widget(item: Item, on_change: Callable[[], None] = lambda: None) -> ItemWidget:
    """The right widget for an item's type."""
    kind = item["type"]
    if kind in ("mcq",) or (kind == "code-output" and item.get("options")):
        return ChoiceWidget(item, on_change)
    cls = {"multi": MultiWidget, "code-output": TypedOutputWidget, "predict": PredictWidget,
           "free-response": FreeResponseWidget, "flashcard": FlashcardWidget}[kind]
    return cls(item, on_change)


class Quiz:
    """A list of questions with a running score; displays live, or as static HTML with no kernel."""

    def __init__(self, items: list[Item], title: str = "Quiz"):
        if not items:
            raise ValueError("no quiz items match that selection; loosen topic/difficulty/types")
        self.items, self.title = items, title
        self.score_label = W.HTML()
        self.questions = [item_widget(item, self.update_score) for item in items]
        self.widget = W.VBox([STYLE, W.HTML(f"<h4>{title}</h4>"), self.score_label,
                              *[q.box for q in self.questions]])
        self.update_score()

    def score(self) -> tuple[int, int, int]:
        """(correct, graded, answered) over this quiz's items, from the saved progress."""
        saved = progress.load()
        graded = [i for i in self.items if i["type"] in GRADED or
                  (i["type"] == "predict" and i.get("options"))]
        correct = sum(saved.get(i["id"], {}).get("correct") is True for i in graded)
        answered = sum(bool(saved.get(i["id"], {}).get("answered")) for i in self.items)
        return correct, len(graded), answered

    def update_score(self) -> None:
        """Refresh the score line."""
        correct, graded, answered = self.score()
        self.score_label.value = (f"<strong>Score: {correct} / {graded} correct</strong> "
                                  f"({answered} of {len(self.items)} answered)")

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        # Live widget for a kernel, plus static HTML for GitHub / nbconvert.
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude)
        bundle["text/html"] = quiz_html(self.items, self.title)
        # Short and deterministic, so notebook diffs and nbval stay quiet.
        bundle["text/plain"] = f"{self.title} ({len(self.items)} items)"
        return bundle


class Deck:
    """Flashcards one at a time: flip, next, previous, and 'I knew it' / 'Still learning'."""

    def __init__(self, items: list[Item], title: str = "Flashcards"):
        if not items:
            raise ValueError("no flashcards match that selection")
        self.items, self.title, self.index, self.flipped = items, title, 0, False
        self.card = W.HTML(layout=W.Layout(border="2px solid #888", padding="12px",
                                           min_height="8em", width="100%"))
        self.position = W.HTML()
        self.flip_button = W.Button(description="Flip card", icon="exchange",
                                    tooltip="Turn the card over")
        self.prev_button = W.Button(description="Previous", icon="arrow-left",
                                    tooltip="Previous card")
        self.next_button = W.Button(description="Next", icon="arrow-right", tooltip="Next card")
        self.knew_button = W.Button(description="I knew it", icon="check",
                                    tooltip="Mark this card as known")
        self.again_button = W.Button(description="Still learning", icon="repeat",
                                     tooltip="Mark this card for review")
        self.flip_button.on_click(lambda _: self.flip())
        self.prev_button.on_click(lambda _: self.go(-1))
        self.next_button.on_click(lambda _: self.go(+1))
        self.knew_button.on_click(lambda _: self.mark(True))
        self.again_button.on_click(lambda _: self.mark(False))
        self.widget = W.VBox([STYLE, W.HTML(f"<h4>{title}</h4>"), self.position, self.card,
                              W.HBox([self.prev_button, self.flip_button, self.next_button]),
                              W.HBox([self.knew_button, self.again_button])])
        self.render()

    def render(self) -> None:
        """Draw the current card, front or back."""
        item = self.items[self.index]
        side = "back" if self.flipped else "front"
        body = (f"<p><strong>Back</strong></p>{paragraphs(item['answer'])}"
                f"<details><summary>More</summary>{paragraphs(item['explanation'])}</details>"
                if self.flipped else
                f"<p><strong>Front</strong></p>{paragraphs(item['question'])}")
        self.card.value = f"<div>{body}</div>"
        saved = progress.get(item["id"])
        known = {True: "known", False: "still learning"}.get(saved.get("correct"), "not rated yet")
        self.position.value = (f"Card {self.index + 1} of {len(self.items)} · showing the {side}"
                               f" · {known} · {self.known()} of {len(self.items)} known")
        self.prev_button.disabled = self.index == 0
        self.next_button.disabled = self.index == len(self.items) - 1

    def flip(self) -> None:
        """Turn the current card over."""
        self.flipped = not self.flipped
        self.render()

    def go(self, step: int) -> None:
        """Move to another card, front side up."""
        self.index = max(0, min(len(self.items) - 1, self.index + step))
        self.flipped = False
        self.render()

    def mark(self, knew: bool) -> None:
        """Save whether the learner knew this card, then move on."""
        item = self.items[self.index]
        progress.record(item["id"], topic=item["topic"], type="flashcard", answered=True,
                        correct=knew, attempts=progress.get(item["id"]).get("attempts", 0) + 1,
                        response="knew" if knew else "learning")
        if self.index < len(self.items) - 1:
            self.go(+1)
        else:
            self.render()

    def known(self) -> int:
        """How many cards of this deck are marked known."""
        saved = progress.load()
        return sum(saved.get(i["id"], {}).get("correct") is True for i in self.items)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude)
        bundle["text/html"] = quiz_html(self.items, self.title)
        # Short and deterministic, so notebook diffs and nbval stay quiet.
        bundle["text/plain"] = f"{self.title} ({len(self.items)} items)"
        return bundle
