"""The warm interpreter behind `sandbox.Zygote`: imports torch once, then forks one child per submission.

Started by `sandbox.Zygote.start` (`main(CTL_FD, CONFIG_JSON)`, freezelab imported from the controller's
own source folder), inside bubblewrap or as a plain subprocess. It only ever obeys the trusted controller on
CTL_FD; student code runs in forked children that never hold that socket. Two processes per submission in namespace mode:

    zygote -> P (pid 1 of a new PID namespace, own mount namespace: mounts, reaps) -> S (the student's code)

When S ends, P kills everything left in the namespace; when the zygote kills P (timeout, kill), the kernel
kills the whole namespace with it. In plain mode S is forked directly and the zygote, a child subreaper,
kills every orphan left behind. This module imports nothing from freezelab so it starts fast and small.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import importlib
import json
import os
import platform
import resource
import select
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time
import traceback

PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 4, 36, 38
CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER = 0x00020000, 0x20000000, 0x10000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND = 0x1, 0x2, 0x4, 0x8, 0x20, 0x1000
MS_MOVE, MS_REC, MS_PRIVATE = 0x2000, 0x4000, 0x40000
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 0x400, 0x800, 0x200000
MEMORY_EXIT = 113  # S's exit status when the target died of MemoryError
SCRATCH = "/scratch"  # the child's cwd inside the sandbox (a fresh tmpfs per child)
STAGING = "/.childtmp"  # an empty folder where each fresh tmpfs is prepared before it is moved in place
# As root each child becomes a fresh uid no account uses: RLIMIT_NPROC, counted per uid, then counts that
# child's processes only (not those of uid nobody machine-wide, nor another submission's).
CHILD_UID_BASE, CHILD_UID_SPAN = 3_000_000_000, 1 << 24
_HEADER = struct.Struct("!I")
_libc = ctypes.CDLL(None, use_errno=True)


# --- framing shared with sandbox.py: 4-byte length + JSON, file descriptors in a 1-byte message after it ---

def send_msg(sock: socket.socket, message: dict, fds: tuple[int, ...] = ()) -> None:
    """Send one JSON message, then `fds` (SCM_RIGHTS) when there are any."""
    data = json.dumps(message).encode()
    sock.sendall(_HEADER.pack(len(data)) + data)
    if fds:
        socket.send_fds(sock, [b"F"], list(fds))


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = sock.recv(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def recv_msg(sock: socket.socket) -> tuple[dict | None, list[int]]:
    """One message and its fds (message says how many under "nfds"); (None, []) at end of stream."""
    header = _recv_exact(sock, _HEADER.size)
    body = header and _recv_exact(sock, _HEADER.unpack(header)[0])
    if not body:
        return None, []
    message = json.loads(body)
    fds: list[int] = []
    if message.get("nfds"):
        _, fds, _, _ = socket.recv_fds(sock, 1, message["nfds"])
    return message, fds


# --- thin libc wrappers (Python 3.11 has no os.unshare / mount) ---

def _call(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def prctl(option: int, value: int) -> None:
    """prctl(2) with one argument."""
    _call(_libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), f"prctl({option})")


def unshare(flags: int) -> None:
    """unshare(2)."""
    _call(_libc.unshare(flags), "unshare")


def mount(source: str, target: str, fstype: str, flags: int, data: str = "") -> None:
    """mount(2)."""
    _call(_libc.mount(source.encode(), target.encode(), fstype.encode() or None, ctypes.c_ulong(flags),
                      data.encode() or None), f"mount {target}")


def drop_capabilities() -> None:
    """capset(2) with empty effective, permitted and inheritable sets."""
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = (ctypes.c_uint32 * 6)()
    _call(_libc.capset(header, data), "capset")


# --- seccomp: system calls a graded notebook never needs, most of them kernel attack surface ---

# The filter is written per architecture, from the kernel's system call tables: x86_64
# (arch/x86/entry/syscalls/syscall_64.tbl) and aarch64 (include/uapi/asm-generic/unistd.h). The numbers from 424
# on are the same on every architecture. iopl and ioperm exist on x86 only.
_SHARED = {"pidfd_getfd": 438, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
           "fspick": 433, "mount_setattr": 442, "io_uring_setup": 425, "io_uring_enter": 426,
           "io_uring_register": 427}
SECCOMP_TABLES = {
    "x86_64": {
        "audit_arch": 0xC000003E, "clone": 56, "clone3": 435, "denied": _SHARED | {
            "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "mount": 165, "umount2": 166,
            "pivot_root": 155, "chroot": 161, "unshare": 272, "setns": 308, "open_by_handle_at": 304,
            "name_to_handle_at": 303, "bpf": 321, "userfaultfd": 323, "perf_event_open": 298, "keyctl": 250,
            "add_key": 248, "request_key": 249, "kexec_load": 246, "kexec_file_load": 320, "init_module": 175,
            "finit_module": 313, "delete_module": 176, "swapon": 167, "swapoff": 168, "reboot": 169, "acct": 163,
            "syslog": 103, "quotactl": 179, "iopl": 172, "ioperm": 173, "lookup_dcookie": 212, "vhangup": 153}},
    "aarch64": {
        "audit_arch": 0xC00000B7, "clone": 220, "clone3": 435, "denied": _SHARED | {
            "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "mount": 40, "umount2": 39,
            "pivot_root": 41, "chroot": 51, "unshare": 97, "setns": 268, "open_by_handle_at": 265,
            "name_to_handle_at": 264, "bpf": 280, "userfaultfd": 282, "perf_event_open": 241, "keyctl": 219,
            "add_key": 217, "request_key": 218, "kexec_load": 104, "kexec_file_load": 294, "init_module": 105,
            "finit_module": 273, "delete_module": 106, "swapon": 224, "swapoff": 225, "reboot": 142, "acct": 89,
            "syslog": 116, "quotactl": 60, "lookup_dcookie": 18, "vhangup": 58}},
}
MACHINE = platform.machine()
_TABLE = SECCOMP_TABLES.get(MACHINE, {"denied": {}, "clone": None, "clone3": None})
# this machine's numbers (empty / None where no filter is built: the sandbox then says seccomp is off)
DENIED_SYSCALLS, SYS_CLONE, SYS_CLONE3 = _TABLE["denied"], _TABLE["clone"], _TABLE["clone3"]
CLONE_NAMESPACES = 0x7E020080  # NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME
_X32_BIT = 0x40000000  # x86_64's x32 ABI: same audit arch, numbers with this bit set
_LD, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|JGE|JSET|K, BPF_RET|K
_ALLOW, _KILL, _ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2


def seccomp_machine(machine: str | None = None) -> str | None:
    """The architecture whose filter applies on `machine` (default: this one), or None when none is built."""
    machine = MACHINE if machine is None else machine
    return machine if machine in SECCOMP_TABLES else None


class _Insn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Insn))]


def seccomp_program(machine: str | None = None) -> list[tuple[int, int, int, int]]:
    """The BPF filter for `machine` (default: this one): other ABIs killed, the denied calls -> EPERM, clone3 ->
    ENOSYS (libc falls back to clone, whose flags can be checked), clone with a namespace flag -> EPERM, everything
    else allowed. ValueError for an architecture without a table."""
    arch = seccomp_machine(machine)
    if arch is None:
        raise ValueError(f"no seccomp filter is built for {machine or MACHINE}")
    table = SECCOMP_TABLES[arch]
    prog = [(_LD, 0, 0, 4), (_JEQ, 1, 0, table["audit_arch"]), (_RET, 0, 0, _KILL), (_LD, 0, 0, 0)]
    if arch == "x86_64":
        prog += [(_JGE, 0, 1, _X32_BIT), (_RET, 0, 0, _KILL)]
    for number in sorted(table["denied"].values()):
        prog += [(_JEQ, 0, 1, number), (_RET, 0, 0, _ERRNO | 1)]
    # clone's flags are its first argument on both (seccomp_data.args[0] at offset 16)
    prog += [(_JEQ, 0, 1, table["clone3"]), (_RET, 0, 0, _ERRNO | 38),
             (_JEQ, 0, 3, table["clone"]), (_LD, 0, 0, 16), (_JSET, 0, 1, CLONE_NAMESPACES),
             (_RET, 0, 0, _ERRNO | 1), (_RET, 0, 0, _ALLOW)]
    return prog


def install_seccomp() -> bool:
    """Load the filter into this process (inherited by all it starts); False where it is not built for."""
    if seccomp_machine() is None:
        return False
    program = seccomp_program()
    insns = (_Insn * len(program))(*[_Insn(*i) for i in program])
    fprog = _Prog(len(program), insns)
    _call(_libc.prctl(PR_SET_SECCOMP, ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(fprog), 0, 0),
          "seccomp")
    return True


# --- the child side ---

def _apply_limits(limits: dict) -> None:
    """rlimits of the submission (inherited by everything it starts)."""
    memory = limits["memory_bytes"]
    # RLIMIT_DATA counts private memory only; RLIMIT_AS also counts shared anonymous maps (mmap(-1, n) in
    # Python is MAP_SHARED). The address space already mapped (torch reserves ~3.5 GB) is not charged.
    with open("/proc/self/status") as handle:
        mapped = next(int(line.split()[1]) * 1024 for line in handle if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
    resource.setrlimit(resource.RLIMIT_AS, (mapped + memory, mapped + memory))
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_seconds"], limits["cpu_seconds"] + 5))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["max_processes"], limits["max_processes"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_size_bytes"], limits["file_size_bytes"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _write_files(folder: str, files: dict[str, str]) -> None:
    for name, data in files.items():
        path = os.path.normpath(os.path.join(folder, name))
        if not path.startswith(folder + os.sep):
            raise ValueError(f"file name {name!r} leaves the scratch folder")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(base64.b64decode(data))


def _run_student(request: dict, sock_fd: int, out_fd: int, scratch: str, drop: str) -> None:
    """S: drop privileges, apply limits, enter the scratch folder, call the target. Never returns."""
    code = 1
    try:
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.dup2(sock_fd, 3)
        os.closerange(4, 1 << 16)  # the control socket, status pipes, pidfds: nothing the student may hold
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        if drop == "setuid":
            os.setgroups([])
            os.setgid(request["uid"])
            os.setuid(request["uid"])
        elif drop == "userns":  # same uid as the zygote: a new user namespace locks every mount read-only
            unshare(CLONE_NEWUSER)
            drop_capabilities()  # and none of the capabilities it grants are kept
        else:
            os.setsid()
        prctl(PR_SET_NO_NEW_PRIVS, 1)
        install_seccomp()
        _apply_limits(request["limits"])
        os.chdir(scratch)
        _write_files(scratch, request["files"])
        os.environ.update(HOME=scratch, TMPDIR="/tmp" if drop else scratch, USER="student", LOGNAME="student")
        sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
        sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
        module, _, function = request["target"].partition(":")
        target = getattr(importlib.import_module(module), function)
        target(socket.socket(fileno=3))
        code = 0
    except MemoryError:
        code = MEMORY_EXIT
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, (int, type(None))):
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - the student's error is reported through the output
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:  # noqa: BLE001, S112 - a broken stream must not stop the exit
                pass
        os._exit(code & 0xFF)  # never run the zygote's atexit handlers or finalizers


def _remount_readonly(path: str) -> None:
    """Make the bind mount at `path` read-only, keeping the flags it has (a user namespace locks them)."""
    have = os.statvfs(path).f_flag
    kept = {os.ST_NOSUID: MS_NOSUID, os.ST_NODEV: MS_NODEV, os.ST_NOEXEC: MS_NOEXEC, os.ST_NOATIME: MS_NOATIME,
            os.ST_NODIRATIME: MS_NODIRATIME, os.ST_RELATIME: MS_RELATIME}
    flags = sum(flag for st, flag in kept.items() if have & st)
    mount("none", path, "", MS_REMOUNT | MS_BIND | MS_RDONLY | flags)


def _make_place(path: str, like: str) -> None:
    """Create `path` (and its missing parents, mode 0755 whatever the umask) as a mountpoint for `like`."""
    missing = []
    parent = os.path.dirname(path)
    while not os.path.exists(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    for folder in reversed(missing):
        os.mkdir(folder)
        os.chmod(folder, 0o755)
    if os.path.isdir(like):
        os.mkdir(path)
        os.chmod(path, 0o755)
    else:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444))


def fresh_tmpfs(name: str, target: str, options: str, readonly: list[str], owner: int = 0) -> None:
    """Mount a fresh tmpfs on `target` that still shows, read-only, every path of `readonly` lying under it.

    A plain tmpfs on /tmp would hide the sandbox's read-only binds of a checkout or venv under /tmp. So the
    tmpfs is prepared at STAGING: each such path bound (read-only) at its place, the folders leading to them
    made read-only too (the child must not replace what is imported), then moved onto `target` as a whole.
    `owner` owns the tmpfs: P works in it as that uid (it has no CAP_DAC_OVERRIDE to enter a 0700 folder).
    """
    inside = sorted(p for p in readonly if p.startswith(target + "/"))
    if not inside:
        mount(name, target, "tmpfs", MS_NOSUID | MS_NODEV, options)
        return
    mount(name, STAGING, "tmpfs", MS_NOSUID | MS_NODEV, options)
    _libc.setfsuid(owner)
    try:
        bound: list[str] = []
        for path in inside:
            if any(path.startswith(done + "/") for done in bound):
                continue  # already there, inside the bind of a folder above it
            place = STAGING + path[len(target):]
            _make_place(place, path)
            mount(path, place, "", MS_BIND | MS_REC)
            _remount_readonly(place)
            bound.append(path)
        for top in sorted({path[len(target) + 1:].split("/")[0] for path in bound}):
            if f"{target}/{top}" not in bound:  # the folders leading to the binds: read-only from here down
                mount(f"{STAGING}/{top}", f"{STAGING}/{top}", "", MS_BIND | MS_REC)
                _remount_readonly(f"{STAGING}/{top}")
    finally:
        _libc.setfsuid(0)
    mount(STAGING, target, "", MS_MOVE)


def _namespace_init(request: dict, sock_fd: int, out_fd: int, status_fd: int, drop: str,
                    readonly: list[str]) -> None:
    """P, pid 1 of a fresh PID + mount namespace: private /proc, /tmp and scratch, then reap S. Never returns."""
    try:
        unshare(CLONE_NEWNS)
        mount("none", "/", "", MS_REC | MS_PRIVATE)
        for top in ("/", "/dev"):  # read-only here: their tmpfs is shared with the zygote and the next child
            mount("none", top, "", MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        sizes = request["limits"]["scratch_bytes"]
        owner = f"uid={request['uid']},gid={request['uid']}," if drop == "setuid" else ""
        fresh_tmpfs("scratch", SCRATCH, f"{owner}mode=0700,size={sizes}", readonly,
                    request["uid"] if drop == "setuid" else 0)
        fresh_tmpfs("tmp", "/tmp", f"mode=1777,size={sizes}", readonly)
        fresh_tmpfs("shm", "/dev/shm", f"mode=1777,size={sizes}", readonly)
        # On top of the sandbox's /proc (not after unmounting it: in a user namespace the kernel only allows a
        # new proc while a fully visible one exists); the child sees its own processes only.
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        student = os.fork()
        if student == 0:
            os.close(status_fd)
            _run_student(request, sock_fd, out_fd, SCRATCH, drop)
        os.close(out_fd)
        os.close(sock_fd)
        status = None
        while status is None:
            pid, raw = os.waitpid(-1, 0)
            status = raw if pid == student else None
        try:  # as pid 1: every other process of the namespace (daemons included)
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break
        os.write(status_fd, str(status).encode())
    except BaseException:  # noqa: BLE001 - P is trusted code: its own failure goes to the zygote's log
        traceback.print_exc()
        with contextlib.suppress(OSError):  # and, when the child never started, to the output the caller reads
            os.write(out_fd, f"sandbox: the child could not be set up: {traceback.format_exc(limit=0)}".encode())
    finally:
        os._exit(0)


def join_cgroups(fds: list[int]) -> None:
    """Move this process into the cgroup(s) whose cgroup.procs the grader opened; before any student code runs."""
    try:
        for fd in fds:
            os.write(fd, b"0")  # "0": the writing process itself, whatever PID namespace it is in
    except OSError as exc:  # never run a child without the cap it was meant to have
        os.write(2, f"sandbox: cannot join the child's cgroup: {exc}\n".encode())
        os._exit(1)
    finally:
        for fd in fds:
            os.close(fd)


def run_script(sock: socket.socket) -> None:
    """A generic target: run ./main.py from the scratch folder with the socket as the global `sock`."""
    with open("main.py", encoding="utf-8") as handle:
        code = compile(handle.read(), "main.py", "exec")
    exec(code, {"__name__": "__main__", "sock": sock})  # noqa: S102 - this is the sandboxed child


class ZygoteServer:
    """The control loop: one child at a time, each reported with its wait status and resource usage."""

    def __init__(self, ctl: socket.socket, config: dict):
        self.ctl, self.config = ctl, config
        self.mode = config["mode"]  # "plain", "setuid" or "userns"
        self.top = self.pidfd = self.status_r = None
        self.scratch = None
        self.pidns = os.open("/proc/self/ns/pid", os.O_RDONLY)

    def spawn(self, request: dict, fds: list[int]) -> None:
        sock_fd, out_fd, *cgroup_fds = fds  # then cgroup.procs of the child's own cgroup(s), when it has one
        request["uid"] = CHILD_UID_BASE + int.from_bytes(os.urandom(3), "big") % CHILD_UID_SPAN
        status_r, status_w = os.pipe()
        scratch = SCRATCH if self.mode != "plain" else tempfile.mkdtemp(dir=self.config["scratch_root"])
        if self.mode != "plain":  # the next child is pid 1 of a new PID namespace
            unshare(CLONE_NEWPID)
        pid = -1
        try:
            pid = os.fork()
        finally:
            if self.mode != "plain" and pid != 0:  # back to forking into our own namespace (for the next one)
                _call(_libc.setns(self.pidns, CLONE_NEWPID), "setns")
        if pid == 0:
            join_cgroups(cgroup_fds)
            self.ctl.close()
            os.close(status_r)
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if self.mode == "plain":
                os.close(status_w)
                _run_student(request, sock_fd, out_fd, scratch, "")
            _namespace_init(request, sock_fd, out_fd, status_w, self.mode, self.config["readonly"])
        for fd in (sock_fd, out_fd, status_w, *cgroup_fds):
            os.close(fd)
        self.top, self.pidfd, self.status_r, self.scratch = pid, os.pidfd_open(pid), status_r, scratch
        send_msg(self.ctl, {"ev": "spawned"})

    def finish(self) -> None:
        _, raw, usage = os.wait4(self.top, 0)
        if self.mode == "plain":
            status = raw
        else:
            text = os.read(self.status_r, 64)
            status = int(text) if text else None
        kill_descendants()
        for fd in (self.pidfd, self.status_r):
            os.close(fd)
        if self.mode == "plain":
            shutil.rmtree(self.scratch, ignore_errors=True)
        self.top = self.pidfd = self.status_r = self.scratch = None
        send_msg(self.ctl, {"ev": "ended", "status": status, "cpu_seconds": usage.ru_utime + usage.ru_stime,
                            "max_rss_kb": usage.ru_maxrss})

    def serve(self) -> None:
        while True:
            readable, _, _ = select.select([self.ctl] + ([self.pidfd] if self.top else []), [], [])
            if self.pidfd in readable:
                self.finish()
            if self.ctl not in readable:
                continue
            message, fds = recv_msg(self.ctl)
            if message is None or message["op"] == "exit":
                if self.top:
                    os.kill(self.top, signal.SIGKILL)
                kill_descendants()
                return
            if message["op"] == "kill" and self.top:
                # plain mode: S's whole tree is hunted by kill_descendants; namespaces: P is pid 1, its death
                # kills every process of the namespace.
                os.kill(self.top, signal.SIGKILL)
            elif message["op"] == "spawn":
                if self.top:
                    for fd in fds:
                        os.close(fd)
                    send_msg(self.ctl, {"ev": "error", "message": "a child is still running"})
                else:
                    try:
                        self.spawn(message, fds)
                    except OSError as exc:  # fork or pipe refused (no memory, too many processes)
                        for fd in fds:
                            with contextlib.suppress(OSError):
                                os.close(fd)
                        send_msg(self.ctl, {"ev": "error", "message": f"cannot fork a child: {exc}"})


def _children_of(pids: set[int]) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    ppid = int(handle.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid in pids:
                found.add(int(entry))
    return found


def kill_descendants() -> None:
    """SIGKILL every descendant of this process and reap them; as a subreaper every orphan comes back here."""
    me = os.getpid()
    while True:
        tree, frontier = set(), {me}
        while frontier:
            frontier = _children_of(frontier) - tree
            tree |= frontier
        for pid in tree:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
        if not tree:
            return
        time.sleep(0.005)


def main(argv: list[str]) -> int:
    """Entry point: harden, import the preloads, say ready, serve."""
    ctl = socket.socket(fileno=int(argv[0]))
    config = json.loads(argv[1])
    prctl(PR_SET_DUMPABLE, 0)  # children of the same uid can neither ptrace this process nor read its memory
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    started = time.perf_counter()
    try:
        for name in config["preload"]:
            importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - reported to the controller as one line
        send_msg(ctl, {"ev": "error", "message": f"cannot import {name}: {exc}"})
        return 1
    with open("/proc/self/status") as handle:
        vm = dict(line.split(":", 1) for line in handle if line.startswith(("VmRSS", "VmData")))
    send_msg(ctl, {"ev": "ready", "import_seconds": time.perf_counter() - started,
                   "rss_kb": int(vm["VmRSS"].split()[0]), "data_kb": int(vm["VmData"].split()[0])})
    ZygoteServer(ctl, config).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
