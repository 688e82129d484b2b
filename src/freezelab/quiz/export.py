"""Write the whole bank as JSON, Markdown, or GIFT (Moodle's question import format)."""

from __future__ import annotations

import json
import re

from .bank import Item
from .judge import LETTERS, right_options, scored
from .schema import TOPICS

FORMATS = ("json", "markdown", "gift")


def to_json(items: list[Item]) -> str:
    """A JSON list of items with all their fields."""
    return json.dumps(items, indent=2, ensure_ascii=False) + "\n"


def to_markdown(items: list[Item]) -> str:
    """A readable Markdown handout, grouped by topic, answers in <details> blocks."""
    out = ["# freezelab question bank", ""]
    topic = None
    for item in sorted(items, key=lambda i: TOPICS.index(i["topic"])):
        if item["topic"] != topic:
            topic = item["topic"]
            out += [f"## {topic}", ""]
        out += [f"### {item['id']} ({item['type']}, {item['difficulty']})", "", item["question"].strip(), ""]
        if item.get("code"):
            out += ["```python", item["code"].rstrip(), "```", ""]
        for i, o in enumerate(item.get("options", [])):
            out.append(f"{LETTERS[i]}. {o['text']}")
        if item.get("options"):
            out.append("")
        out += ["<details><summary>Answer</summary>", ""]
        key = right_options(item)
        if key:
            out += [f"**Answer:** {', '.join(LETTERS[i] for i in key)}", ""]
        if item["type"] == "code-output":
            out += ["**Printed output:**", "", "```", item["answer"].rstrip(), "```", ""]
        elif item.get("answer"):
            out += [f"**Answer:** {item['answer'].strip()}", ""]
        for i, o in enumerate(item.get("options", [])):
            out.append(f"- {LETTERS[i]} ({'right' if i in key else 'wrong'}): {o['feedback']}")
        out += ["", f"**Why:** {item['explanation'].strip()}", ""]
        checklist = [f"- [ ] {c}" for c in item.get("checklist", [])]
        out += checklist + ([""] if checklist else [])
        out += ["</details>", ""]
    return "\n".join(out)


_GIFT_SPECIAL = re.compile(r"([~=#{}:\\])")


def gift_escape(text: str, strip: bool = True) -> str:
    """Escape GIFT's control characters and keep line breaks."""
    return _GIFT_SPECIAL.sub(r"\\\1", text.strip() if strip else text).replace("\n", "\\n")


def _moodle_percent(n: int) -> str:
    """100/n written as Moodle's grade list writes it (33.33333, 12.5); Moodle rejects other forms."""
    return f"{100 / max(n, 1):.5f}".rstrip("0").rstrip(".")


def _gift_question(item: Item) -> str:
    text = gift_escape(item["question"])
    if item.get("code"):
        # Markdown code block: every line indented by four spaces.
        code = "\n".join("    " + line for line in item["code"].rstrip().splitlines())
        text += "\\n\\n" + gift_escape(code, strip=False)
    return f"::{item['id']}::[markdown]{text}"


def gift_item(item: Item) -> str:
    """One scored item as a GIFT question (multiple choice or short answer); practice items as essays."""
    general = f"####{gift_escape(item['explanation'])}"
    options, key = item.get("options", []), right_options(item)
    if not scored(item):  # flashcard, predict without options, free-response: the answer as feedback
        body = ""
        general = f"####{gift_escape(item['answer'] + chr(10) + chr(10) + item['explanation'])}"
    elif item["type"] == "multi":
        right, wrong = _moodle_percent(len(key)), f"-{_moodle_percent(len(options) - len(key))}"
        body = "\n".join(f"\t~%{right if i in key else wrong}%{gift_escape(o['text'])}"
                         f"#{gift_escape(o['feedback'])}" for i, o in enumerate(options))
    elif options:
        body = "\n".join(f"\t{'=' if i in key else '~'}{gift_escape(o['text'])}"
                         f"#{gift_escape(o['feedback'])}" for i, o in enumerate(options))
    else:  # typed code-output
        body = f"\t={gift_escape(item['answer'])}"
    return f"// {item['topic']} / {item['difficulty']} / {item['type']}\n" \
           f"{_gift_question(item)} {{\n{body}\n\t{general}\n}}\n"


def to_gift(items: list[Item]) -> str:
    """The whole bank in GIFT, one category per topic."""
    out = []
    topic = None
    for item in sorted(items, key=lambda i: TOPICS.index(i["topic"])):
        if item["topic"] != topic:
            topic = item["topic"]
            out.append(f"$CATEGORY: freezelab/{topic}\n")
        out.append(gift_item(item))
    return "\n".join(out)


def export(items: list[Item], fmt: str) -> str:
    """The bank in one of FORMATS."""
    writers = {"json": to_json, "markdown": to_markdown, "gift": to_gift}
    if fmt not in writers:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return writers[fmt](items)
