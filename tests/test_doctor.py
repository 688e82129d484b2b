"""Tests for `freezelab doctor`: each check finds what it should, the CLI exits 0 / 1, JSON output."""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from freezelab import doctor
from freezelab.cli import main as cli_main


def test_doctor_in_process_healthy_and_json(capsys):
    status = cli_main(["doctor", "--json"])
    report = json.loads(capsys.readouterr().out)
    names = [c["name"] for c in report["checks"]]
    for expected in ("python", "torch", "torchvision", "jupyterlab", "nbgrader", "ipywidgets", "device",
                     "checkpoint", "jupyter kernel", "widgets extension", "nbgrader extension",
                     "nbgrader server", "grading sandbox"):
        assert expected in names
    problems = [c for c in report["checks"] if not c["ok"] and not c["optional"]]
    assert report["healthy"] is (not problems)
    assert status == (1 if problems else 0)
    assert all(c["fix"] for c in report["checks"] if not c["ok"])  # every problem or note says what to do
    assert not problems, problems  # the project's own environment must be healthy


def test_problems_give_exit_1_and_fixes(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("FREEZELAB_DEVICE", "tpu")
    monkeypatch.setenv("FREEZELAB_CHECKPOINT", str(tmp_path / "missing.pt"))
    assert doctor.main([]) == 1
    lines = capsys.readouterr().out.splitlines()
    device = next(line for line in lines if " device " in line)
    checkpoint = next(line for line in lines if " checkpoint " in line)
    assert device.startswith("PROBLEM") and "fix: unset FREEZELAB_DEVICE" in device
    assert checkpoint.startswith("PROBLEM") and "freezelab.pretrain" in checkpoint
    assert next(line for line in lines if line.startswith("OK") and " torch " in line)


def test_torchvision_nms_mismatch_is_explained():
    def broken(name):
        raise RuntimeError("operator torchvision::nms does not exist")

    check = doctor.check_torchvision(importer=broken)
    assert not check.ok and "torchvision::nms" in check.detail
    assert "same index" in check.fix and "torch torchvision" in check.fix
    other = doctor.check_torchvision(importer=lambda name: (_ for _ in ()).throw(ImportError("no module")))
    assert not other.ok and "make venv" in other.fix


def test_kernel_from_another_environment_is_a_problem():
    def manager(argv):
        return SimpleNamespace(get_kernel_spec=lambda name: SimpleNamespace(argv=argv))

    assert doctor.check_kernel(manager([sys.executable, "-m", "ipykernel_launcher"])).ok
    elsewhere = doctor.check_kernel(manager(["/opt/other/bin/python", "-m", "ipykernel_launcher"]))
    assert not elsewhere.ok and "--sys-prefix" in elsewhere.fix

    class NoKernel:
        def get_kernel_spec(self, name):
            raise KeyError(name)

    missing = doctor.check_kernel(NoKernel())
    assert not missing.ok and "no kernel named 'python3'" in missing.detail


def test_missing_or_disabled_lab_extension(monkeypatch):
    monkeypatch.setattr(doctor, "_lab_extensions", lambda: ({}, set()))
    assert "not installed" in doctor.check_lab_extension(doctor.WIDGETS_EXT, "ipywidgets").detail
    installed = {doctor.NBGRADER_EXT: {"version": "0.9"}}
    monkeypatch.setattr(doctor, "_lab_extensions", lambda: (installed, {doctor.NBGRADER_EXT}))
    check = doctor.check_lab_extension(doctor.NBGRADER_EXT, "nbgrader")
    assert not check.ok and "labextension enable" in check.fix
    monkeypatch.setattr(doctor, "_lab_extensions", lambda: (installed, set()))
    assert doctor.check_lab_extension(doctor.NBGRADER_EXT, "nbgrader").ok


def test_isolation_line_says_available_or_the_fix(monkeypatch, capsys):
    found = doctor.check_isolation()
    assert found.name == "grading sandbox" and found.detail and "\n" not in found.line()
    missing = doctor.check_isolation(lambda: (False, "bubblewrap (bwrap) is not installed", "apt-get install bubblewrap"))
    assert not missing.ok and not missing.problem
    assert missing.line().startswith("NOTE") and "apt-get install bubblewrap" in missing.line()
    assert "--no-sandbox" in missing.fix
    broken = doctor.check_isolation(lambda: 1 / 0)
    assert broken.line().startswith("NOTE") and "ZeroDivisionError" in broken.detail
    # a machine without isolation is still healthy for learners: a note, exit status unchanged
    monkeypatch.setattr(doctor, "check_isolation", lambda: missing)
    monkeypatch.setattr(doctor, "run_checks", lambda: [doctor.check_python(), doctor.check_isolation()])
    assert doctor.main([]) == 0
    assert "NOTE     grading sandbox" in capsys.readouterr().out


def test_grading_limits_say_cgroup_version_or_rlimits_only_and_seccomp():
    found = doctor.check_grading_limits()
    assert found.name == "grading limits" and found.detail.startswith(("cgroup v2: ", "cgroup v1: ", "rlimits only"))
    assert "seccomp" in found.detail and "\n" not in found.line()
    v1 = doctor.check_grading_limits(lambda: ("cgroup v1", "cgroup v1: memory and pids capped per submission"),
                                     lambda: "seccomp deny-list (aarch64)")
    assert v1.ok and v1.line().startswith("OK") and "cgroup v1" in v1.detail and "aarch64" in v1.detail
    rlimits = doctor.check_grading_limits(lambda: ("rlimits", "rlimits only, memory capped per process"),
                                          lambda: "seccomp deny-list (x86_64)")
    assert not rlimits.ok and not rlimits.problem and rlimits.line().startswith("NOTE")
    assert "Delegate=yes" in rlimits.fix and "rlimits only" in rlimits.detail
    off = doctor.check_grading_limits(lambda: ("cgroup v2", "cgroup v2: memory and pids capped per submission"),
                                      lambda: "seccomp off (no filter for riscv64)")
    assert not off.ok and "seccomp off (no filter for riscv64)" in off.line() and "x86_64 and aarch64" in off.fix


def test_missing_package_is_a_problem():
    check = doctor.check_package("surely-not-installed-freezelab-xyz")
    assert not check.ok and check.line().startswith("PROBLEM") and "fix:" in check.line()


@pytest.mark.slow
def test_console_script_subprocess(monkeypatch):
    # `make test` exports the JUPYTER_* variables for the in-process run above; here they are unset,
    # so between the two tests doctor is checked both ways.
    script = Path(sys.executable).parent / "freezelab"
    for key in ("JUPYTER_PREFER_ENV_PATH", "JUPYTER_PLATFORM_DIRS", "FREEZELAB_DEVICE"):
        monkeypatch.delenv(key, raising=False)
    done = subprocess.run([str(script), "doctor"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All good." in done.stdout and "PROBLEM" not in done.stdout
