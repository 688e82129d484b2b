"""Hostile children against the sandbox itself: each tries one escape and must be contained, with a clear reason.

Every action is bounded (small limits, timeouts of a few seconds) so the suite can never hurt the machine.
The verdicts of graded notebooks are tested elsewhere; here only the process boundary is attacked.
"""

import hashlib
import json
import os
import socket
import sys
from pathlib import Path

import pytest
from _procs import host_cmdlines, tree

from freezelab.grading import sandbox
from freezelab.grading._zygote import CHILD_UID_BASE, CHILD_UID_SPAN
from freezelab.grading.sandbox import Limits, Zygote

SCRIPT = "freezelab.grading._zygote:run_script"
LIMITS = Limits(memory_bytes=1 * 2**30, cpu_seconds=20, max_processes=24, file_size_bytes=2**20,
                output_bytes=8192, scratch_bytes=8 * 2**20)
REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "src" / "freezelab"
CANARY = "FREEZELAB_TEST_CANARY"



@pytest.fixture(scope="module", params=["isolated", "userns", "plain"])
def zygote(request):
    """One zygote per mode for the module, with a secret in the grader's environment it must never see.

    "userns" is the mode a non-root instructor gets (children keep the zygote's uid in a user namespace of
    their own); as root it is tested too.
    """
    if request.param != "plain" and not sandbox.isolation_available()[0]:
        pytest.skip(sandbox.isolation_available()[1])
    os.environ[CANARY] = "grader-secret"
    try:
        with Zygote(limits=LIMITS, isolate=request.param != "plain", preload=(),
                    userns=request.param == "userns" or None) as z:
            yield z
    finally:
        del os.environ[CANARY]


def isolated_only(z: Zygote) -> None:
    """Skip for --no-sandbox: it keeps the limits and the clean-up, not the namespaces or the uid."""
    if z.mode == "plain":
        pytest.skip("the plain mode (--no-sandbox) does not isolate this")


def digest(folder: Path) -> str:
    """One hash over every file's path and bytes under `folder`."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(path).encode() + path.read_bytes())
    return h.hexdigest()


def attack(z: Zygote, code: str, timeout: float = 10.0):
    """Run `code` (it reports with `report(obj)`) and return (outcome, reports); checks nothing survives."""
    before = tree(z._proc.pid)
    prelude = "import json, os\ndef report(obj):\n    sock.sendall(json.dumps(obj).encode() + b'\\n')\n"
    child = z.spawn(SCRIPT, {"main.py": (prelude + code).encode()})
    outcome = child.wait(timeout)
    child.sock.settimeout(2)
    data = b""
    try:
        while chunk := child.sock.recv(1 << 16):
            data += chunk
    except OSError:
        pass
    child.sock.close()
    assert tree(z._proc.pid) == before, "a process of the child outlived it"
    return outcome, [json.loads(line) for line in data.splitlines()]


def test_secrets_of_the_repository_and_the_grader_are_invisible(zygote, tmp_path):
    isolated_only(zygote)
    (tmp_path / "gradebook.db").write_text("secret rows")
    code = f"""
paths = {[str(REPO / "autograder"), str(REPO / "solutions"), str(REPO / "tests"), str(tmp_path),
          str(REPO / "autograder/freezelab_checks/_common.py"), "../../work/main/autograder", "/root/.ssh",
          "/etc/shadow", "/sys/kernel", "/home"]!r}
seen = {{p: os.path.exists(p) for p in paths}}
cmdlines = {{}}
for pid in os.listdir('/proc'):
    if pid.isdigit():
        try:
            cmdlines[pid] = open(f'/proc/{{pid}}/cmdline', 'rb').read().decode(errors='replace')
        except OSError:
            pass
environ = []
for pid in cmdlines:
    try:
        environ.append(open(f'/proc/{{pid}}/environ', 'rb').read().decode(errors='replace'))
    except OSError:
        pass
report({{'seen': seen, 'cmdlines': cmdlines, 'environ': environ, 'my_env': dict(os.environ),
        'repo': sorted(os.listdir('{REPO}')), 'fds': sorted(os.listdir('/proc/self/fd')),
        'uid': os.getuid(), 'status': open('/proc/self/status').read()}})
"""
    outcome, [found] = attack(zygote, code)
    assert outcome.reason == "ok", outcome.output
    assert not any(found["seen"].values()), found["seen"]
    bound = {p.relative_to(REPO).parts[0] for p in sandbox.default_readonly() if p.is_relative_to(REPO)}
    assert found["repo"] == sorted(bound) and set(bound) <= {".venv", "course_content", "src"}
    assert os.getpid() not in map(int, found["cmdlines"])  # the grader's process is not in its /proc
    assert not any("pytest" in c for c in found["cmdlines"].values())
    assert all(CANARY not in e for e in found["environ"]) and CANARY not in found["my_env"]
    assert found["fds"] == ["0", "1", "2", "3", "4"]  # std streams, its socket, the listdir itself
    if zygote.mode == "setuid":  # a fresh uid of its own, no account's
        assert CHILD_UID_BASE <= found["uid"] < CHILD_UID_BASE + CHILD_UID_SPAN
    assert "CapEff:\t0000000000000000" in found["status"] and "NoNewPrivs:\t1" in found["status"]


def test_nothing_outside_scratch_can_be_written(zygote):
    isolated_only(zygote)
    before = digest(PACKAGE)
    targets = [str(PACKAGE / "pwned.py"), str(PACKAGE / "grading" / "sandbox.py"), "/usr/pwned", "/pwned",
               "/etc/passwd", f"{os.path.realpath(sys.prefix)}/pwned", "/dev/pwned", "/work/pwned"]
    code = f"""
import subprocess
results = {{}}
for path in {targets!r}:
    try:
        with open(path, 'a') as handle:
            handle.write('pwned')
        results[path] = 'written'
    except OSError as exc:
        results[path] = type(exc).__name__
# a new user namespace gives capabilities, but only over mounts it cannot unlock
remount = subprocess.run(['unshare', '-rm', 'sh', '-c', 'mount -o remount,rw,bind {PACKAGE} && touch {PACKAGE}/x'],
                         capture_output=True, text=True, timeout=10)
big = 'ok'
try:
    with open('big.bin', 'wb') as handle:
        handle.write(b'0' * (4 * 2**20))
except OSError as exc:
    big = type(exc).__name__
report({{'results': results, 'remount': remount.returncode, 'big': big}})
"""
    outcome, [found] = attack(zygote, code)
    assert outcome.reason == "ok", outcome.output
    assert "written" not in found["results"].values(), found["results"]
    assert found["remount"] != 0 and found["big"] == "OSError"  # RLIMIT_FSIZE: 1 MiB
    assert digest(PACKAGE) == before


def test_no_network_not_even_loopback(zygote):
    isolated_only(zygote)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    code = f"""
import socket
results = {{}}
for host, port in (('127.0.0.1', {port}), ('1.1.1.1', 80), ('8.8.8.8', 53)):
    try:
        socket.create_connection((host, port), timeout=2).close()
        results[host] = 'connected'
    except OSError as exc:
        results[host] = str(exc)
report(results)
"""
    outcome, [found] = attack(zygote, code)
    with pytest.raises(TimeoutError):
        listener.accept()
    listener.close()
    assert outcome.reason == "ok" and "connected" not in found.values(), found


def test_daemons_and_new_sessions_die_with_the_child(zygote):
    token = "987654"  # a sleep only this test starts
    child = zygote.spawn(SCRIPT, {"main.py": f"""
import os, subprocess, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        subprocess.Popen(['sleep', '{token}'], start_new_session=True, stdout=subprocess.DEVNULL)
        time.sleep(60)
    os._exit(0)
time.sleep(0.5)
sock.sendall(b'up')
sock.recv(10)
""".encode()})
    assert child.sock.recv(2) == b"up"
    assert host_cmdlines(f"sleep\0{token}")  # the daemon really runs while the child does
    child.sock.sendall(b"go")
    outcome = child.wait(10)
    child.sock.close()
    assert outcome.reason == "ok", outcome.output
    assert not host_cmdlines(f"sleep\0{token}")


def test_fork_bomb_is_bounded_by_the_process_limit(zygote):
    isolated_only(zygote)
    if zygote.mode == "userns" and os.geteuid() == 0 and zygote.cgroups is None:
        # with a cgroup per child, its pids.max bounds the bomb all the same
        pytest.skip("the kernel exempts uid 0 from the process limit, in a user namespace too, and no cgroup here")
    code = """
import time
count = 0
while count < 500:
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    count += 1
report(count)
time.sleep(30)
"""
    before = tree(zygote._proc.pid)
    child = zygote.spawn(SCRIPT, {"main.py": ("import os\ndef report(n): sock.sendall(str(n).encode())" + code).encode()})
    count = int(child.sock.recv(100))
    with Zygote(limits=LIMITS, isolate=True, preload=(), userns=zygote.userns) as other:
        # meanwhile a submission graded next to it still starts processes: the limit is the bomb's alone
        neighbour, _ = attack(other, "import subprocess\nfor _ in range(8): subprocess.run(['true'], check=True)")
    outcome = child.wait(1)
    child.sock.close()
    assert count < LIMITS.max_processes
    assert outcome.reason == "timeout" and neighbour.reason == "ok", neighbour.output
    assert tree(zygote._proc.pid) == before


@pytest.mark.parametrize("code", [
    "bytearray(6 * 2**30)",
    "import mmap\nm = mmap.mmap(-1, 6 * 2**30)",  # shared anonymous memory: not in RLIMIT_DATA
    "import mmap\nm = mmap.mmap(-1, 6 * 2**30, flags=mmap.MAP_PRIVATE)",
    "import mmap\nchunks = []\nwhile True: chunks.append(mmap.mmap(-1, 64 * 2**20, flags=mmap.MAP_PRIVATE))",
])
def test_six_gigabytes_hit_the_memory_limit(zygote, code):
    outcome, _ = attack(zygote, code)
    assert outcome.reason == "memory", outcome


def test_output_flood_is_capped_and_stopped(zygote):
    outcome, _ = attack(zygote, "import sys\nfor _ in range(50): sys.stdout.write('z' * 2**20)\nreport('done')")
    assert outcome.reason == "output-cap" and outcome.truncated
    assert outcome.output == b"z" * LIMITS.output_bytes


def test_the_zygote_cannot_be_traced_read_or_killed(zygote):
    isolated_only(zygote)
    code = """
import ctypes, signal
libc = ctypes.CDLL(None, use_errno=True)
found = {'pids': sorted(int(p) for p in os.listdir('/proc') if p.isdigit()), 'ppid': os.getppid()}
found['ptrace'] = [libc.ptrace(16, pid, 0, 0) for pid in (1, os.getppid())]  # PTRACE_ATTACH
try:
    open('/proc/1/mem', 'rb').read(1)
    found['mem'] = 'read'
except OSError as exc:
    found['mem'] = type(exc).__name__
try:
    os.kill(1, signal.SIGKILL)
    found['kill'] = 'sent'
except OSError as exc:
    found['kill'] = type(exc).__name__
try:
    os.kill(-1, signal.SIGKILL)  # everything else it may signal: nothing
    found['kill_all'] = 'sent'
except OSError as exc:
    found['kill_all'] = type(exc).__name__
report(found)
"""
    zygote_pid = zygote._proc.pid
    outcome, [found] = attack(zygote, code)
    assert outcome.reason == "ok" and found["kill_all"] == "ProcessLookupError"
    assert found["pids"] == [1, 2] and found["ppid"] == 1  # its own init and itself: no zygote, no grader
    assert found["ptrace"] == [-1, -1] and found["mem"] == "PermissionError"
    assert found["kill"] in ("PermissionError", "sent")  # pid 1 of a namespace ignores it either way
    assert zygote._proc.pid == zygote_pid and zygote._proc.poll() is None
    again, _ = attack(zygote, "report('alive')")
    assert again.reason == "ok"


def test_nothing_is_left_for_the_next_child(zygote):
    isolated_only(zygote)
    leave = """
for folder in ('.', '/tmp', '/dev/shm'):
    with open(os.path.join(folder, 'left_behind'), 'w') as handle:
        handle.write('for the next student')
report(os.getcwd())
"""
    first, [cwd] = attack(zygote, leave)
    assert first.reason == "ok", first.output
    look = f"report([os.path.exists(os.path.join(f, 'left_behind')) for f in ('{cwd}', '.', '/tmp', '/dev/shm')])"
    second, [seen] = attack(zygote, look)
    assert second.reason == "ok" and seen == [False] * 4


def test_limits_cannot_be_raised(zygote):
    code = """
import resource
results = {}
for name in ('RLIMIT_NPROC', 'RLIMIT_DATA', 'RLIMIT_CPU', 'RLIMIT_FSIZE'):
    limit = getattr(resource, name)
    try:
        resource.setrlimit(limit, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        results[name] = 'raised'
    except (ValueError, OSError):
        results[name] = 'refused'
report(results)
"""
    outcome, [found] = attack(zygote, code)
    assert outcome.reason == "ok" and set(found.values()) == {"refused"}, found


def test_dangerous_system_calls_are_refused(zygote):
    isolated_only(zygote)  # safe to try there: the child has no capabilities even if the filter were missing
    if os.uname().machine != "x86_64":
        pytest.skip("the seccomp filter is built for x86_64 only")
    from freezelab.grading._zygote import CLONE_NAMESPACES, DENIED_SYSCALLS, SYS_CLONE, SYS_CLONE3

    code = f"""
import ctypes, subprocess, threading
libc = ctypes.CDLL(None, use_errno=True)
def call(number, *args):
    result = libc.syscall(number, *[ctypes.c_long(a) for a in args])
    return result, ctypes.get_errno()
filtered = 'Seccomp:\\t2' in open('/proc/self/status').read()
denied = {{name: call(number, 0, 0, 0, 0, 0) for name, number in {DENIED_SYSCALLS!r}.items()}} if filtered else {{}}
clone_ns = call({SYS_CLONE}, {CLONE_NAMESPACES & 0x10000000} | 17, 0, 0, 0, 0)
clone3 = call({SYS_CLONE3}, 0, 0)
thread = threading.Thread(target=print, args=('threads still work',)); thread.start(); thread.join()
sub = subprocess.run(['echo', 'subprocesses too'], capture_output=True, text=True).stdout
report({{'filtered': filtered, 'denied': denied, 'clone_ns': clone_ns, 'clone3': clone3, 'sub': sub}})
"""
    outcome, [found] = attack(zygote, code)
    assert outcome.reason == "ok" and b"threads still work" in outcome.output, outcome.output
    assert found["filtered"] and found["sub"] == "subprocesses too\n"
    assert {name: tuple(r) for name, r in found["denied"].items()} == {name: (-1, 1) for name in DENIED_SYSCALLS}
    assert found["clone_ns"] == [-1, 1] and found["clone3"] == [-1, 38]  # EPERM; ENOSYS makes libc use clone
