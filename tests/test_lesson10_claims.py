"""The speed and memory numbers lesson 10's cheat sheet (and quiz pit-predict-always-faster) quote from
lesson 7: `step_flops` and `saved_activation_bytes` re-run on lesson 7's batch, rounded as printed.
If one fails, change the experiment or the text, never just the test.
"""

from __future__ import annotations

from _claims import cheat_sheet, quiz_item

from freezelab.backbones import load_pretrained
from freezelab.bench import frozen_sets, saved_activation_bytes, step_flops
from freezelab.lessons import l07_speed

# --- lesson 10 ("Speed") and quiz pit-predict-always-faster: lesson 7's counts -----------------------------

def test_quoted_backward_flops_and_saved_memory_are_lesson_7s():
    """'backward 428 instead of 777 MFLOP, 4.79 instead of 10.14 MiB ... saves their weight gradients'
    compute (542 MFLOP) but no activation memory (10.14 MiB, as with nothing frozen)'."""
    batch = l07_speed.batch()  # lesson 7's batch
    sets = frozen_sets(load_pretrained(num_classes=5))
    names = ("none", "first 50%", "last 50%")
    mflop = {n: f"{step_flops(load_pretrained(num_classes=5), batch, sets[n])[1] / 1e6:.0f}" for n in names}
    mib = {n: f"{saved_activation_bytes(load_pretrained(num_classes=5), batch, sets[n], 'cpu') / 2**20:.2f}"
           for n in names}
    assert mib["last 50%"] == mib["none"] and int(mflop["first 50%"]) < int(mflop["last 50%"]) < int(mflop["none"])

    sheet = cheat_sheet()
    assert f"backward {mflop['first 50%']} instead of {mflop['none']} MFLOP" in sheet
    assert f"{mib['first 50%']} instead of {mib['none']} MiB saved for backward" in sheet
    assert f"weight gradients' compute ({mflop['last 50%']} MFLOP) but no activation memory ({mib['none']} MiB" in sheet

    answer = quiz_item("pit-predict-always-faster", "course_content/quiz/06_pitfalls.yaml")["answer"]
    assert f"backward work fell from {mflop['none']} to {mflop['first 50%']} MFLOP" in answer
    assert f"from {mib['none']} to {mib['first 50%']} MiB" in answer
    assert f"(backward {mflop['last 50%']} MFLOP) but no activation memory (still {mib['none']} MiB)" in answer
