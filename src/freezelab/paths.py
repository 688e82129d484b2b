"""Where freezelab's files live, and every FREEZELAB_* environment variable, read in one place.

A setting is read when it is asked for (not at import), so tests and `start.py` can set it in the environment.
"""

from __future__ import annotations

import os
from pathlib import Path

CHECKPOINT_ENV = "FREEZELAB_CHECKPOINT"  # the pretrained TinyResNet file
QUIZ_DIR_ENV = "FREEZELAB_QUIZ_DIR"  # the folder of quiz bank YAML files
DATA_DIR_ENV = "FREEZELAB_DATA_DIR"  # where a learner's quiz progress is kept
DEVICE_ENV = "FREEZELAB_DEVICE"  # force cuda, mps or cpu
DB_URL_ENV = "FREEZELAB_DB_URL"  # a shared gradebook (postgresql://...), read by nbgrader_config.py too
VERDICTS_ENV = "FREEZELAB_VERDICTS"  # the checker's reports, handed to nbgrader's autograde step

CHECKPOINT_NAME = "tiny_resnet_digits.pt"
_PACKAGE = Path(__file__).resolve().parent


def _setting(name: str) -> str | None:
    """The variable's value, or None when it is unset or empty."""
    return os.environ.get(name) or None


def course_content_candidates() -> list[Path]:
    """Where course_content/ may be, in the order looked at: the checkout, the package, the cwd, its parent."""
    return [_PACKAGE.parents[1] / "course_content", _PACKAGE / "course_content",
            Path.cwd() / "course_content", Path.cwd().parent / "course_content"]


def course_content(needs: str = "") -> Path:
    """The first course_content/ folder that holds `needs` (a relative path; "" for the folder itself)."""
    candidates = course_content_candidates()
    for folder in candidates:
        if (folder / needs).exists():
            return folder
    return candidates[0]


def checkpoint_path() -> Path:
    """The course checkpoint: $FREEZELAB_CHECKPOINT, else course_content/ in the repo or bundle."""
    override = _setting(CHECKPOINT_ENV)
    return Path(override) if override else course_content(CHECKPOINT_NAME) / CHECKPOINT_NAME


def repo_checkpoint_path() -> Path:
    """Where `python -m freezelab.pretrain` writes by default: course_content/ of this checkout."""
    return course_content_candidates()[0] / CHECKPOINT_NAME


def quiz_dir() -> Path:
    """The quiz bank folder: $FREEZELAB_QUIZ_DIR, else course_content/quiz in the repo or bundle."""
    override = _setting(QUIZ_DIR_ENV)
    return Path(override) if override else course_content("quiz") / "quiz"


def data_dir() -> Path:
    """$FREEZELAB_DATA_DIR if set (tests use it), else the platform's user data dir."""
    override = _setting(DATA_DIR_ENV)
    if override:
        return Path(override)
    import platformdirs  # only learners' machines need it

    return Path(platformdirs.user_data_dir("freezelab"))


def device_override() -> str:
    """$FREEZELAB_DEVICE stripped and lower-cased ("" when unset)."""
    return (os.environ.get(DEVICE_ENV) or "").strip().lower()


def db_url() -> str | None:
    """$FREEZELAB_DB_URL: a shared gradebook's URL, or None for nbgrader's own SQLite file."""
    return _setting(DB_URL_ENV)


def verdicts_dir() -> str:
    """$FREEZELAB_VERDICTS, the folder of checker reports ("" when unset)."""
    return os.environ.get(VERDICTS_ENV, "")
