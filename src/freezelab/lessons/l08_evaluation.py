"""Lesson 8: the settings of its overfitting, accuracy-paradox and leakage experiments.

`notebooks/08_evaluation.py` and `tests/test_lesson08_claims.py` pass these same arguments to the
functions of `freezelab.evaluation`.
"""

from __future__ import annotations

TASK = "new_digits"
OVERFIT = {"k": 2, "seed": 0, "epochs": 40}       # a head on 2 labels per class memorises them ...
MORE_LABELS = {"k": 20, "seed": 0, "epochs": 40}  # ... and with ten times more labels the gap shrinks
FRAUD_SEED = 0
LEAKAGE = {"k": 3, "seeds": tuple(range(8)), "test_size": 100}
