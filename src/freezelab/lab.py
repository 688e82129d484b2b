"""`freezelab lab` and `freezelab formgrader`: open JupyterLab as a student or as the instructor.

The student Lab is rooted at the course folder (lessons in notebooks/, assignments in assignments/), opens
on the start page, hides the lesson sources and goldens, has none of nbgrader's instructor panels nor
JupyterLab's news and update pop-ups, and gives its terminals this environment's `freezelab` on PATH.
The instructor's `freezelab formgrader` opens nbgrader's formgrader on the course root.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

START_PAGE = "notebooks/00_start_here.ipynb"
# nbgrader's JupyterLab plugins a student has no use for: the Nbgrader menu (formgrader, courses), the
# "Create Assignment" sidebar, the courses and assignments lists (they need an exchange, which a bundle has
# not) and the Validate button (it does not apply the course's stderr filter: the self-check does).
NBGRADER_LAB_PLUGINS = ("menu", "formgrader", "create-assignment", "course-list", "assignment-list",
                        "validate-assignment")
NBGRADER_SERVER_EXTENSIONS = ("formgrader", "course_list", "assignment_list", "validate_assignment")
# JupyterLab's announcements plugin: the "get notified about official Jupyter news?" pop-up, the news feed
# and the update check. A student needs none of them (and a course runs offline); the server side is off too.
ANNOUNCEMENTS_PLUGIN = "@jupyterlab/apputils-extension:announcements"
# Jupyter's defaults plus what a student need not see: the jupytext twins of the lessons
# (`00_start_here.py` next to `00_start_here.ipynb`), the checked outputs, jupytext's config, and what a
# bundle's start.py installs from (the wheel and the lock of tested versions).
HIDE_GLOBS = ["__pycache__", "*.pyc", "*.pyo", ".DS_Store", "*~",
              "[0-9][0-9]_*.py", "expected", "jupytext.toml", "wheels", "requirements"]


def student_config() -> dict[str, dict]:
    """Files of the student Lab's extra Jupyter config folder, as relative path -> JSON content."""
    shell = os.environ.get("SHELL") or shutil.which("sh") or "sh"
    return {
        "jupyter_server_config.json": {
            "ServerApp": {"jpserver_extensions": {f"nbgrader.server_extensions.{name}": False
                                                  for name in NBGRADER_SERVER_EXTENSIONS},
                          # a plain (not login) shell: /etc/profile would reset PATH and lose `freezelab`
                          "terminado_settings": {"shell_command": [shell]}},
            "ContentsManager": {"hide_globs": HIDE_GLOBS},
            # no fetch of JupyterLab's Atom feed, no request to PyPI for a newer JupyterLab
            "LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"},
        },
        "labconfig/page_config.json": {
            "disabledExtensions": {**{f"@jupyter/nbgrader:{name}": True for name in NBGRADER_LAB_PLUGINS},
                                   ANNOUNCEMENTS_PLUGIN: True},
        },
    }


def write_config(folder: Path, files: dict[str, dict]) -> Path:
    """Write config files (relative path -> JSON) under `folder`; return it."""
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")
    return folder


def lab_env(config_dir: Path | None = None) -> dict[str, str]:
    """The server's environment: this env's bin/ first on PATH (Lab terminals inherit it), its Jupyter."""
    env = dict(os.environ, JUPYTER_PREFER_ENV_PATH="1")
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bindir, *[p for p in env.get("PATH", "").split(os.pathsep)
                                              if p and p != bindir]])
    if config_dir:
        extra = [p for p in env.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p]
        env["JUPYTER_CONFIG_PATH"] = os.pathsep.join([str(config_dir), *extra])
    return env


def lab_command(root: Path, url: str, extra: list[str]) -> list[str]:
    """`jupyter lab` rooted at `root`, opening `url` (relative to the server) first."""
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}",
           f"--LabApp.default_url={url}"]
    if hasattr(os, "getuid") and os.getuid() == 0 and "--allow-root" not in extra:
        cmd.append("--allow-root")  # JupyterLab refuses to run as root without it
    return cmd + extra


def find_course_folder(root: str | None) -> Path:
    """The folder with notebooks/00_start_here.ipynb: `root`, else the current folder, else the checkout."""
    from .grading.course import UsageError, repo_root

    checkout = [repo_root()] if (repo_root() / "pyproject.toml").is_file() else []  # not from a wheel
    candidates = [Path(root)] if root else [Path.cwd(), *checkout]
    for folder in candidates:
        if (folder / START_PAGE).is_file():
            return folder.resolve()
    where = root or " or ".join(["the current folder", *map(str, checkout)])
    raise UsageError(f"no {START_PAGE} in {where}: pass the course folder (the unzipped bundle or the "
                     "repository), e.g. `freezelab lab path/to/course`")


def kernel_language_info() -> dict:
    """The language_info this environment's python3 kernel reports when JupyterLab connects to it."""
    from ipykernel.ipkernel import IPythonKernel

    return json.loads(json.dumps(IPythonKernel.language_info))  # plain JSON types, as a notebook stores them


def stamp_language_info(root: Path) -> list[Path]:
    """Give the course's notebooks this kernel's language_info; return the notebooks changed.

    JupyterLab writes the kernel's language_info into a notebook that lacks it (or has another Python's),
    which marks an untouched lesson as changed and asks "save your work?" on close. A student's course
    folder is theirs to stamp once; the repository's tracked lessons are left alone (other Pythons use them).
    """
    import nbformat

    if (root / "pyproject.toml").is_file() and (root / "src" / "freezelab").is_dir():
        return []
    info, changed = kernel_language_info(), []
    for path in sorted([*root.glob("notebooks/*.ipynb"), *root.glob("assignments/*/*.ipynb")]):
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception:  # a broken notebook is the student's to fix in the Lab, not ours to rewrite
            continue
        if nb.metadata.get("language_info") == info:
            continue
        nb.metadata["language_info"] = info
        nbformat.write(nb, path)
        changed.append(path)
        twin = path.with_suffix(".py")
        if twin.is_file():  # jupytext refuses a paired .ipynb newer than its text twin: keep them level
            os.utime(twin)
    return changed


def run_foreground(cmd: list[str], **kwargs) -> int:
    """Run a server until it exits; Ctrl+C goes to it alone (Jupyter asks, then shuts kernels down)."""
    proc = subprocess.Popen(cmd, **kwargs)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    # a SIGTERM for us (a process manager, a test) stops the server too instead of orphaning it
    previous_term = signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        return proc.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)


def lab_main(argv: list[str]) -> int:
    """Entry point of `freezelab lab`."""
    from .grading.course import UsageError

    parser = argparse.ArgumentParser(
        prog="freezelab lab", description="open the course in JupyterLab as a student sees it",
        epilog="Other options go to `jupyter lab`, e.g. `freezelab lab --no-browser --port 8899`.")
    parser.add_argument("root", nargs="?", help="the course folder (default: the current folder if it "
                                                "holds notebooks/, else this checkout)")
    args, extra = parser.parse_known_args(argv)
    try:
        root = find_course_folder(args.root)
    except UsageError as exc:
        print(f"freezelab lab: {exc}", file=sys.stderr)
        return 2
    print(f"opening the course in {root}")
    stamp_language_info(root)
    with tempfile.TemporaryDirectory(prefix="freezelab-lab-") as tmp:
        config = write_config(Path(tmp), student_config())
        return run_foreground(lab_command(root, f"/lab/tree/{START_PAGE}", extra),
                              cwd=root, env=lab_env(config))


def formgrader_main(argv: list[str]) -> int:
    """Entry point of `freezelab formgrader`."""
    from .grading.course import GradingError, find_course

    parser = argparse.ArgumentParser(
        prog="freezelab formgrader", description="instructor: open nbgrader's formgrader on the course root",
        epilog="Other options go to `jupyter lab`, e.g. `freezelab formgrader --no-browser`.")
    parser.add_argument("--course", help="nbgrader course root (default: ./autograder or the current "
                                         "folder if it is one, else the repo's autograder/)")
    args, extra = parser.parse_known_args(argv)
    try:
        root = find_course(args.course)
    except GradingError as exc:
        print(f"freezelab formgrader: {exc}", file=sys.stderr)
        return 2
    print(f"formgrader for the course in {root}")
    if (root / "rubrics").is_dir():  # autograding puts them under each answer; edits show at the next one
        print(f"rubrics of the free-response answers: {root / 'rubrics'} (shown under each answer in "
              "formgrader once graded with freezelab grade --into-course)")
    # nbgrader reads nbgrader_config.py from the server's working folder: start it in the course root.
    return run_foreground(lab_command(root, "/formgrader", extra), cwd=root, env=lab_env())
