"""Typed "what does this print?" answers: what counts as the same printout."""

from __future__ import annotations

import pytest

from freezelab.quiz.answers import matches


@pytest.mark.parametrize("typed, answer, tolerance", [
    ("[0.01,0.00385]", "[0.01, 0.00385]", None),                 # no space after commas
    ("[ 0.01 , 0.00385 ]", "[0.01, 0.00385]", None),             # spaces inside brackets
    ("(2,3) 6 2", "(2, 3) 6 2", None),
    ("[72,144,216]", "[72, 144, 216]", None),                    # a list, not thousands
    ("11,689,512", "11689512", None),                            # thousands separators
    ("11_689_512", "11689512", None),
    ("Trainable: 10245 / Total: 23518277 (0.04%)", "Trainable: 10,245 / Total: 23,518,277 (0.04%)", None),
    ("['fc.weight','fc.bias'] 5,124", "['fc.weight', 'fc.bias'] 5124", None),
    ("True 16", "True\n16\n", None),                             # line breaks
    ("0.8950 0.85", "0.895 0.85", 0),                            # trailing zeros when numbers count by value
    ("[0.00001, 0.0001]", "[1e-05, 0.0001]", 0),
    ("0.896 0.85", "0.895 0.85", 0.001),                         # within the item's tolerance
])
def test_equivalent_printouts_are_accepted(typed, answer, tolerance):
    assert matches(typed, answer, tolerance)


@pytest.mark.parametrize("typed, answer, tolerance", [
    ("", "12 67", None),
    ("1267", "12 67", None),                                     # the space between numbers matters
    ("[72144216]", "[72, 144, 216]", None),                      # a spaced list is not a grouped number
    ("0.8950 0.85", "0.895 0.85", None),                         # exact unless the item allows tolerance
    ("[0.00001, 0.0001]", "[1e-05, 0.0001]", None),
    ("0.9 0.85", "0.895 0.85", 0.001),                           # outside the tolerance
    ("['fc.2.weight'] 5", "['fc.1.weight'] 5", 0),               # digits in names are not numbers
    ("12 67 1", "12 67", 0),                                     # an extra number
])
def test_different_printouts_are_rejected(typed, answer, tolerance):
    assert not matches(typed, answer, tolerance)
