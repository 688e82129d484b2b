"""Bank validation errors, the progress file, and the export CLI."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from freezelab.quiz import BankError, load_bank
from freezelab.quiz import cli as quiz_cli
from freezelab.quiz import progress as prog
from freezelab.quiz.export import gift_escape

GOOD = {"id": "t-1", "type": "mcq", "topic": "counting", "difficulty": "easy",
        "question": "Q?", "explanation": "E.",
        "options": [{"text": "a", "correct": True, "feedback": "yes a"},
                    {"text": "b", "feedback": "not b"}]}


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FREEZELAB_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def write_bank(folder, items) -> str:
    folder.mkdir(exist_ok=True)
    (folder / "topic.yaml").write_text(yaml.safe_dump(items), encoding="utf-8")
    return str(folder)


@pytest.mark.parametrize("change, field", [
    ({"difficulty": "extreme"}, "difficulty"),
    ({"topic": "cooking"}, "topic"),
    ({"explanation": None}, "explanation"),
    ({"colour": "red"}, "colour"),
    ({"options": [{"text": "a", "feedback": "x"}, {"text": "b", "feedback": "y"}]}, "options"),
    ({"tolerance": 0.01}, "tolerance"),       # only typed code-output items take one
    ({"tolerance": -1}, "tolerance"),
])
def test_broken_item_names_file_id_and_field(tmp_path, change, field):
    item = {**GOOD, **change}
    item = {k: v for k, v in item.items() if v is not None}
    folder = write_bank(tmp_path / "bank", [item])
    with pytest.raises(BankError) as err:
        load_bank(folder)
    message = str(err.value)
    assert "topic.yaml" in message and "'t-1'" in message and field in message


def test_missing_answer_and_duplicate_ids_are_reported(tmp_path):
    code_item = {**GOOD, "id": "t-2", "type": "code-output", "code": "print(1)"}
    del code_item["options"]
    with pytest.raises(BankError, match="'t-2'.*'answer'"):
        load_bank(write_bank(tmp_path / "a", [code_item]))
    with pytest.raises(BankError, match="duplicate"):
        load_bank(write_bank(tmp_path / "b", [GOOD, GOOD]))
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "bad.yaml").write_text("- id: [unclosed", encoding="utf-8")
    with pytest.raises(BankError, match="bad.yaml: not valid YAML"):
        load_bank(str(tmp_path / "c"))


def test_progress_round_trip_and_reset(data_dir):
    assert prog.load() == {}
    prog.record("x", topic="counting", correct=True)
    prog.record("y", topic="speed", correct=False)
    assert prog.get("x")["correct"] is True
    assert not list(data_dir.glob(".progress-*"))  # the temporary file was renamed away
    prog.reset_progress(topic="counting")
    assert set(prog.load()) == {"y"}
    prog.reset_progress()
    assert not prog.progress_path().exists()


def test_corrupt_progress_is_backed_up_with_one_warning(data_dir, capsys):
    data_dir.mkdir(parents=True)
    prog.progress_path().write_text("{not json", encoding="utf-8")
    assert prog.load() == {}
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "starting fresh" in err[0]
    backups = list(data_dir.glob("quiz_progress.json.corrupt-*"))
    assert len(backups) == 1 and backups[0].read_text() == "{not json"
    prog.record("x", correct=True)
    assert prog.get("x")["correct"] is True


def test_export_json_lists_every_item(tmp_path, capsys):
    out = tmp_path / "bank.json"
    assert quiz_cli.main(["export", "--format", "json", "-o", str(out)]) == 0
    items = json.loads(out.read_text())
    assert [i["id"] for i in items] == [i["id"] for i in load_bank()]
    assert all({"id", "type", "topic", "difficulty", "question", "explanation"} <= set(i) for i in items)


def test_export_markdown_has_every_question(capsys):
    assert quiz_cli.main(["export", "--format", "markdown"]) == 0
    text = capsys.readouterr().out
    bank = load_bank()
    assert text.count("<details><summary>Answer</summary>") == len(bank)
    assert all(f"### {i['id']} " in text for i in bank)


def test_export_gift_structure(capsys):
    assert quiz_cli.main(["export", "--format", "gift"]) == 0
    text = capsys.readouterr().out
    bank = load_bank()
    questions = re.findall(r"^::([a-z0-9-]+)::", text, flags=re.M)
    assert len(questions) == len(bank)
    assert set(questions) == {i["id"] for i in bank}
    # Every question's answer block opens and closes once; escaped braces do not count.
    unescaped = re.sub(r"\\.", "", text)
    assert unescaped.count("{") == unescaped.count("}") == len(bank)
    mcq = next(i for i in bank if i["type"] == "mcq")
    block = text.split(f"::{mcq['id']}::")[1].split("\n}\n")[0]
    assert block.count("\n\t=") == 1 and block.count("\n\t~") == len(mcq["options"]) - 1


def test_gift_escapes_control_characters():
    assert gift_escape("a=b {c}: ~d #e\\") == "a\\=b \\{c\\}\\: \\~d \\#e\\\\"


def test_cli_errors_are_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FREEZELAB_QUIZ_DIR", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    assert quiz_cli.main(["export"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no quiz bank files" in err[0]
    monkeypatch.delenv("FREEZELAB_QUIZ_DIR")
    assert quiz_cli.main(["export", "-o", str(tmp_path / "missing" / "x.json")]) == 1
    assert "cannot write" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        quiz_cli.main(["export", "--format", "pdf"])


def test_gift_partial_credit_uses_moodle_grades(capsys):
    # Moodle's import only accepts grades from its own list (to 5 decimals).
    allowed = {"100", "90", "83.33333", "80", "75", "70", "66.66667", "60", "50", "40", "33.33333",
               "30", "25", "20", "16.66667", "14.28571", "12.5", "11.11111", "10", "5"}
    quiz_cli.main(["export", "--format", "gift"])
    weights = re.findall(r"~%(-?[\d.]+)%", capsys.readouterr().out)
    assert weights and {w.lstrip("-") for w in weights} <= allowed
