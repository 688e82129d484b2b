"""The sandbox API (freezelab.grading.sandbox): both modes, small children, every way a child can end."""

import json
import os
import signal
import sys
import tempfile
from pathlib import Path

import pytest

from freezelab.grading import sandbox
from freezelab.grading.sandbox import Limits, SandboxError, Zygote

SCRIPT = "freezelab.grading._zygote:run_script"
SMALL = Limits(memory_bytes=1 * 2**30, cpu_seconds=20, max_processes=32, file_size_bytes=2**20,
               output_bytes=4096, scratch_bytes=16 * 2**20)
MODES = ["isolated", "plain"]


def isolation_or_skip():
    ok, why = sandbox.isolation_available()
    if not ok:
        pytest.skip(why)


@pytest.fixture(scope="module", params=MODES)
def zygote(request):
    """One warm zygote per mode for the module (no preload: these children import only the stdlib)."""
    if request.param == "isolated":
        isolation_or_skip()
    with Zygote(limits=SMALL, isolate=request.param == "isolated", preload=()) as z:
        yield z


def run(z: Zygote, code: str, timeout: float = 10, files: dict | None = None):
    """Run `code` as main.py in a fresh child; return its outcome and what it sent over the socket."""
    child = z.spawn(SCRIPT, {"main.py": code.encode(), **(files or {})})
    outcome = child.wait(timeout)
    child.sock.settimeout(1)
    received = b""
    try:
        while chunk := child.sock.recv(65536):
            received += chunk
    except OSError:
        pass
    child.sock.close()
    return outcome, received


def test_round_trip_files_and_output(zygote):
    code = ("import os, json; data = sock.recv(100); print('got', data.decode());"
            "sock.sendall(json.dumps({'cwd_files': sorted(os.listdir('.')), 'answer': data.decode()[::-1]}).encode())")
    child = zygote.spawn(SCRIPT, {"main.py": code.encode(), "sub/data.txt": b"abc"})
    child.sock.sendall(b"ping")
    outcome = child.wait(10)
    reply = child.sock.recv(1000)
    child.sock.close()
    assert outcome.reason == "ok" and outcome.exit_code == 0 and outcome.signal is None
    assert outcome.output == b"got ping\n" and not outcome.truncated
    assert b'"answer": "gnip"' in reply and b'"cwd_files": ["main.py", "sub"]' in reply
    assert outcome.wall_seconds > 0 and outcome.cpu_seconds >= 0


@pytest.mark.parametrize(("code", "reason", "exit_code"), [
    ("import os; os._exit(3)", "exit", 3),
    ("raise SystemExit('bye')", "exit", 1),
    ("raise ValueError('student bug')", "exit", 1),
    ("raise MemoryError", "memory", sandbox.MEMORY_EXIT),
    ("import threading, sys; t = threading.Thread(target=sys.exit, args=(5,)); t.start(); t.join()", "ok", 0),
])
def test_exits_are_named(zygote, code, reason, exit_code):
    outcome, _ = run(zygote, code)
    assert (outcome.reason, outcome.exit_code, outcome.signal) == (reason, exit_code, None)
    if "student bug" in code:
        assert b"ValueError: student bug" in outcome.output


def test_crash_by_signal(zygote):
    outcome, _ = run(zygote, "import ctypes; ctypes.string_at(0)")
    assert outcome.reason == "crash" and outcome.signal == signal.SIGSEGV and outcome.exit_code is None


def test_timeout_kills_hard_even_when_signals_are_ignored(zygote):
    code = ("import signal, time\nfor s in (signal.SIGINT, signal.SIGTERM): signal.signal(s, signal.SIG_IGN)\n"
            "print('started', flush=True)\nwhile True: time.sleep(0.01)")
    outcome, _ = run(zygote, code, timeout=1.5)
    assert outcome.reason == "timeout" and outcome.signal == signal.SIGKILL
    assert outcome.output.count(b"started") == 1  # ran once, never restarted
    assert outcome.wall_seconds < 10


def test_kill_from_outside(zygote):
    child = zygote.spawn(SCRIPT, {"main.py": b"import time\nsock.sendall(b'up')\ntime.sleep(60)"})
    assert child.sock.recv(2) == b"up"
    child.kill()
    outcome = child.wait(10)
    child.sock.close()
    assert outcome.reason == "killed" and outcome.signal == signal.SIGKILL


def test_output_is_capped(zygote):
    outcome, _ = run(zygote, "import sys\nfor _ in range(100): sys.stdout.write('y' * 1000)\nprint('end')")
    assert outcome.reason == "ok" and outcome.truncated and outcome.output == b"y" * SMALL.output_bytes


def test_one_child_at_a_time_and_bad_targets(zygote):
    child = zygote.spawn(SCRIPT, {"main.py": b"import time; time.sleep(30)"})
    with pytest.raises(SandboxError, match="still running"):
        zygote.spawn(SCRIPT)
    child.kill()
    assert child.wait(10).reason == "killed"
    child.sock.close()
    missing = zygote.spawn("freezelab.no_such_module:serve")
    outcome = missing.wait(10)
    missing.sock.close()
    assert outcome.reason == "exit" and b"No module named 'freezelab.no_such_module'" in outcome.output


def test_start_failures_are_one_line():
    with pytest.raises(SandboxError, match="cannot import no_such_package_xyz") as info:
        Zygote(isolate=False, preload=("no_such_package_xyz",), start_timeout=60).start()
    assert "\n" not in str(info.value)
    with pytest.raises(SandboxError, match="not started"):
        Zygote(isolate=False).spawn(SCRIPT)
    z = Zygote(isolate=False, preload=())
    z.close()
    z.close()  # idempotent, even when never started


def test_limits_must_be_positive():
    with pytest.raises(ValueError, match="scratch_bytes must be a positive int, got 0"):
        Limits(scratch_bytes=0)
    with pytest.raises(ValueError, match="memory_bytes"):
        Limits(memory_bytes=2.5e9)


def test_isolation_available_says_what_or_how_to_fix(monkeypatch, tmp_path):
    ok, why = sandbox.isolation_available()
    assert why and "\n" not in why
    if ok:
        assert "pid, net" in why
    monkeypatch.setattr(sandbox, "_bwrap", lambda: None)
    ok, why = sandbox.isolation_available()
    assert not ok and "apt-get install bubblewrap" in why and "--no-sandbox" in why
    old = "import sys\nprint('bubblewrap 0.4.0') if '--version' in sys.argv else None"
    fake = tmp_path / "bwrap"
    fake.write_text(f"#!{sys.executable}\n{old}\n")
    fake.chmod(0o755)
    monkeypatch.setattr(sandbox, "_bwrap", lambda: str(fake))
    ok, detail, fix = sandbox.isolation_check()
    assert not ok and detail == "bubblewrap 0.4.0 is too old (0.5 or newer needed)" and "newer" in fix
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    ok, detail, fix = sandbox.isolation_check()
    assert not ok and "No permissions to create new namespace" in detail and "user namespaces" in fix


def test_a_dead_zygote_is_reported_and_restartable():
    with Zygote(limits=SMALL, isolate=False, preload=()) as z:
        child = z.spawn(SCRIPT, {"main.py": b"import time; time.sleep(30)"})
        os.kill(z._proc.pid, signal.SIGKILL)  # the zygote dies under its child (e.g. the OOM killer)
        outcome = child.wait(10)
        child.sock.close()
        assert outcome.reason == "killed" and outcome.exit_code is None
        with pytest.raises(SandboxError, match="not started"):
            z.spawn(SCRIPT)
        z.start()
        again, _ = run(z, "print('back')")
        assert again.reason == "ok" and again.output == b"back\n"
        abandoned = z.spawn(SCRIPT, {"main.py": b"import time; time.sleep(30)"})
        z.close()  # without waiting for its child: the child is reported killed, a restart can spawn again
        assert abandoned.wait(1).reason == "killed"
        abandoned.sock.close()
        z.start()
        assert run(z, "print('again')")[0].output == b"again\n"


@pytest.mark.slow
def test_torch_preloaded_memory_headroom():
    """With torch imported (≈3.5 GB of address space already mapped) a child gets its full allowance on top."""
    limits = Limits(memory_bytes=2 * 2**30, cpu_seconds=60, output_bytes=4096)
    with Zygote(limits=limits, isolate=sandbox.isolation_available()[0]) as z:
        assert z.info["rss_kb"] > 100_000 and "torch" in z.preload
        fits, _ = run(z, "import torch\nx = torch.ones(2**28)\nprint(int(x.sum()))", timeout=60)
        assert fits.reason == "ok" and fits.output == b"268435456\n", fits.output
        too_big, _ = run(z, "import torch\nx = torch.empty(6 * 2**30, dtype=torch.uint8)", timeout=60)
        assert too_big.reason == "memory" and b"can't allocate memory" in too_big.output


@pytest.mark.parametrize(("base", "userns"), [("/tmp", False), ("/tmp", True), ("/dev/shm", False)],
                         ids=["tmp-own-uid", "tmp-userns", "shm-own-uid"])
def test_readonly_paths_under_tmp_stay_visible_to_every_child(base, userns):
    """A checkout, venv or checkpoint under /tmp (CI clones there) is bound read-only into each child's fresh /tmp."""
    isolation_or_skip()
    if os.geteuid() != 0 and not userns:
        pytest.skip("a uid per child needs root")
    if not os.path.isdir(base) or not os.access(base, os.W_OK):
        pytest.skip(f"{base} is not a writable folder here")
    with tempfile.TemporaryDirectory(dir=base, prefix="freezelab-ro-") as root:
        lib = Path(root, "deep", "lib")
        (lib / "ropkg").mkdir(parents=True)
        (lib / "ropkg" / "__init__.py").write_text("VALUE = 'imported from under /tmp'\n")
        weights = Path(root, "weights.bin")
        weights.write_bytes(b"checkpoint")
        code = f"""
import json, os, sys
sys.path.insert(0, {str(lib)!r})
import ropkg
def opened(path):
    try:
        open(path, 'a').close()
    except OSError as exc:
        return type(exc).__name__
    return 'written'
writes = {{path: opened(path) for path in {[str(lib / "ropkg" / "__init__.py"), str(lib / "new.py"),
                                            f"{root}/deep/new", f"{root}/new", str(weights)]!r}}}
left = os.path.exists('/tmp/left_behind')
open('/tmp/left_behind', 'w').close()
sock.sendall(json.dumps({{'value': ropkg.VALUE, 'weights': open({str(weights)!r}, 'rb').read().decode(),
                         'writes': writes, 'left': left}}).encode())
"""
        with Zygote(limits=SMALL, isolate=True, preload=(), readonly=[lib, weights], userns=userns) as z:
            for _ in range(2):  # the second child gets the same view, and nothing the first one wrote in /tmp
                outcome, received = run(z, code)
                assert outcome.reason == "ok", outcome.output
                found = json.loads(received)
                assert found["value"] == "imported from under /tmp" and found["weights"] == "checkpoint"
                assert "written" not in found["writes"].values(), found["writes"]
                assert not found["left"]
        assert (lib / "ropkg" / "__init__.py").read_text() == "VALUE = 'imported from under /tmp'\n"
        assert weights.read_bytes() == b"checkpoint" and sorted(os.listdir(root)) == ["deep", "weights.bin"]
