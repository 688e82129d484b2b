"""ipywidgets front end: quizzes with per-option feedback, flashcard decks, predict and free-response."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import ipywidgets as W
from IPython.display import display

from . import progress
from .bank import Item
from .judge import CHECKED_TYPES, LETTERS, REVEAL_AFTER, Verdict, judge, score, scored
from .static import (
    answer_html,
    count,
    inline,
    paragraphs,
    plain,
    question_html,
    quiz_html,
)

# Scoped to our widgets. Buttons size to their labels (ipywidgets' fixed width cut them off), borders and
# padding count inside widths (100%-wide boxes plus padding made the stray horizontal scrollbars), and the
# success / danger / info colours are darker than ipywidgets' so white text passes WCAG AA contrast.
# The last rule hides the static fallback printed next to a live widget (see static.quiz_html).
STYLE = W.HTML(
    "<style>"
    ".freezelab-widget,.freezelab-widget *{box-sizing:border-box}"
    ".freezelab-widget .jupyter-button{width:auto;max-width:100%;height:auto;white-space:normal;"
    "min-height:var(--jp-widgets-inline-height,28px)}"
    ".freezelab-widget .freezelab-letter{min-width:3.5em;flex:0 0 auto}"
    ".freezelab-widget .jupyter-button.mod-success{background-color:#1e6e34;color:#fff}"
    ".freezelab-widget .jupyter-button.mod-danger{background-color:#a8231b;color:#fff}"
    ".freezelab-widget .jupyter-button.mod-info{background-color:#0b5c86;color:#fff}"
    ".freezelab-widget .widget-html-content{white-space:normal}"
    ".jp-OutputArea:has(.freezelab-widget)>.jp-OutputArea-child:has(.freezelab-fallback){display:none}"
    "</style>")


def _auto() -> W.Layout:
    return W.Layout(width="auto")


def live(html: str) -> str:
    """Wrap feedback in an alert region: screen readers read it out when it appears."""
    # An ipywidgets HTML value replaces its element's content, so the region is new on every update;
    # role="alert" is the live region that assistive technology announces on insertion.
    return f'<div role="alert" aria-live="assertive" aria-atomic="true">{html}</div>' if html else ""


def button(description: str, icon: str, tooltip: str) -> W.Button:
    """A button as wide as its label."""
    return W.Button(description=description, icon=icon, tooltip=tooltip,
                    layout=W.Layout(width="auto", align_self="flex-start"))


def _mark(widget: W.Button, right: bool) -> None:
    # Icon + text + colour, so the verdict never relies on colour alone.
    widget.icon = "check" if right else "times"
    widget.button_style = "success" if right else "danger"


def _option_rows(options: list[dict]) -> tuple[list[W.Button], W.VBox]:
    """One row per option: a letter button, then the option text with its inline code rendered."""
    buttons, rows = [], []
    for i, option in enumerate(options):
        letter = LETTERS[i]
        choose = W.Button(description=letter, tooltip=f"Choose {letter}: {plain(option['text'])}",
                          layout=W.Layout(width="auto"))
        choose.add_class("freezelab-letter")
        text = W.HTML(f"<div>{inline(option['text'])}</div>", layout=W.Layout(flex="1 1 0%", min_width="0"))
        buttons.append(choose)
        rows.append(W.HBox([choose, text], layout=W.Layout(align_items="center", width="100%")))
    return buttons, W.VBox(rows, layout=W.Layout(width="100%"))


class ItemWidget:
    """One question: its prompt, its inputs and a feedback area; `box` is what gets displayed."""

    def __init__(self, item: Item, on_change: Callable[[], None] = lambda: None,
                 number: int | None = None, show_topic: bool = False):
        self.item = item
        self.on_change = on_change
        self.feedback = W.HTML()
        self.status = W.HTML()
        self.hint = W.HTML()
        self.inputs: list[W.Widget] = []
        self.after_feedback: list[W.Widget] = []
        controls: list[W.Widget] = []
        self.build()
        if item.get("hint"):
            self.hint_button = button("Show hint", "lightbulb-o", "Show a hint for this question")
            self.hint_button.on_click(lambda _: self.show_hint())
            controls.append(self.hint_button)
        if item["type"] in CHECKED_TYPES:
            self.retry_button = button("Retry", "refresh", "Clear your answer and try again")
            self.retry_button.on_click(lambda _: self.retry())
            controls.append(self.retry_button)
        self.box = W.VBox([W.HTML(question_html(item, number, show_topic)), *self.inputs,
                           W.HBox(controls), self.hint, self.feedback, *self.after_feedback, self.status],
                          layout=W.Layout(border="1px solid #ccc", padding="6px", margin="4px 0"))
        self.box.add_class("freezelab-item")
        self.box.add_class(f"freezelab-item-{item['id']}")  # lets tests and styles find one question
        self.show_saved()

    # --- per type -------------------------------------------------------------------------
    def build(self) -> None:
        """Create the input widgets (subclasses)."""

    def retry(self) -> None:
        """Clear the answer so the learner can try again (subclasses also reset inputs)."""
        self.say("")

    # --- shared ---------------------------------------------------------------------------
    def say(self, html: str) -> None:
        """Show feedback (announced to screen readers); "" clears it."""
        self.feedback.value = live(html)

    def show_hint(self) -> None:
        """Reveal the hint."""
        self.hint.value = live(paragraphs(self.item["hint"], "Hint:"))

    def answer(self, response: Any) -> Verdict:
        """Judge the learner's response, save the verdict, refresh the score; return the verdict."""
        verdict = judge(self.item, response, progress.get(self.item["id"]))
        progress.save(self.item, verdict)
        self.show_saved()
        self.on_change()
        return verdict

    def show_saved(self) -> None:
        """Say what was saved for this item earlier (survives a reopened notebook)."""
        saved = progress.get(self.item["id"])
        if not saved.get("answered"):
            self.status.value = ""
            return
        verdict = ({True: "correct", False: "not correct yet", None: "answered"}[saved.get("correct")]
                   if scored(self.item) else "answered")
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
        self.buttons, rows = _option_rows(self.item["options"])
        for i, choice in enumerate(self.buttons):
            choice.on_click(lambda _, i=i: self.choose(i))
        self.inputs = [rows]

    def choose(self, index: int) -> None:
        """The learner picked option `index`."""
        option = self.item["options"][index]
        right = self.answer(index).correct
        _mark(self.buttons[index], right)
        letter = LETTERS[index]
        if right:
            for choice in self.buttons:
                choice.disabled = True
            # The header already says "right"; drop a leading "Right." from the option's feedback.
            note = re.sub(r"^Right[.,;:]?\s*", "", option["feedback"])
            self.say(f"<strong>Correct: {letter} is right.</strong> {inline(note)}{self._explain()}")
        else:
            self.buttons[index].disabled = True
            self.say(f"<strong>Not quite: {letter} is wrong.</strong> {inline(option['feedback'])} "
                     "Try another option.")

    def _explain(self) -> str:
        mistakes = "".join(f"<li>{inline(m)}</li>" for m in self.item.get("mistakes", []))
        extra = f"<p>Common mistakes:</p><ul>{mistakes}</ul>" if mistakes else ""
        return f"<div>{paragraphs(self.item['explanation'], 'Why:')}</div>{extra}"

    def retry(self) -> None:
        self.say("")
        for choice in self.buttons:
            choice.disabled, choice.icon, choice.button_style = False, "", ""


class MultiWidget(ItemWidget):
    """multi: tick every right option, then check."""

    def build(self) -> None:
        self.boxes = [W.Checkbox(description=f"<strong>{LETTERS[i]}.</strong> {inline(o['text'])}",
                                 description_allow_html=True, indent=False, layout=_auto())
                      for i, o in enumerate(self.item["options"])]
        self.check_button = button("Check answer", "check-square-o", "Check the options you ticked")
        self.check_button.on_click(lambda _: self.check())
        self.inputs = [W.VBox(self.boxes, layout=W.Layout(width="100%")), self.check_button]

    def check(self) -> None:
        """Compare the ticked set with the right set and explain every option."""
        ticked = [box.value for box in self.boxes]
        verdict = self.answer(ticked)
        right = verdict.correct
        rows = []
        for i, (t, o, good) in enumerate(zip(ticked, self.item["options"], verdict.marks, strict=True)):
            what = "ticked" if t else "not ticked"
            rows.append(f"<li>{LETTERS[i]} {what}: {'right' if good else 'wrong'}. {inline(o['feedback'])}</li>")
        head = "Correct: all options right." if right else "Not quite: some options are wrong."
        why = f"<div>{paragraphs(self.item['explanation'], 'Why:')}</div>" if right else ""
        self.say(f"<strong>{head}</strong><ul>{''.join(rows)}</ul>{why}")
        if right:
            for box in self.boxes:
                box.disabled = True

    def retry(self) -> None:
        self.say("")
        for box in self.boxes:
            box.disabled, box.value = False, False


class TypedOutputWidget(ItemWidget):
    """code-output without options: type what the code prints, press Enter or Check."""

    def build(self) -> None:
        self.text = W.Text(placeholder="type the printed output, then press Enter",
                           description="Output:", continuous_update=False,
                           layout=W.Layout(flex="1 1 auto", width="auto"))
        self.text.observe(lambda change: self.check(), names="value")
        self.check_button = button("Check answer", "check", "Check the output you typed")
        self.check_button.on_click(lambda _: self.check())
        tolerance = self.item.get("tolerance")
        lenient = "Spacing and thousands separators do not matter"
        if tolerance is not None:
            lenient += (", numbers are compared by value" if tolerance == 0
                        else f", numbers may be off by up to {tolerance:g}")
        self.inputs = [W.HBox([self.text, self.check_button], layout=W.Layout(width="100%")),
                       W.HTML(f"<small>{lenient}. The printed output is shown after {REVEAL_AFTER} "
                              "wrong tries.</small>")]

    @property
    def wrong(self) -> int:
        """Wrong tries so far, including those saved before the notebook was reopened."""
        return progress.get(self.item["id"]).get("wrong", 0)

    def check(self) -> None:
        """Compare the typed output with the real one; show the answer after REVEAL_AFTER misses."""
        if not self.text.value.strip():
            return
        verdict = self.answer(self.text.value)
        if verdict.correct:
            self.say(f"<strong>Correct: that is what it prints.</strong>{answer_html(self.item)}")
        elif verdict.reveal:
            self.say(f"<strong>Not quite, {verdict.wrong} wrong tries: here is the answer.</strong>"
                     f"{answer_html(self.item)}")
        else:
            left = REVEAL_AFTER - verdict.wrong
            self.say("<strong>Not quite: the code prints something else.</strong> Run it in your "
                     f"head line by line and try again; the answer is shown after {left} more "
                     f"wrong {'try' if left == 1 else 'tries'}.")

    def retry(self) -> None:
        self.say("")
        self.text.value = ""


class PredictWidget(ItemWidget):
    """predict: pick or write a prediction, lock it in (no changes after), then the answer is revealed."""

    def build(self) -> None:
        options = self.item.get("options")
        self.pick: int | None = None
        self.buttons: list[W.Button] = []
        self.text: W.Textarea | None = None
        if options:
            # Letter buttons, not radio buttons: in a notebook the arrow keys a radio group needs move the
            # cell cursor instead, so a radio group cannot be answered by keyboard.
            self.buttons, rows = _option_rows(options)
            for i, choice in enumerate(self.buttons):
                choice.on_click(lambda _, i=i: self.choose(i))
            shown: list[W.Widget] = [rows]
        else:
            self.text = W.Textarea(placeholder="write your prediction before revealing",
                                   description="Prediction:", layout=W.Layout(width="auto"))
            shown = [self.text]
        self.lock_button = button("Lock in my answer", "lock",
                                  "Commit to your answer; then the answer is revealed")
        self.lock_button.on_click(lambda _: self.lock())
        self.inputs = [*shown, self.lock_button]

    def choose(self, index: int) -> None:
        """Pick option `index` as the prediction (it can still change until locked in)."""
        self.pick = index
        for i, choice in enumerate(self.buttons):
            choice.icon, choice.button_style = ("dot-circle-o", "info") if i == index else ("", "")
        self.say(f"Your prediction: {LETTERS[index]}. Press <strong>Lock in my answer</strong> to commit.")

    def lock(self) -> None:
        """Freeze the learner's answer, then reveal."""
        written = self.text.value.strip() if self.text is not None else ""
        if self.pick is None and not written:
            self.say("<strong>Commit first:</strong> pick or write an answer.")
            return
        self._enable(False)
        if self.pick is not None:
            option = self.item["options"][self.pick]
            right = self.answer(self.pick).correct
            _mark(self.buttons[self.pick], right)
            head = (f"{'Correct' if right else 'Not quite'}: you locked in {LETTERS[self.pick]}. "
                    f"{inline(option['feedback'])}")
        else:
            self.answer(written)
            head = "Locked in. Compare with the answer:"
        self.say(f"<strong>{head}</strong>{answer_html(self.item)}")

    def _enable(self, on: bool) -> None:
        for widget in [*self.buttons, self.lock_button, *([self.text] if self.text else [])]:
            widget.disabled = not on

    def retry(self) -> None:
        self.say("")
        self._enable(True)
        self.pick = None
        for choice in self.buttons:
            choice.icon, choice.button_style = "", ""
        if self.text is not None:
            self.text.value = ""


class FreeResponseWidget(ItemWidget):
    """free-response: write, reveal the model answer, then tick the concepts you covered."""

    def build(self) -> None:
        self.text = W.Textarea(placeholder="explain in your own words", description="Answer:",
                               layout=W.Layout(width="auto", height="6em"))
        self.reveal_button = button("Show model answer", "eye",
                                    "Reveal the model answer and the concept checklist")
        self.reveal_button.on_click(lambda _: self.reveal())
        self.concepts = [W.Checkbox(description=inline(c), description_allow_html=True, indent=False,
                                    layout=_auto())
                         for c in self.item["checklist"]]
        for box in self.concepts:
            box.observe(lambda change: self.tally(), names="value")
        self.tally_label = W.HTML()
        self.checklist = W.VBox([W.HTML("<strong>Concept checklist</strong> (tick what your "
                                        "answer covered):"), *self.concepts, self.tally_label])
        self.checklist.layout.display = "none"
        self.inputs = [self.text, self.reveal_button]
        self.after_feedback = [self.checklist]  # the checklist follows the model answer it refers to

    def reveal(self) -> None:
        """Show the model answer and the checklist."""
        self.checklist.layout.display = ""
        self.say(paragraphs(self.item["answer"], "Model answer:")
                 + paragraphs(self.item["explanation"], "Why it matters:"))
        self.tally()

    def tally(self) -> None:
        """Count ticked concepts and save the self-assessment."""
        got = [c for c, box in zip(self.item["checklist"], self.concepts, strict=True) if box.value]
        self.tally_label.value = f"You covered {len(got)} / {len(self.concepts)} concepts."
        self.answer(got)


class FlashcardWidget(ItemWidget):
    """A single flashcard inside a quiz: flip to see the back."""

    def build(self) -> None:
        self.flip_button = button("Flip card", "exchange", "Show the back of the card")
        self.flip_button.on_click(lambda _: self.flip())
        self.inputs = [self.flip_button]

    def flip(self) -> None:
        """Toggle the back of the card."""
        if self.feedback.value:
            self.say("")
            return
        self.say(f"<strong>Back:</strong>{answer_html(self.item)}")
        self.answer(None)  # flipped, not rated


def item_widget(item: Item, on_change: Callable[[], None] = lambda: None, number: int | None = None,
                show_topic: bool = False) -> ItemWidget:
    """The right widget for an item's type."""
    kind = item["type"]
    if kind in ("mcq",) or (kind == "code-output" and item.get("options")):
        return ChoiceWidget(item, on_change, number, show_topic)
    cls = {"multi": MultiWidget, "code-output": TypedOutputWidget, "predict": PredictWidget,
           "free-response": FreeResponseWidget, "flashcard": FlashcardWidget}[kind]
    return cls(item, on_change, number, show_topic)


class _Displayed:
    """Shown as two outputs: the static fallback, then the live widget (the fallback hides next to it)."""

    items: list[Item]
    title: str
    widget: W.Widget

    def outputs(self) -> list[dict[str, Any]]:
        """The mime bundles this object displays: static HTML first, then the widget."""
        fallback = {"text/html": quiz_html(self.items, self.title),
                    "text/plain": f"{self.title}: run this cell to load it"}
        return [fallback, self._repr_mimebundle_()]

    def _ipython_display_(self) -> None:
        for bundle in self.outputs():
            display(bundle, raw=True)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude)
        # Short and deterministic, so notebook diffs and nbval stay quiet.
        bundle["text/plain"] = f"{self.title} ({count(self.items)})"
        return bundle


class Quiz(_Displayed):
    """A list of questions with a running score; displays live, or as static HTML with no kernel."""

    def __init__(self, items: list[Item], title: str = "Quiz"):
        if not items:
            raise ValueError("no quiz items match that selection; loosen topic/difficulty/types")
        self.items, self.title = items, title
        self.score_label = W.HTML()
        mixed = len({item["topic"] for item in items}) > 1
        self.questions = [item_widget(item, self.update_score, n, mixed) for n, item in enumerate(items, 1)]
        self.widget = W.VBox([STYLE, W.HTML(f"<h4>{inline(title)}</h4>"), self.score_label,
                              *[q.box for q in self.questions]])
        self.widget.add_class("freezelab-widget")
        self.widget.add_class("freezelab-live-quiz")
        self.update_score()

    def graded(self) -> list[Item]:
        """The items with a right answer to check (the others are practice, not scored)."""
        return [i for i in self.items if scored(i)]

    def score(self) -> tuple[int, int, int, int]:
        """(right first try, right after retrying, scored, answered) from the saved progress."""
        return score(self.items, progress.load())

    def update_score(self) -> None:
        """Refresh the score line, saying what it counts."""
        first, later, graded, answered = self.score()
        practice = len(self.items) - graded
        done = f"{answered} of {len(self.items)} questions answered."
        if not graded:
            self.score_label.value = (f'<p class="freezelab-score"><strong>Practice only, nothing is '
                                      f"scored.</strong> {done}</p>")
            return
        retried = f", {later} more after retrying" if later else ""
        note = (f" {practice} {'question is' if practice == 1 else 'questions are'} practice (written "
                "answers, open predictions, flashcards) and not scored." if practice else "")
        self.score_label.value = (
            f'<p class="freezelab-score"><strong>Score: {first} / {graded} right on the first try</strong>'
            f"{retried}. {done}"
            f"<br><small>The score counts the questions with a right answer to check.{note}</small></p>")


class Deck(_Displayed):
    """Flashcards one at a time: flip, next, previous, and 'I knew it' / 'Still learning'."""

    def __init__(self, items: list[Item], title: str = "Flashcards"):
        if not items:
            raise ValueError("no flashcards match that selection")
        self.items, self.title, self.index, self.flipped = items, title, 0, False
        self.card = W.HTML(layout=W.Layout(border="2px solid #888", padding="12px",
                                           min_height="8em", width="auto"))
        self.position = W.HTML()
        self.flip_button = button("Flip card", "exchange", "Turn the card over")
        self.prev_button = button("Previous", "arrow-left", "Previous card")
        self.next_button = button("Next", "arrow-right", "Next card")
        self.knew_button = button("I knew it", "check", "Mark this card as known")
        self.again_button = button("Still learning", "repeat", "Mark this card for review")
        self.flip_button.on_click(lambda _: self.flip())
        self.prev_button.on_click(lambda _: self.go(-1))
        self.next_button.on_click(lambda _: self.go(+1))
        self.knew_button.on_click(lambda _: self.mark(True))
        self.again_button.on_click(lambda _: self.mark(False))
        self.widget = W.VBox([STYLE, W.HTML(f"<h4>{inline(title)}</h4>"), self.position, self.card,
                              W.HBox([self.prev_button, self.flip_button, self.next_button]),
                              W.HBox([self.knew_button, self.again_button])])
        self.widget.add_class("freezelab-widget")
        self.widget.add_class("freezelab-live-deck")
        self.render()

    def render(self) -> None:
        """Draw the current card, front or back."""
        item = self.items[self.index]
        side = "back" if self.flipped else "front"
        text = item["answer"] if self.flipped else item["question"]
        more = (f"<details><summary>More</summary>{paragraphs(item['explanation'])}</details>"
                if self.flipped else "")
        # The card is a live region, so a screen reader reads the new side after Flip or Next.
        self.card.value = live(f"<p><strong>{side.capitalize()}</strong> (card {self.index + 1} of "
                               f"{len(self.items)})</p>{paragraphs(text)}{more}")
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
        progress.save(item, judge(item, knew, progress.get(item["id"])))
        if self.index < len(self.items) - 1:
            self.go(+1)
        else:
            self.render()

    def known(self) -> int:
        """How many cards of this deck are marked known."""
        saved = progress.load()
        return sum(saved.get(i["id"], {}).get("correct") is True for i in self.items)
