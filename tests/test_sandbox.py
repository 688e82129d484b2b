"""The sandbox API (freezelab.grading.sandbox): both modes, small children, every way a child can end."""

import json
import os
import signal
import sys
import tempfile
import time
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


TREE = Limits(memory_bytes=192 * 2**20, cpu_seconds=20, max_processes=16, file_size_bytes=2**20,
              output_bytes=4096, scratch_bytes=16 * 2**20)
# four processes that each touch 96 MiB: every one under the per-process rlimit (192 MiB), 384 MiB together
FOUR_HOGS = """
import os, time
pids = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        block = bytearray(96 * 2**20)
        for i in range(0, len(block), 4096):
            block[i] = 1
        time.sleep(20)
        os._exit(0)
    pids.append(pid)
for pid in pids:
    os.waitpid(pid, 0)
print('all four held their memory')
"""


@pytest.mark.parametrize("mode", MODES)
def test_several_processes_together_hit_the_tree_memory_limit(mode):
    """Each process stays under its rlimit; together they exceed the cgroup's cap and the whole tree is killed."""
    if mode == "isolated":
        isolation_or_skip()
    kind, why = sandbox.tree_limits()
    if kind == "rlimits":
        pytest.skip(f"no cgroup can be created here: {why}")
    with Zygote(limits=TREE, isolate=mode == "isolated", preload=()) as z:
        assert z.cgroups is not None, z.cgroup_note
        outcome, _ = run(z, FOUR_HOGS, timeout=30)
        assert outcome.reason == "memory", outcome
        assert outcome.detail == "memory limit (192 MiB for all its processes together) exceeded"
        assert b"all four held" not in outcome.output and outcome.wall_seconds < 20
        assert outcome.tree_peak_bytes > 128 * 2**20
        fine, _ = run(z, "block = bytearray(64 * 2**20)\nprint('ok')")  # the next child gets a fresh cap
        assert fine.reason == "ok" and 64 * 2**20 <= fine.tree_peak_bytes < TREE.memory_bytes
        bases = list(z.cgroups.bases.values())
        assert not [f for b in bases for f in b.iterdir() if f.is_dir()]  # each child's cgroup is removed after it
    assert not any(b.exists() for b in bases)  # and the grader's own folder when the sandbox closes


def test_without_cgroups_the_memory_limit_is_per_process():
    with Zygote(limits=TREE, isolate=False, preload=(), cgroups=False) as z:
        assert z.cgroups is None
        outcome, _ = run(z, "bytearray(400 * 2**20)")
        assert outcome.reason == "memory" and outcome.detail == "memory limit (192 MiB per process) exceeded"


def test_seccomp_table_is_chosen_by_architecture(monkeypatch):
    from freezelab.grading import _zygote

    x86, arm = _zygote.seccomp_program("x86_64"), _zygote.seccomp_program("aarch64")
    assert x86[1][3] == 0xC000003E and arm[1][3] == 0xC00000B7  # AUDIT_ARCH_X86_64, AUDIT_ARCH_AARCH64
    tables = _zygote.SECCOMP_TABLES
    assert set(tables["x86_64"]["denied"]) - set(tables["aarch64"]["denied"]) == {"iopl", "ioperm"}
    assert set(tables["aarch64"]["denied"]) < set(tables["x86_64"]["denied"])
    # spot checks against the kernel's tables (the numbers differ between the two)
    assert tables["aarch64"]["denied"]["ptrace"] == 117 and tables["x86_64"]["denied"]["ptrace"] == 101
    assert tables["aarch64"]["denied"]["mount"] == 40 and tables["aarch64"]["clone"] == 220
    for table in tables.values():
        numbers = list(table["denied"].values())
        assert len(numbers) == len(set(numbers)) and table["clone"] not in numbers
    denied = {insn[3] for insn in arm if insn[:3] == (0x15, 0, 1)}
    assert set(tables["aarch64"]["denied"].values()) <= denied and 101 not in denied  # x86's ptrace is not aarch64's
    assert _zygote.seccomp_machine("riscv64") is None
    with pytest.raises(ValueError, match="riscv64"):
        _zygote.seccomp_program("riscv64")
    monkeypatch.setattr(_zygote, "MACHINE", "riscv64")
    assert _zygote.install_seccomp() is False  # no filter rather than a wrong one
    assert sandbox.seccomp_status() == "seccomp off (no filter for riscv64)"
    monkeypatch.setattr(_zygote, "MACHINE", "aarch64")
    assert sandbox.seccomp_status() == "seccomp deny-list (aarch64)"


def _fake_cgroup_fs(tmp_path, v2_controllers: str, v1: bool):
    """A /proc/self and cgroup file systems made of plain folders, as `TreeCgroups.detect` reads them."""
    proc, fs = tmp_path / "proc", tmp_path / "fs"
    (proc / "self").mkdir(parents=True)
    (fs / "unified").mkdir(parents=True)
    (fs / "unified" / "cgroup.controllers").write_text(v2_controllers + "\n")
    (fs / "unified" / "cgroup.subtree_control").write_text("\n")
    mounts = [f"cgroup2 {fs / 'unified'} cgroup2 rw,relatime 0 0"]
    cgroup = ["0::/"]
    if v1:
        for i, name in enumerate(("memory", "pids"), 1):
            (fs / name / "grader").mkdir(parents=True)
            mounts.append(f"cgroup {fs / name} cgroup rw,relatime,{name} 0 0")
            cgroup.append(f"{i}:{name}:/grader")
    (proc / "self" / "mounts").write_text("\n".join(mounts) + "\n")
    (proc / "self" / "cgroup").write_text("\n".join(cgroup) + "\n")
    return proc, fs


def test_cgroup_v2_is_preferred_and_v1_is_the_fallback(tmp_path):
    from freezelab.grading.cgroups import TreeCgroups

    proc, fs = _fake_cgroup_fs(tmp_path / "v2", "cpu memory pids", v1=True)
    found, detail = TreeCgroups.detect(proc)
    assert found.version == "v2" and detail.startswith("cgroup v2: ")
    assert (fs / "unified" / "cgroup.subtree_control").read_text() == "+memory +pids"
    child = found.create(256 * 2**20, 17)
    folder = child.folders["memory"]
    assert folder.parent.name.startswith("freezelab-") and child.folders["pids"] == folder
    assert (folder / "memory.max").read_text() == str(256 * 2**20) and (folder / "pids.max").read_text() == "17"
    assert (folder / "memory.swap.max").read_text() == "0" and (folder / "memory.oom.group").read_text() == "1"
    assert child.procs == [folder / "cgroup.procs"] and not child.oom_killed()
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    (folder / "memory.peak").write_text("268435456\n")
    assert child.oom_killed() and child.usage().oom_kills == 1 and child.usage().peak_bytes == 256 * 2**20

    proc, fs = _fake_cgroup_fs(tmp_path / "v1", "hugetlb", v1=True)  # this machine: v2 without memory
    stale = fs / "memory" / "grader" / "freezelab-4194305-0"  # left by a grader that died (no such pid)
    (stale / "c3").mkdir(parents=True)
    found, detail = TreeCgroups.detect(proc)
    assert found.version == "v1" and detail.startswith("cgroup v1: ")
    assert not stale.exists()  # removed by the next grader
    child = found.create(128 * 2**20, 9)
    assert child.folders["memory"].parent.parent == fs / "memory" / "grader"
    assert (child.folders["memory"] / "memory.limit_in_bytes").read_text() == str(128 * 2**20)
    assert (child.folders["pids"] / "pids.max").read_text() == "9" and len(child.procs) == 2
    (child.folders["memory"] / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert child.usage().oom_kills == 2

    proc, fs = _fake_cgroup_fs(tmp_path / "none", "hugetlb", v1=False)
    found, detail = TreeCgroups.detect(proc)
    assert found is None and "memory and pids controllers are not available" in detail


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def test_a_daemon_dies_with_its_cgroup_even_when_the_zygote_was_killed():
    """Plain mode: a new-session daemon escapes the zygote's process tree, not the child's cgroup."""
    if sandbox.tree_limits()[0] == "rlimits":
        pytest.skip("no cgroup can be created here")
    token = "24681357"
    with Zygote(limits=SMALL, isolate=False, preload=()) as z:
        child = z.spawn(SCRIPT, {"main.py": f"""
import subprocess
subprocess.Popen(['sleep', '600.{token}'], start_new_session=True)
sock.sendall(b'up')
sock.recv(10)
""".encode()})
        assert child.sock.recv(2) == b"up"
        for _ in range(100):  # the daemon shows up on the host's /proc
            daemon = [p for p in Path("/proc").iterdir() if p.name.isdigit() and token.encode() in _cmdline(p)]
            if daemon:
                break
            time.sleep(0.02)
        assert daemon
        os.kill(z._proc.pid, signal.SIGKILL)  # the zygote dies: the daemon is re-parented, out of its reach
        z._proc.wait()
    outcome = child.wait(1)
    assert outcome.reason == "killed"
    time.sleep(0.2)
    alive = [p for p in daemon if _cmdline(p) and b" Z " not in (p / "stat").read_bytes().split(b")")[-1][:3]]
    assert not alive, "the daemon outlived its cgroup"
