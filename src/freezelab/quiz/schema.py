"""The question-bank schema: what every item must look like, checked when the bank loads."""

from __future__ import annotations

from typing import Any

import jsonschema

from .judge import right_options

TOPICS = ("course", "requires_grad", "counting", "strategies", "transfer",
          "workflows", "pitfalls", "speed", "evaluation", "peft", "real_training")
DIFFICULTIES = ("easy", "medium", "hard")
TYPES = ("mcq", "multi", "code-output", "flashcard", "predict", "free-response")

_text = {"type": "string", "minLength": 1}
_option = {
    "type": "object",
    "required": ["text", "feedback"],
    "additionalProperties": False,
    "properties": {"text": _text, "correct": {"type": "boolean"}, "feedback": _text},
}

ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "type", "topic", "difficulty", "question", "explanation"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
        "type": {"enum": list(TYPES)},
        "topic": {"enum": list(TOPICS)},
        "difficulty": {"enum": list(DIFFICULTIES)},
        "question": _text,
        "code": _text,               # shown as a code block; executed for code-output items
        "options": {"type": "array", "minItems": 2, "items": _option},
        "answer": _text,             # printed output, card back, revealed answer or model answer
        "explanation": _text,
        "hint": _text,
        "mistakes": {"type": "array", "items": _text},
        "checklist": {"type": "array", "minItems": 2, "items": _text},
        "check": _text,              # code whose asserts prove a choice item's answer
        # typed code-output only: numbers may be written differently (0.50, 5e-1) and be off by this much
        "tolerance": {"type": "number", "minimum": 0},
        "tags": {"type": "array", "items": _text},
        "source": _text,             # which seed the item re-writes, if any
    },
    "allOf": [
        {"if": {"properties": {"type": {"enum": ["mcq", "multi"]}}},
         "then": {"required": ["options"]}},
        {"if": {"properties": {"type": {"const": "code-output"}}},
         "then": {"required": ["code", "answer"]}},
        {"if": {"properties": {"type": {"enum": ["flashcard", "predict"]}}},
         "then": {"required": ["answer"]}},
        {"if": {"properties": {"type": {"const": "free-response"}}},
         "then": {"required": ["answer", "checklist"]}},
    ],
}


class BankError(ValueError):
    """A bank file or item breaks the schema; the message names the file, item and field."""


def _where(path: str, item: Any, field: str) -> str:
    item_id = item.get("id", "?") if isinstance(item, dict) else "?"
    return f"{path}: item {item_id!r}: field {field!r}"


def validate_item(item: Any, path: str) -> None:
    """Raise BankError naming the file, item id and field when `item` breaks the schema."""
    validator = jsonschema.Draft202012Validator(ITEM_SCHEMA)
    error = jsonschema.exceptions.best_match(validator.iter_errors(item))
    if error is not None:
        field = ".".join(str(p) for p in error.absolute_path) or _missing_field(error)
        raise BankError(f"{_where(path, item, field)}: {error.message}")
    # Rules a JSON schema cannot say neatly.
    options = item.get("options", [])
    n_correct = len(right_options(item))
    if item["type"] in ("mcq", "code-output", "predict") and options and n_correct != 1:
        raise BankError(f"{_where(path, item, 'options')}: needs exactly one correct option, "
                        f"found {n_correct}")
    if item["type"] == "multi" and n_correct < 1:
        raise BankError(f"{_where(path, item, 'options')}: needs at least one correct option")
    if "tolerance" in item and (item["type"] != "code-output" or options):
        raise BankError(f"{_where(path, item, 'tolerance')}: only typed code-output items (no options) "
                        "take a numeric tolerance")
    if item["type"] == "code-output" and options:
        right = options[right_options(item)[0]]["text"]
        if right.strip() != item["answer"].strip():
            raise BankError(f"{_where(path, item, 'answer')}: differs from the correct option "
                            f"{right!r}")


def _missing_field(error: jsonschema.ValidationError) -> str:
    # "'answer' is a required property" -> answer
    if error.validator == "required":
        return error.message.split("'")[1]
    if error.validator == "additionalProperties":
        return error.message.split("'")[1]
    return "(item)"
