"""A memory and process cap for each child's whole process tree: one cgroup per child, v2 or v1.

rlimits count per process, so a submission that starts several processes could hold several times its memory
limit. When this machine lets the grader create cgroups (root, or a delegated cgroup v2 subtree), every child
gets a cgroup of its own: `memory` (no swap) and `pids` capped, the child's first process moved in before any
student code runs (everything it starts stays in), the peak and the OOM kills read afterwards, and the cgroup
removed. cgroup v2 is used when its memory and pids controllers can be enabled below the grader's own cgroup,
else cgroup v1 (`memory` and `pids` hierarchies). Otherwise `TreeCgroups.detect()` says why and grading keeps
the per-process rlimits only (docs/security.md, `freezelab doctor`).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

CONTROLLERS = ("memory", "pids")
PREFIX = "freezelab-"


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _field(text: str, key: str) -> int:
    """The number after `key` in a "key value" per line file (memory.events, memory.oom_control, pids.events)."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key and parts[1].isdigit():
            return int(parts[1])
    return 0


def _mounts(proc: Path) -> list[tuple[Path, str, set[str]]]:
    """(mount point, type, options) of every cgroup file system this process sees."""
    found = []
    for line in _read(proc / "self" / "mounts").splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] in ("cgroup", "cgroup2"):
            found.append((Path(parts[1]), parts[2], set(parts[3].split(","))))
    return found


def _own_paths(proc: Path) -> dict[str, str]:
    """This process's cgroup per v1 controller, and under "" its cgroup v2 path (from /proc/self/cgroup)."""
    paths = {}
    for line in _read(proc / "self" / "cgroup").splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path
    return paths


def _writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


def _remove_stale(base: Path) -> None:
    """Remove the empty cgroups of graders that died without cleaning up (their pid is in the name)."""
    for folder in base.glob(f"{PREFIX}*"):
        pid = folder.name[len(PREFIX):].split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            for child in folder.iterdir():
                if child.is_dir():
                    with contextlib.suppress(OSError):
                        child.rmdir()
            with contextlib.suppress(OSError):
                folder.rmdir()


@dataclass
class Usage:
    """What a child's cgroup saw: the peak memory of the whole tree, OOM kills, refused forks."""

    peak_bytes: int = 0
    oom_kills: int = 0
    fork_refusals: int = 0


class ChildCgroup:
    """One child's cgroup (a folder per hierarchy); `procs` are the files its first process writes "0" into."""

    def __init__(self, version: str, folders: dict[str, Path]) -> None:
        self.version, self.folders = version, folders

    @property
    def procs(self) -> list[Path]:
        """cgroup.procs of each hierarchy: writing "0" there moves the writing process (and all it starts) in."""
        return [folder / "cgroup.procs" for folder in dict.fromkeys(self.folders.values())]

    def open_procs(self) -> list[int]:
        """Write-only descriptors of `procs`, opened here (the grader's credentials and cgroup namespace count)."""
        fds = []
        try:
            for path in self.procs:
                fds.append(os.open(path, os.O_WRONLY | os.O_CLOEXEC))
        except OSError:
            for fd in fds:
                os.close(fd)
            raise
        return fds

    def usage(self) -> Usage:
        """Peak memory, OOM kills and refused forks so far."""
        memory, pids = self.folders["memory"], self.folders["pids"]
        if self.version == "v2":
            peak = _read(memory / "memory.peak").strip()
            return Usage(int(peak) if peak.isdigit() else 0, _field(_read(memory / "memory.events"), "oom_kill"),
                         _field(_read(pids / "pids.events"), "max"))
        peak = _read(memory / "memory.max_usage_in_bytes").strip()
        return Usage(int(peak) if peak.isdigit() else 0, _field(_read(memory / "memory.oom_control"), "oom_kill"),
                     _field(_read(pids / "pids.events"), "max"))

    def oom_killed(self) -> bool:
        """True once the kernel has killed a process of this child for memory."""
        memory = self.folders["memory"]
        if self.version == "v2":
            return _field(_read(memory / "memory.events"), "oom_kill") > 0
        return _field(_read(memory / "memory.oom_control"), "oom_kill") > 0

    def kill_all(self) -> None:
        """SIGKILL every process still in this cgroup, whatever its session or parent (a daemon of a child whose
        zygote died is found here too)."""
        kill_file = self.folders["memory"] / "cgroup.kill"
        if self.version == "v2" and kill_file.exists():
            with contextlib.suppress(OSError):
                kill_file.write_text("1")
        for _ in range(50):
            pids = {int(p) for path in self.procs for p in _read(path).split() if p.isdigit()}
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def remove(self, wait: float = 2.0) -> bool:
        """Remove the folders (they must be empty of processes: retried briefly while the last ones exit)."""
        deadline = time.monotonic() + wait
        left = dict.fromkeys(self.folders.values())
        while left:
            for folder in list(left):
                try:
                    folder.rmdir()
                    del left[folder]
                except FileNotFoundError:
                    del left[folder]
                except OSError:
                    pass
            if left and time.monotonic() > deadline:
                return False
            if left:
                time.sleep(0.01)
        return True


class TreeCgroups:
    """Creates one cgroup per child below a folder of this grader's own ("freezelab-<pid>-<n>")."""

    _count = itertools.count()

    def __init__(self, version: str, bases: dict[str, Path]) -> None:
        self.version = version
        self.bases = bases  # controller -> this grader's folder (the same folder for both on v2)
        self._children = itertools.count()

    @property
    def description(self) -> str:
        """One line for doctor and docs: which mechanism caps each child's tree."""
        return f"cgroup {self.version}: memory and pids capped per submission (its whole process tree)"

    @classmethod
    def detect(cls, proc: Path = Path("/proc")) -> tuple[TreeCgroups | None, str]:
        """(cgroups ready to use, what) or (None, why not): tries cgroup v2, then v1; creates only our folder."""
        mounts, own = _mounts(proc), _own_paths(proc)
        reasons = []
        for mount, kind, _ in mounts:
            if kind == "cgroup2" and "" in own:
                made = cls._try_v2(mount / own[""].lstrip("/"))
                if isinstance(made, TreeCgroups):
                    return made, made.description
                reasons.append(f"cgroup v2: {made}")
        v1 = {}
        for name in CONTROLLERS:
            found = [m for m, kind, opts in mounts if kind == "cgroup" and name in opts]
            if found and name in own:
                v1[name] = found[0] / own[name].lstrip("/")
        if len(v1) == len(CONTROLLERS):
            made = cls._try_v1(v1)
            if isinstance(made, TreeCgroups):
                return made, made.description
            reasons.append(f"cgroup v1: {made}")
        elif not reasons:
            reasons.append("no cgroup v2 or v1 memory and pids hierarchies are mounted")
        return None, "; ".join(reasons)

    @classmethod
    def _name(cls) -> str:
        return f"{PREFIX}{os.getpid()}-{next(cls._count)}"

    @classmethod
    def _try_v2(cls, base: Path) -> TreeCgroups | str:
        if not _writable_dir(base):
            return f"{base} is not writable (not delegated to this user)"
        offered = _read(base / "cgroup.controllers").split()
        if not set(CONTROLLERS) <= set(offered):
            return f"the memory and pids controllers are not available in {base} (only: {' '.join(offered) or 'none'})"
        _remove_stale(base)
        ours = base / cls._name()
        try:
            enabled = _read(base / "cgroup.subtree_control").split()
            if not set(CONTROLLERS) <= set(enabled):
                # refused when the grader's own cgroup holds processes (v2's no-internal-processes rule)
                (base / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in CONTROLLERS))
            ours.mkdir()
            (ours / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in CONTROLLERS))
        except OSError as exc:
            with contextlib.suppress(OSError):
                ours.rmdir()
            return f"cannot enable memory and pids below {base} ({exc.strerror or exc})"
        return cls("v2", {name: ours for name in CONTROLLERS})

    @classmethod
    def _try_v1(cls, bases: dict[str, Path]) -> TreeCgroups | str:
        made: dict[str, Path] = {}
        name = cls._name()
        for controller, base in bases.items():
            try:
                _remove_stale(base)
                (base / name).mkdir()
                made[controller] = base / name
            except OSError as exc:
                for folder in made.values():
                    with contextlib.suppress(OSError):
                        folder.rmdir()
                return f"cannot create a cgroup in {base} ({exc.strerror or exc})"
        return cls("v1", made)

    def create(self, memory_bytes: int, max_processes: int) -> ChildCgroup:
        """A fresh cgroup for one child: memory capped (swap too), processes capped, OOM kills the whole tree."""
        name = f"c{next(self._children)}"
        folders = {c: self.bases[c] / name for c in CONTROLLERS}
        for folder in dict.fromkeys(folders.values()):
            folder.mkdir()
        child = ChildCgroup(self.version, folders)
        try:
            memory, pids = folders["memory"], folders["pids"]
            if self.version == "v2":
                (memory / "memory.max").write_text(str(memory_bytes))
                for name, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):
                    with contextlib.suppress(OSError):  # absent without swap / on old kernels
                        (memory / name).write_text(value)
            else:
                (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
                with contextlib.suppress(OSError):  # with swap accounting: no swap either
                    (memory / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
            (pids / "pids.max").write_text(str(max_processes))
        except OSError:
            child.remove(0)
            raise
        return child

    def close(self) -> None:
        """Remove this grader's folders (and any child cgroup left in them)."""
        for base in dict.fromkeys(self.bases.values()):
            for folder in (f for f in base.iterdir() if f.is_dir()):
                ChildCgroup(self.version, {c: folder for c in CONTROLLERS}).remove(0.5)
            with contextlib.suppress(OSError):
                base.rmdir()
