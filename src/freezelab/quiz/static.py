"""Plain HTML for quiz items: what a notebook shows with no live widget (reopened, GitHub, nbconvert)."""

from __future__ import annotations

import html
import re

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from .bank import Item
from .judge import LETTERS, right_options

TYPE_LABELS = {"mcq": "Multiple choice", "multi": "Select all that apply",
               "code-output": "What does this print?", "predict": "Predict, then check",
               "free-response": "Explain in your own words", "flashcard": "Flashcard"}
_INLINE_CODE = re.compile(r"`([^`]+)`")
# Inline styles, so highlighting survives in widgets, exports and viewers without the Lab's CSS; the
# fixed light background keeps Pygments' default colours readable (and above WCAG AA) in a dark theme.
_HIGHLIGHT = HtmlFormatter(nowrap=True, noclasses=True, style="default")
_PRE_STYLE = ("background:#f7f7f7;color:#1f1f1f;padding:6px 8px;border:1px solid #ddd;"
              "border-radius:3px;white-space:pre-wrap;overflow-wrap:anywhere;line-height:1.4")
# A reopened notebook has no widget models: hide the "Loading widget..." / "model not found" text that
# JupyterLab draws for the widget output next to the fallback (a live widget's renderer has children, and
# its own style hides the fallback instead; see widgets.STYLE).
_HIDE_MISSING_WIDGET = ("<style>.jp-OutputArea:has(.freezelab-fallback) "
                        ".jp-OutputArea-output.lm-Panel:not(:has(*)){display:none}</style>")


def inline(text: str) -> str:
    """Escape text for HTML and turn `backticks` into <code>."""
    return _INLINE_CODE.sub(r"<code>\1</code>", html.escape(text.strip()))


def plain(text: str) -> str:
    """Text without the backticks of inline code (for tooltips and plain-text labels)."""
    return _INLINE_CODE.sub(r"\1", text.strip())


def option_list(options: list[dict]) -> str:
    """Options lettered A, B, ... in the text itself (JupyterLab's CSS numbers every <ol> 1, 2, ...)."""
    rows = "".join(f"<li><strong>{LETTERS[i]}.</strong> {inline(o['text'])}</li>" for i, o in enumerate(options))
    return f'<ul style="list-style:none;padding-left:0.5em">{rows}</ul>'


def paragraphs(text: str, label: str = "") -> str:
    """Blank-line separated paragraphs -> <p> blocks; a label ("Why:") starts the first one in bold."""
    blocks = [inline(p) for p in text.strip().split("\n\n") if p.strip()]
    if label and blocks:
        blocks[0] = f"<strong>{label}</strong> {blocks[0]}"
    return "".join(f"<p>{block}</p>" for block in blocks)


def count(items: list[Item]) -> str:
    """'1 item', '6 items'."""
    return f"{len(items)} item{'' if len(items) == 1 else 's'}"


def code_block(code: str, python: bool = True) -> str:
    """A <pre> block: Python highlighted, printed output (python=False) as plain text."""
    body = (highlight(code.rstrip(), PythonLexer(), _HIGHLIGHT).rstrip("\n") if python
            else html.escape(code.rstrip()))
    return f'<pre class="freezelab-code" style="{_PRE_STYLE}"><code>{body}</code></pre>'


def header(item: Item, number: int | None = None, show_topic: bool = False) -> str:
    """'Question 2 · Multiple choice · easy': type and level in words; the id only as a tooltip."""
    label = TYPE_LABELS[item["type"]]
    head = f"Question {number} · {label}" if number and item["type"] != "flashcard" else label
    extra = f" · {item['difficulty']}" + (f" · topic: {item['topic']}" if show_topic else "")
    item_id = html.escape(item["id"])
    return (f'<p class="freezelab-head" data-item-id="{item_id}" title="item id: {item_id}">'
            f"<strong>{head}</strong>{extra}</p>")


def question_html(item: Item, number: int | None = None, show_topic: bool = False) -> str:
    """The prompt: header, question text and code."""
    parts = [header(item, number, show_topic), paragraphs(item["question"])]
    if item.get("code"):
        parts.append(code_block(item["code"]))
    return "".join(parts)


def answer_html(item: Item) -> str:
    """The answer, per-option feedback, explanation, concept checklist and common mistakes."""
    parts = []
    options, key = item.get("options", []), right_options(item)
    if key:
        right = [f"{LETTERS[i]}. {inline(options[i]['text'])}" for i in key]
        parts.append(f"<p><strong>Answer:</strong> {'; '.join(right)}</p>")
    elif item.get("answer") and item["type"] != "code-output":
        parts.append(f"<div>{paragraphs(item['answer'], 'Answer:')}</div>")
    if item["type"] == "code-output":
        parts.append(f"<p><strong>Printed output:</strong></p>{code_block(item['answer'], python=False)}")
    if options:
        rows = "".join(
            f"<li>{LETTERS[i]} ({'right' if i in key else 'wrong'}): {inline(o['feedback'])}</li>"
            for i, o in enumerate(options))
        parts.append(f"<ul>{rows}</ul>")
    parts.append(f"<div>{paragraphs(item['explanation'], 'Why:')}</div>")
    if item.get("checklist"):
        rows = "".join(f"<li>{inline(c)}</li>" for c in item["checklist"])
        parts.append(f"<p><strong>Concept checklist:</strong></p><ul>{rows}</ul>")
    if item.get("mistakes"):
        rows = "".join(f"<li>{inline(m)}</li>" for m in item["mistakes"])
        parts.append(f"<p><strong>Common mistakes:</strong></p><ul>{rows}</ul>")
    return "".join(parts)


def item_html(item: Item, number: int | None = None, show_topic: bool = False) -> str:
    """One item as static HTML: question, options, then collapsible hint and answer."""
    parts = [question_html(item, number, show_topic)]
    if item.get("options"):
        parts.append(option_list(item["options"]))
    if item.get("hint"):
        parts.append(f"<details><summary>Hint</summary>{paragraphs(item['hint'])}</details>")
    label = "Back of the card" if item["type"] == "flashcard" else "Answer"
    parts.append(f"<details><summary>{label}</summary>{answer_html(item)}</details>")
    return f'<div class="freezelab-quiz-item" style="margin-bottom:1em">{"".join(parts)}</div>'


def quiz_html(items: list[Item], title: str = "Quiz") -> str:
    """A whole quiz or deck as static HTML, with a note that running the cell makes it interactive."""
    mixed = len({item["topic"] for item in items}) > 1
    body = "<hr>".join(item_html(item, n, mixed) for n, item in enumerate(items, 1))
    kind = "flashcards" if all(item["type"] == "flashcard" for item in items) else "quiz"
    return (f'{_HIDE_MISSING_WIDGET}<div class="freezelab-quiz freezelab-fallback">'
            f"<h4>{html.escape(title)} ({count(items)})</h4>"
            f"<p><em>Run this cell to load the interactive {kind}. Your answers are saved, so "
            "nothing is lost.</em> Below: the questions, with the answers folded away.</p>"
            f"{body}</div>")
