"""Set up and open the freezelab course with one command: `python3 start.py`.

First run: creates .venv next to this file, installs the bundled freezelab wheel (and its
dependencies from PyPI, at exactly the versions in requirements/lock.txt, the ones the course was
tested with) and registers a Jupyter kernel. Every run: opens JupyterLab in this folder on the
start page (`freezelab lab`). `python3 start.py check NOTEBOOK` runs the self-check of an assignment instead.
"""

import os
import signal
import subprocess
import sys
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
LOCK = HERE / "requirements" / "lock.txt"
# freezelab.paths.CHECKPOINT_ENV and QUIZ_DIR_ENV, spelt out: this script runs in the system Python, where
# freezelab is not installed (tests/test_student_path.py checks that the names agree).
CHECKPOINT_ENV = "FREEZELAB_CHECKPOINT"
QUIZ_DIR_ENV = "FREEZELAB_QUIZ_DIR"
# Said before the first install, so that a long silent download does not look like a hang. Measured for the
# lock of this release on Linux x86_64: PyTorch comes with its CUDA libraries (they run fine on a CPU).
FIRST_RUN = """\
First run: installing the course into .venv/ here. This downloads about 3 GB from the Python package
index (mostly PyTorch and its CUDA libraries, which also run on a CPU) and needs about 6 GB of disk.
Expect 5 to 15 minutes, depending on your connection; pip shows its progress below. Later runs start
JupyterLab straight away."""


def install_command(wheel: Path) -> list[str]:
    """The pip command that installs the course: the wheel, constrained to the tested versions."""
    # no --quiet: pip's progress bars are the only sign of life during a multi-gigabyte download
    return [str(PY), "-m", "pip", "install", "--progress-bar", "on", "-c", str(LOCK), str(wheel)]


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
    print(FIRST_RUN, flush=True)
    if not PY.exists():
        print("creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    if subprocess.call(install_command(wheels[-1])) != 0:
        sys.exit("start.py: installing failed (see pip's message above). Check the network and the free "
                 "disk space, then run `python3 start.py` again: it carries on where it stopped.")
    subprocess.check_call([str(PY), "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3",
                           "--display-name", "Python 3 (freezelab)"])
    stamp.write_text(wheels[-1].name)


def main() -> int:
    """Set up once, then run `freezelab check ...` or open the course with `freezelab lab`."""
    setup()
    env = dict(os.environ, JUPYTER_PREFER_ENV_PATH="1",
               **{CHECKPOINT_ENV: str(HERE / "course_content" / "tiny_resnet_digits.pt"),
                  QUIZ_DIR_ENV: str(HERE / "course_content" / "quiz")})
    if sys.argv[1:2] == ["check"]:
        return subprocess.call([str(PY), "-m", "freezelab.cli", *sys.argv[1:]], env=env)
    # freezelab lab: this folder as the Lab's root, the start page open, .venv's bin on the terminals' PATH
    lab = subprocess.Popen([str(PY), "-m", "freezelab.cli", "lab", str(HERE), *sys.argv[1:]],
                           cwd=HERE, env=env)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is JupyterLab's: it asks, then shuts down cleanly
    return lab.wait()


if __name__ == "__main__":
    raise SystemExit(main())
