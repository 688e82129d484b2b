"""Set up and open the freezelab course with one command: `python3 start.py`.

First run: creates .venv next to this file, installs the bundled freezelab wheel (and its
dependencies from PyPI, at exactly the versions in requirements/lock.txt, the ones the course was
tested with) and registers a Jupyter kernel. Every run: opens JupyterLab on the
start page. `python3 start.py check NOTEBOOK` runs the self-check of an assignment instead.
"""

import os
import subprocess
import sys
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
LOCK = HERE / "requirements" / "lock.txt"


def install_command(wheel: Path) -> list[str]:
    """The pip command that installs the course: the wheel, constrained to the tested versions."""
    return [str(PY), "-m", "pip", "install", "--quiet", "-c", str(LOCK), str(wheel)]


def setup() -> None:
    """Create the virtual environment and install the bundled wheel once."""
    wheels = sorted((HERE / "wheels").glob("freezelab-*.whl"))
    if not wheels:
        sys.exit("start.py: no wheels/freezelab-*.whl next to this script; re-download the bundle.")
    if not LOCK.is_file():
        sys.exit("start.py: requirements/lock.txt (the tested versions) is missing; re-download the bundle.")
    stamp = VENV / ".freezelab-installed"
    if PY.exists() and stamp.exists() and stamp.read_text() == wheels[-1].name:
        return
    if not PY.exists():
        print("creating .venv ...")
        venv.create(VENV, with_pip=True)
    print("installing freezelab and its dependencies (first run only, a few minutes) ...")
    subprocess.check_call(install_command(wheels[-1]))
    subprocess.check_call([str(PY), "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3",
                           "--display-name", "Python 3 (freezelab)"])
    stamp.write_text(wheels[-1].name)


def main() -> int:
    setup()
    env = dict(os.environ, JUPYTER_PREFER_ENV_PATH="1",
               FREEZELAB_CHECKPOINT=str(HERE / "course_content" / "tiny_resnet_digits.pt"),
               FREEZELAB_QUIZ_DIR=str(HERE / "course_content" / "quiz"))
    if sys.argv[1:2] == ["check"]:
        return subprocess.call([str(PY), "-m", "freezelab.cli", *sys.argv[1:]], env=env)
    start = HERE / "notebooks" / "00_start_here.ipynb"
    cmd = [str(PY), "-m", "jupyter", "lab", str(start) if start.exists() else str(HERE)]
    if hasattr(os, "getuid") and os.getuid() == 0:
        cmd.append("--allow-root")  # JupyterLab refuses to run as root without it
    return subprocess.call(cmd + sys.argv[1:], cwd=HERE, env=env)


if __name__ == "__main__":
    raise SystemExit(main())
