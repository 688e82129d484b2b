"""Plain HTML for quiz items: what a notebook shows with no live kernel (GitHub, nbconvert)."""

from __future__ import annotations

import html
import re

from .bank import Item

LETTERS = "ABCDEFGHIJ"
_INLINE_CODE = re.compile(r"`([^`]+)`")


def inline(text: str) -> str:
    """Escape text for HTML and turn `backticks` into <code>."""
    return _INLINE_CODE.sub(r"<code>\1</code>", html.escape(text.strip()))


def paragraphs(text: str) -> str:
    """Blank-line separated paragraphs -> <p> blocks."""
    return "".join(f"<p>{inline(p)}</p>" for p in text.strip().split("\n\n") if p.strip())


def code_block(code: str) -> str:
    """A <pre> block for a code snippet."""
    return f"<pre><code>{html.escape(code.rstrip())}</code></pre>"


def badge(item: Item) -> str:
    """Type, level and topic as text (never colour alone)."""
    return f"{item['type']} · {item['difficulty']} · {item['topic']}"


def question_html(item: Item) -> str:
    """The prompt: label, question text and code."""
    parts = [f"<p><strong>{badge(item)}</strong> <small>({html.escape(item['id'])})</small></p>",
             paragraphs(item["question"])]
    if item.get("code"):
        parts.append(code_block(item["code"]))
    return "".join(parts)


def answer_html(item: Item) -> str:
    """The answer, per-option feedback, explanation and common mistakes."""
    parts = []
    options = item.get("options", [])
    right = [f"{LETTERS[i]}. {inline(o['text'])}" for i, o in enumerate(options) if o.get("correct")]
    if right:
        parts.append(f"<p><strong>Answer:</strong> {'; '.join(right)}</p>")
    elif item.get("answer") and item["type"] != "code-output":
        parts.append(f"<div><strong>Answer:</strong> {paragraphs(item['answer'])}</div>")
    if item["type"] == "code-output":
        parts.append(f"<p><strong>Printed output:</strong></p>{code_block(item['answer'])}")
    if options:
        rows = "".join(
            f"<li>{LETTERS[i]} ({'right' if o.get('correct') else 'wrong'}): {inline(o['feedback'])}</li>"
            for i, o in enumerate(options))
        parts.append(f"<ul>{rows}</ul>")
    parts.append(f"<div><strong>Why:</strong> {paragraphs(item['explanation'])}</div>")
    if item.get("checklist"):
        rows = "".join(f"<li>{inline(c)}</li>" for c in item["checklist"])
        parts.append(f"<p><strong>Concept checklist:</strong></p><ul>{rows}</ul>")
    if item.get("mistakes"):
        rows = "".join(f"<li>{inline(m)}</li>" for m in item["mistakes"])
        parts.append(f"<p><strong>Common mistakes:</strong></p><ul>{rows}</ul>")
    return "".join(parts)


def item_html(item: Item) -> str:
    """One item as static HTML: question, options, then collapsible hint and answer."""
    parts = [question_html(item)]
    if item.get("options"):
        rows = "".join(f"<li>{inline(o['text'])}</li>" for o in item["options"])
        parts.append(f'<ol type="A">{rows}</ol>')
    if item.get("hint"):
        parts.append(f"<details><summary>Hint</summary>{paragraphs(item['hint'])}</details>")
    label = "Back of the card" if item["type"] == "flashcard" else "Answer"
    parts.append(f"<details><summary>{label}</summary>{answer_html(item)}</details>")
    return f'<div class="freezelab-quiz-item" style="margin-bottom:1em">{"".join(parts)}</div>'


def quiz_html(items: list[Item], title: str = "Quiz") -> str:
    """A whole quiz or deck as static HTML."""
    body = "<hr>".join(item_html(item) for item in items)
    return (f'<div class="freezelab-quiz"><h4>{html.escape(title)} ({len(items)} items)</h4>'
            f"{body}</div>")
