"""One module per measuring lesson: the exact configurations its notebook runs and its claims test re-runs.

`freezelab.lessons.l03_strategies` belongs to `notebooks/03_strategies.py` and
`tests/test_lesson03_claims.py`, and so on: change a number here and both follow.
"""
