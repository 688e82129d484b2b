"""Hidden checks for the freezelab assignments (instructor-only; never released to students).

Hidden test cells in the source notebooks only import and call functions from these modules, so the
feedback a learner receives shows the failure message but not the checking code.
"""

# One folder per assignment, next to this package in autograder/.
from assignments import ASSIGNMENTS

from ._common import REGISTRY, CheckFailed, module_for_checks


def checks_for(assignment: str) -> dict:
    """Graded name -> list of hidden checks, for one assignment."""
    if assignment not in ASSIGNMENTS:
        raise ValueError(f"unknown assignment {assignment!r}: choose one of {', '.join(ASSIGNMENTS)}.")
    return module_for_checks(f"{__name__}.{assignment}")


__all__ = ["ASSIGNMENTS", "REGISTRY", "CheckFailed", "checks_for"]
