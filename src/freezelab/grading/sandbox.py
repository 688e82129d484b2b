"""A sandbox per submission: a warm Python inside bubblewrap that forks one limited child per submission.

`Zygote` starts one interpreter (torch and torchvision already imported) inside Linux namespaces, so the
torch import is paid once per batch instead of once per submission. `Zygote.spawn` forks a fresh child
for one submission: new PID and mount namespace, its own /proc, /tmp and scratch folder (tmpfs), an
unprivileged uid of its own, rlimits, a seccomp filter; it calls `target(sock)` with one end of a socket whose other end is `Child.sock`.
`Child.wait` reports how it ended (`Outcome`) with its output, capped. Every process the child started
dies with it. `isolate=False` is the same API as a plain subprocess (the `--no-sandbox` path): limits,
scratch folder and process clean-up still apply; namespaces, uid and the read-only view do not.
docs/security.md describes the threat model and what is, and is not, isolated.
"""

from __future__ import annotations

import base64
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from . import _zygote
from ._zygote import MEMORY_EXIT, SCRATCH, STAGING, recv_msg, seccomp_machine, send_msg
from .cgroups import ChildCgroup, TreeCgroups

INSTALL_HINT = ("install bubblewrap (`apt-get install bubblewrap` on Debian/Ubuntu, `dnf install bubblewrap` "
                "on Fedora), or grade with --no-sandbox")
USERNS_HINT = ("allow unprivileged user namespaces (`sysctl kernel.unprivileged_userns_clone=1`, on Ubuntu "
               "`sysctl kernel.apparmor_restrict_unprivileged_userns=0`) or grade as root")
# Environment variables the sandboxed interpreter keeps (everything else is dropped: no secrets, no paths).
PASS_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "FREEZELAB_DEVICE",
            "FREEZELAB_CHECKPOINT", "LANG", "TZ")
MEMORY_MARKERS = (b"MemoryError", b"can't allocate memory", b"std::bad_alloc", b"Cannot allocate memory")
MIN_BWRAP = (0, 5)
KILL_GRACE = 30.0  # seconds for the zygote to report a child it was told to kill
ZYGOTE_MAIN = ("import sys; sys.path.insert(0, sys.argv[1]); from freezelab.grading._zygote import main; "
               "sys.exit(main(sys.argv[2:]))")
OOM_POLL = 0.2  # seconds between looks at a child's cgroup for an OOM kill (then the whole tree is killed)


class SandboxError(RuntimeError):
    """The sandbox cannot start or has broken; the message is one line saying why."""


@dataclass(frozen=True)
class Limits:
    """Per-submission limits (every process of the submission gets the rlimits)."""

    # the whole tree's memory where a cgroup can be made (see `tree_limits`); always per process too:
    # RLIMIT_DATA, and RLIMIT_AS = what is mapped at fork (torch: ~3.5 GB) + this
    memory_bytes: int = 3 * 2**30
    cpu_seconds: int = 600  # RLIMIT_CPU per process
    # RLIMIT_NPROC of the child's own uid (never enforced for root: isolate=False as root) and its cgroup's pids.max
    max_processes: int = 64
    file_size_bytes: int = 64 * 2**20  # RLIMIT_FSIZE
    output_bytes: int = 1 * 2**20  # stdout+stderr kept; the rest is dropped and reported as truncated
    scratch_bytes: int = 256 * 2**20  # size of each tmpfs (scratch, /tmp, /dev/shm) in the sandbox

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if type(value) is not int or value <= 0:  # a tmpfs of size 0 would even be unlimited
                raise ValueError(f"Limits.{name} must be a positive int, got {value!r}")

    @property
    def output_ceiling(self) -> int:
        """Output after which the child is killed (reason "output-cap"): draining a flood costs CPU too."""
        return max(16 * self.output_bytes, 16 * 2**20)


@dataclass
class Outcome:
    """How a child ended."""

    exit_code: int | None
    signal: int | None
    reason: str  # "ok" | "exit" | "timeout" | "memory" | "output-cap" | "killed" | "crash"
    output: bytes  # stdout+stderr of the child tree, capped at Limits.output_bytes
    truncated: bool
    cpu_seconds: float = 0.0  # user+system time of the whole tree
    max_rss_bytes: int = 0  # largest resident set of one process of the tree
    wall_seconds: float = 0.0  # from spawn to the end of the last process
    detail: str = ""  # for reason "memory": which limit, e.g. "memory limit (3072 MiB, all its processes) exceeded"
    tree_peak_bytes: int = 0  # peak memory of the whole tree (0 without a cgroup)


def _bwrap() -> str | None:
    return shutil.which("bwrap")


def _namespace_flags(userns: bool | None = None) -> list[str]:
    """bubblewrap's namespaces; as root no user namespace, so that children can become real unprivileged uids."""
    flags = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
             "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    if not (os.geteuid() != 0 if userns is None else userns):
        caps = ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_KILL")  # mounts, drop the uid, kill
        return flags + ["--cap-drop", "ALL"] + [arg for cap in caps for arg in ("--cap-add", cap)]
    return flags + ["--unshare-user", "--uid", "0", "--gid", "0"]


def _system_binds() -> list[str]:
    """Read-only /usr and the /etc files the dynamic loader and libc need; the merged-/usr links."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for name in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf", "localtime"):
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return args + ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--dir", SCRATCH, "--dir", STAGING,
                   "--chdir", "/"]


def default_readonly() -> list[Path]:
    """What the sandbox may read: the Python installation, the venv, the freezelab package, course_content/.

    course_content/ is the one next to the package in a checkout (where `backbones` looks for the
    checkpoint), and $FREEZELAB_CHECKPOINT when it names a file: nothing else of the repository.
    """
    package = Path(_zygote.__file__).resolve().parent.parent
    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), package}
    course = package.parents[1] / "course_content"
    checkpoint = os.environ.get("FREEZELAB_CHECKPOINT")
    paths |= {course} if course.is_dir() else set()
    paths |= {Path(checkpoint).resolve()} if checkpoint and Path(checkpoint).is_file() else set()
    return sorted(paths)


def isolation_check() -> tuple[bool, str, str]:
    """(available, what was found, the one-line fix or ""): runs bwrap once with the sandbox's namespaces."""
    bwrap = _bwrap()
    if bwrap is None:
        return False, "bubblewrap (bwrap) is not installed", INSTALL_HINT
    try:
        probe = subprocess.run([bwrap, *_namespace_flags(), *_system_binds(), "--", "true"],
                               capture_output=True, text=True, timeout=30, check=False)
        version = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=30,
                                 check=False).stdout.strip() or "bubblewrap"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bubblewrap does not run ({exc})", INSTALL_HINT
    numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:2])
    if numbers and numbers < MIN_BWRAP:  # --perms (and --cap-add as root) are needed
        return False, f"{version} is too old (0.5 or newer needed)", f"install a newer bubblewrap, {INSTALL_HINT}"
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"])[-1]
        return False, f"bubblewrap cannot create namespaces here ({reason})", USERNS_HINT
    user = "a uid per child" if os.geteuid() == 0 else "user namespace"
    return True, f"{version}: {user}; pid, net, ipc, uts and mount namespaces; {seccomp_status()}", ""


def seccomp_status() -> str:
    """One line: which seccomp filter each child gets, or that it is off on this architecture."""
    arch = seccomp_machine()
    return f"seccomp deny-list ({arch})" if arch else f"seccomp off (no filter for {_zygote.MACHINE})"


def tree_limits() -> tuple[str, str]:
    """(kind, one line) of how a submission's whole process tree is capped: "cgroup v2", "cgroup v1" or "rlimits".

    Creates (and removes) a cgroup folder of its own to find out; "rlimits" says why no cgroup could be made.
    """
    cgroups, detail = TreeCgroups.detect()
    if cgroups is None:
        return "rlimits", f"rlimits only, memory capped per process, not per submission ({detail})"
    cgroups.close()
    return f"cgroup {cgroups.version}", detail


def isolation_available() -> tuple[bool, str]:
    """(True, what the sandbox isolates) or (False, one line: why not and how to fix it); runs bwrap once."""
    ok, detail, fix = isolation_check()
    return ok, detail if ok else f"{detail}: {fix}"


class Zygote:
    """A warm Python (torch + torchvision already imported) inside one sandbox; forks a child per submission."""

    def __init__(self, *, limits: Limits = Limits(), isolate: bool = True, readonly: Sequence[Path] = (),
                 preload: Sequence[str] = ("torch", "torchvision"), env: Mapping[str, str] | None = None,
                 start_timeout: float = 300.0, userns: bool | None = None, cgroups: bool = True):
        self.limits, self.isolate, self.preload = limits, isolate, tuple(preload)
        self.use_cgroups = cgroups  # False: rlimits only, even where a cgroup per child could be made
        self.cgroups: TreeCgroups | None = None
        self.cgroup_note = "cgroups not used"  # how each child's tree is capped (or why it is not)
        self.userns = os.geteuid() != 0 if userns is None else userns  # root: children get uids of their own
        self.readonly = [Path(p).resolve() for p in readonly]
        self.extra_env = dict(env or {})
        self.start_timeout = start_timeout
        self.info: dict = {}  # the zygote's "ready" report: import_seconds, rss_kb, data_kb
        self._proc: subprocess.Popen | None = None
        self._ctl: socket.socket | None = None
        self._lock = threading.Lock()
        self._child: Child | None = None
        self._scratch_root: str | None = None
        self._log = None

    def __enter__(self) -> Zygote:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def mode(self) -> str:
        """How children are confined: "plain" (no namespaces), "setuid" (root: a uid per child) or "userns"."""
        if not self.isolate:
            return "plain"
        return "userns" if self.userns else "setuid"

    def _environment(self) -> dict[str, str]:
        home = SCRATCH if self.isolate else self._scratch_root  # each child gets its own scratch as $HOME
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": home or SCRATCH}
        env.update({k: os.environ[k] for k in PASS_ENV if k in os.environ})
        return env | self.extra_env

    def _readonly_paths(self) -> list[Path]:
        """Every path bound read-only into the sandbox (and into each child's fresh /tmp when under /tmp)."""
        paths = sorted({*default_readonly(), *self.readonly})
        for path in paths:
            if not path.exists():
                raise SandboxError(f"read-only path {path} does not exist: pass existing folders in `readonly`")
        return paths

    def _argv(self, fd: int, config: str) -> list[str]:
        # -I: no environment variables, no user site; the freezelab imported is this one (not another install)
        src = str(Path(_zygote.__file__).resolve().parents[2])
        command = [sys.executable, "-I", "-B", "-c", ZYGOTE_MAIN, src, str(fd), config]
        if not self.isolate:
            return command
        binds, parents = [], set()
        for path in self._readonly_paths():
            for parent in reversed(path.parents[:-1]):  # bwrap would make them 0700: unreadable for the child
                if parent not in parents:
                    parents.add(parent)
                    binds += ["--perms", "0755", "--dir", str(parent)]
            binds += ["--ro-bind", str(path), str(path)]
        return [_bwrap() or "bwrap", *_namespace_flags(self.userns), *_system_binds(), *binds, "--", *command]

    def start(self) -> None:
        """Start the zygote and wait until it has imported the preloads; SandboxError if it cannot."""
        if self._proc is not None:
            return
        if self.isolate:
            ok, why = isolation_available()
            if not ok:
                raise SandboxError(why)
        else:
            self._scratch_root = tempfile.mkdtemp(prefix="freezelab-scratch-")
        if self.use_cgroups:
            self.cgroups, self.cgroup_note = TreeCgroups.detect()
        config = {"mode": self.mode, "preload": list(self.preload), "scratch_root": self._scratch_root,
                  "readonly": [str(p) for p in self._readonly_paths()] if self.isolate else []}
        ours, theirs = socket.socketpair()
        self._ctl, self._log = ours, tempfile.TemporaryFile()
        try:
            self._proc = subprocess.Popen(
                self._argv(theirs.fileno(), json.dumps(config)), pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                env=self._environment(), cwd="/", start_new_session=True)
        except OSError as exc:
            self.close()
            raise SandboxError(f"cannot start the sandbox: {exc}") from exc
        finally:
            theirs.close()
        reply = self._receive(self.start_timeout)
        if reply is None or reply.get("ev") != "ready":
            why = reply.get("message") if reply else self._log_tail() or "no answer"
            self.close()
            raise SandboxError(f"the sandbox did not start: {why}")
        self.info = reply

    def _log_tail(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        lines = self._log.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else ""

    def _send(self, message: dict, fds: tuple[int, ...] = ()) -> None:
        with self._lock:
            if self._ctl is None:
                raise SandboxError("the sandbox is closed")
            try:
                send_msg(self._ctl, message | ({"nfds": len(fds)} if fds else {}), fds)
            except OSError as exc:
                raise SandboxError(f"the sandbox has stopped ({self._log_tail() or exc})") from exc

    def _receive(self, timeout: float) -> dict | None:
        """The zygote's next message; None on timeout; SandboxError when it has died."""
        if self._ctl is None:
            raise SandboxError("the sandbox is closed")
        readable, _, _ = select.select([self._ctl], [], [], max(timeout, 0))
        if not readable:
            return None
        message, _ = recv_msg(self._ctl)
        if message is None:
            raise SandboxError(f"the sandbox has stopped ({self._log_tail() or 'no message'})")
        return message

    def spawn(self, target: str, files: Mapping[str, bytes] = {}) -> Child:  # noqa: B006 - never mutated
        """Fork a child that calls `target` ("package.module:function") with its end of a socket."""
        if self._proc is None:
            raise SandboxError("the sandbox is not started: call start() first")
        if self._child is not None and self._child._outcome is None:
            raise SandboxError("a child is still running: wait() for it or kill() it first")
        cgroup, cgroup_fds = self._child_cgroup()
        ours, theirs = socket.socketpair()
        out_r, out_w = os.pipe()
        request = {"op": "spawn", "target": target, "limits": asdict(self.limits),
                   "files": {name: base64.b64encode(data).decode() for name, data in files.items()}}
        started = time.monotonic()
        try:
            self._send(request, (theirs.fileno(), out_w, *cgroup_fds))
        finally:
            theirs.close()
            for fd in (out_w, *cgroup_fds):
                os.close(fd)
        reply = self._receive(KILL_GRACE)
        if reply is None or reply.get("ev") != "spawned":
            os.close(out_r)
            ours.close()
            if cgroup is not None:
                cgroup.remove()
            raise SandboxError(f"the sandbox could not start a child: {(reply or {}).get('message', 'no answer')}")
        self._child = Child(self, ours, out_r, started, cgroup)
        return self._child

    def _child_cgroup(self) -> tuple[ChildCgroup | None, list[int]]:
        """A fresh cgroup for the next child and the descriptors its first process joins it with."""
        if self.cgroups is None:
            return None, []
        cgroup = None
        try:
            # +1: the child's init (P) is in it too
            cgroup = self.cgroups.create(self.limits.memory_bytes, self.limits.max_processes + 1)
            return cgroup, cgroup.open_procs()
        except OSError as exc:  # the hierarchy went away or is full: this child keeps the rlimits only
            if cgroup is not None:
                cgroup.remove(0)
            self.cgroup_note = f"rlimits only: a cgroup could not be made for a child ({exc})"
            return None, []

    def close(self) -> None:
        """Kill every process the sandbox started and remove its scratch folders; idempotent."""
        proc, self._proc = self._proc, None
        child, self._child = self._child, None
        if proc is not None:
            try:
                self._send({"op": "exit"})
                proc.wait(timeout=10)
            except (SandboxError, subprocess.TimeoutExpired):
                pass
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # bwrap --die-with-parent takes the sandbox with it
                proc.wait()
        if child is not None and child._outcome is None:  # its processes died with the sandbox
            child._kill_reason = child._kill_reason or "killed"
            child._outcome = child._make_outcome({"status": None})
        if self._ctl is not None:
            self._ctl.close()
            self._ctl = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._scratch_root:
            shutil.rmtree(self._scratch_root, ignore_errors=True)
            self._scratch_root = None
        if self.cgroups is not None:
            self.cgroups.close()
            self.cgroups = None


class Child:
    """One submission's process tree; `sock` talks to `target` inside it."""

    def __init__(self, zygote: Zygote, sock: socket.socket, out_fd: int, started: float,
                 cgroup: ChildCgroup | None = None):
        self.sock = sock
        self._zygote, self._limits, self._started = zygote, zygote.limits, started
        self._cgroup = cgroup
        self._output = bytearray()
        self._total = 0
        self._kill_reason: str | None = None
        self._outcome: Outcome | None = None
        self._reader = threading.Thread(target=self._read, args=(out_fd,), daemon=True)
        self._reader.start()
        if cgroup is not None:
            threading.Thread(target=self._watch_memory, daemon=True).start()

    def _watch_memory(self) -> None:
        """Kill the whole tree once the kernel has OOM-killed any process of it (the cgroup's limit was hit)."""
        while self._outcome is None and self._kill_reason is None:
            if self._cgroup.oom_killed():
                self._request_kill("memory")
                return
            time.sleep(OOM_POLL)

    def _read(self, fd: int) -> None:
        """Drain the output pipe (a full pipe would block the child), keeping the first output_bytes."""
        try:
            while chunk := os.read(fd, 1 << 16):
                room = self._limits.output_bytes - len(self._output)
                if room > 0:
                    self._output += chunk[:room]
                self._total += len(chunk)
                if self._total > self._limits.output_ceiling:
                    self._request_kill("output-cap")
        finally:
            os.close(fd)

    def _request_kill(self, reason: str) -> None:
        if self._outcome is None and self._kill_reason is None:
            self._kill_reason = reason
            try:
                self._zygote._send({"op": "kill"})
            except SandboxError:
                pass

    def kill(self) -> None:
        """SIGKILL the child and every process it started (the outcome then says "killed")."""
        self._request_kill("killed")

    def wait(self, timeout: float) -> Outcome:
        """Wait for the child's whole tree to end; after `timeout` seconds kill it hard (reason "timeout")."""
        if self._outcome is not None:
            return self._outcome
        try:
            message = self._zygote._receive(timeout)
            if message is None:
                self._request_kill("timeout")
                message = self._zygote._receive(KILL_GRACE)
        except SandboxError:
            message = None
        if message is None:  # the zygote itself is gone or stuck: nothing of it may survive
            self._zygote.close()
            message = {"status": None}
        self._reader.join(timeout=10)
        self._outcome = self._make_outcome(message)
        return self._outcome

    def _memory_use(self) -> tuple[bool, int]:
        """(the kernel OOM-killed a process of this child, peak of the tree); the child's cgroup is removed."""
        cgroup, self._cgroup = self._cgroup, None
        if cgroup is None:
            return False, 0
        usage = cgroup.usage()
        cgroup.kill_all()  # normally empty already; after a zygote died, what its children left behind
        cgroup.remove()
        return usage.oom_kills > 0, usage.peak_bytes

    def _make_outcome(self, message: dict) -> Outcome:
        status = message.get("status")
        code = os.waitstatus_to_exitcode(status) if status is not None else -signal.SIGKILL
        exit_code, sig = (code, None) if code >= 0 else (None, -code)
        output = bytes(self._output)
        cpu = message.get("cpu_seconds", 0.0)
        oom, peak = self._memory_use()
        mib = self._limits.memory_bytes // 2**20
        detail = ""
        if self._kill_reason == "memory" or (oom and code != 0 and self._kill_reason is None):
            reason, detail = "memory", f"memory limit ({mib} MiB for all its processes together) exceeded"
        elif self._kill_reason:
            reason = self._kill_reason
        elif sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= self._limits.cpu_seconds):
            reason = "timeout"
        elif exit_code == MEMORY_EXIT or (code != 0 and any(m in output[-4096:] for m in MEMORY_MARKERS)):
            reason, detail = "memory", f"memory limit ({mib} MiB per process) exceeded"
        elif exit_code == 0:
            reason = "ok"
        elif exit_code is not None:
            reason = "exit"
        else:
            reason = "killed" if sig == signal.SIGKILL else "crash"
        return Outcome(exit_code, sig, reason, output, self._total > self._limits.output_bytes, cpu,
                       message.get("max_rss_kb", 0) * 1024, time.monotonic() - self._started, detail, peak)
