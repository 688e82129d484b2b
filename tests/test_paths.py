"""freezelab.paths: every FREEZELAB_* setting read in one place, course_content/ located one way."""

from pathlib import Path

from freezelab import paths


def test_overrides_win_and_empty_means_unset(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.CHECKPOINT_ENV, str(tmp_path / "ck.pt"))
    monkeypatch.setenv(paths.QUIZ_DIR_ENV, str(tmp_path / "quiz"))
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(tmp_path / "data"))
    monkeypatch.setenv(paths.DEVICE_ENV, "  CPU ")
    monkeypatch.setenv(paths.DB_URL_ENV, "")
    assert paths.checkpoint_path() == tmp_path / "ck.pt"
    assert paths.quiz_dir() == tmp_path / "quiz"
    assert paths.data_dir() == tmp_path / "data"
    assert paths.device_override() == "cpu"
    assert paths.db_url() is None  # an empty variable is the same as no variable


def test_course_content_is_found_from_another_working_folder(tmp_path, monkeypatch):
    for name in (paths.CHECKPOINT_ENV, paths.QUIZ_DIR_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    checkout = Path(paths.__file__).resolve().parents[2] / "course_content"
    assert paths.quiz_dir() == checkout / "quiz"
    assert paths.checkpoint_path() == checkout / paths.CHECKPOINT_NAME
    assert paths.repo_checkpoint_path() == checkout / paths.CHECKPOINT_NAME


def test_a_bundle_layout_is_found_through_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(paths.QUIZ_DIR_ENV, raising=False)
    monkeypatch.setattr(paths, "_PACKAGE", tmp_path / "site-packages" / "freezelab")  # installed, not a checkout
    bundle = tmp_path / "bundle"
    (bundle / "course_content" / "quiz").mkdir(parents=True)
    (bundle / "notebooks").mkdir()
    monkeypatch.chdir(bundle / "notebooks")  # Jupyter starts a lesson's kernel in its own folder
    assert paths.quiz_dir() == bundle / "course_content" / "quiz"
