"""Old home of the freezing helpers, now in `freezelab.plans`; kept importable only until
tests/test_autograder_content.py (and the graders' BANNED_MODULES lists) name `freezelab.plans` instead."""

from .plans import frozen_bn_to_eval, train_only, trainable_parameters

__all__ = ["frozen_bn_to_eval", "train_only", "trainable_parameters"]
