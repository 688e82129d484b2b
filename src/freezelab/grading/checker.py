"""The trusted side of grading: drives a submission's functions in a sandboxed child and decides every verdict.

No student code ever runs in this process. The child (`executor.serve`) runs the answer cells; here each
graded name becomes a proxy. Calling a proxy sends the arguments to the child (trusted pickles), the child
calls the student's function and answers with plain data only: the return value as tagged JSON and, for every
model and optimizer involved, its state (requires_grad, parameter and buffer values, training flags, replaced
submodules from a whitelist of classes, param groups by parameter handle). That state is applied to the
checker's own objects, and the course's hidden checks run on them unchanged. A forged reply
therefore has to be the correct state itself. Nothing from the child is ever unpickled; values have exact
builtin types (`type(x) is int`); anything else arrives as an opaque stand-in that equals nothing.
"""

from __future__ import annotations

import argparse
import builtins
import contextlib
import importlib
import io
import json
import os
import pickle
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import torch
from torch import nn

from . import executor as ex
from .course import CHECKS_PACKAGE, HIDDEN_BEGIN, strip_hidden

EXECUTOR = "freezelab.grading.executor:serve"
CELL_TIMEOUT_S = 60.0  # one answer cell
CALL_TIMEOUT_S = 120.0  # one call of a student's function (nbgrader's per-cell limit before)
MAX_RESPAWNS = 6  # a submission whose child keeps dying gets no more fresh children than this
# imported once in the zygote, so that children start warm (helper modules are refused in the child either way)
PRELOAD = ("torch", "torchvision", "freezelab.backbones", "freezelab.data", "freezelab.training",
           "freezelab.device", *ex.HELPER_MODULES)
_CHECK_IMPORT = re.compile(rf"^from {CHECKS_PACKAGE}\.(\w+) import (\w+)\s*$", re.M)


class AnswerStopped(AssertionError):
    """The child was killed or died while running an answer; the message says why (for the student)."""


# ---------------------------------------------------------------------------------------------------------
# Values that came from the child
# ---------------------------------------------------------------------------------------------------------

class Opaque:
    """Stands for a value of a type the checker does not accept (an int subclass, a numpy scalar, ...)."""

    def __repr__(self) -> str:
        return f"<a {type(self).__name__} object>"

    __hash__ = object.__hash__

    def __eq__(self, other: object) -> bool:
        return self is other


_OPAQUE: dict[str, type] = {}
_ERRORS: dict[str, type] = {}


def opaque(name: Any) -> Opaque:
    """A stand-in whose class carries the child's type name (shown in messages), validated."""
    name = name if type(name) is str and re.fullmatch(r"[A-Za-z_]\w{0,80}", name) else "object"
    if name not in _OPAQUE:
        _OPAQUE[name] = type(name, (Opaque,), {})
    return _OPAQUE[name]()


def remote_exception(kind: Any, message: Any, builtin: Any) -> Exception:
    """The exception to raise here for one raised in the child: a builtin class when it was one."""
    kind = kind if type(kind) is str and re.fullmatch(r"[A-Za-z_]\w{0,80}", kind) else "Exception"
    message = message if type(message) is str else ""
    cls = getattr(builtins, kind, None) if builtin is True else None
    if not (isinstance(cls, type) and issubclass(cls, Exception)) or issubclass(cls, AssertionError):
        # a student's own class (or an AssertionError, which checks would read as their own verdict)
        if kind not in _ERRORS:
            _ERRORS[kind] = type(kind, (Exception,), {})
        cls = _ERRORS[kind]
    try:
        return cls(message)
    except Exception:  # noqa: BLE001 - builtin classes that need other arguments (UnicodeError...)
        return _ERRORS.setdefault(kind, type(kind, (Exception,), {}))(message)


_MODULE_PREFIXES = ("torch.nn.modules.", "torchvision.models.", "torchvision.ops.")
_CLASSES: dict[str, type] = {}


def _resolve(path: Any, base: type, prefixes: tuple[str, ...], exact: tuple[str, ...] = ()) -> type | None:
    """A class named 'module:qualname' from a whitelisted module, subclass of `base`; None otherwise."""
    if type(path) is not str or len(path) > 300 or ":" not in path:
        return None
    mod, qual = path.split(":", 1)
    if not (mod.startswith(prefixes) or mod in exact) or not re.fullmatch(r"[\w.]+", mod + "." + qual):
        return None
    try:
        obj: Any = importlib.import_module(mod)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except Exception:  # noqa: BLE001 - an unknown name is simply not whitelisted
        return None
    return obj if isinstance(obj, type) and issubclass(obj, base) else None


def module_class(path: Any) -> type:
    """The whitelisted nn.Module class of `path`, or a placeholder that refuses to run."""
    if path not in _CLASSES:
        cls = _resolve(path, nn.Module, _MODULE_PREFIXES, ("freezelab.backbones",))
        if cls is None:
            name = str(path).rsplit(":", 1)[-1].rsplit(".", 1)[-1] if type(path) is str else "Module"
            name = name if re.fullmatch(r"[A-Za-z_]\w{0,80}", name) else "Module"

            def forward(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
                raise RuntimeError(f"a {type(self).__name__} layer (a class defined in the notebook) cannot be "
                                   "run by the grader: build models from torch.nn layers")

            cls = type(name, (nn.Module,), {"forward": forward})
        _CLASSES[str(path)] = cls
    return _CLASSES[str(path)]


def _handle(h: Any) -> int:
    if type(h) is str and re.fullmatch(r"-?\d{1,9}", h):
        return int(h)
    if type(h) is int:
        return h
    raise ex.ProtocolError("bad handle")


class _Decoder:
    """Strict decoding of the child's tagged values and state, applied to the checker's mirror."""

    def __init__(self, session: Session, blobs: list[bytearray]) -> None:
        self.session, self.mirror, self.blobs = session, session.mirror, blobs

    def value(self, v: Any, depth: int = 0) -> Any:
        if type(v) is not dict or len(v) != 1 or depth > 30:
            raise ex.ProtocolError("bad value")
        (tag, x), = v.items()
        if tag == "v":
            if type(x) not in ex.SCALARS:
                raise ex.ProtocolError("bad scalar")
            return x
        if tag in ("list", "tuple") and type(x) is list:
            items = [self.value(i, depth + 1) for i in x]
            return items if tag == "list" else tuple(items)
        if tag == "dict" and type(x) is list:
            out = {}
            for pair in x:
                if type(pair) is not list or len(pair) != 2:
                    raise ex.ProtocolError("bad dict item")
                key = self.value(pair[0], depth + 1)
                if isinstance(key, (list, dict)):
                    key = opaque("list")
                out[key] = self.value(pair[1], depth + 1)
            return out
        if tag == "opaque":
            return opaque(x)
        if tag == "h":
            obj = self.mirror.objs.get(_handle(x))
            if obj is None:
                raise ex.ProtocolError("unknown handle in a value")
            return obj
        if tag == "fn":
            return RemoteFunction(self.session, None, _handle(x), self.session.generation)
        if tag == "tensor":
            return ex.get_tensor(x, self.blobs).clone()
        raise ex.ProtocolError(f"unknown value tag {tag!r}")

    def _dict(self, x: Any) -> dict:
        if type(x) is not dict:
            raise ex.ProtocolError("expected an object")
        return x

    def _list(self, x: Any) -> list:
        if type(x) is not list:
            raise ex.ProtocolError("expected a list")
        return x

    def state(self, state: Any) -> None:
        """Build the objects the child created (whitelisted classes only) and apply every state entry."""
        state = self._dict(state)
        modules, params, optims = (self._dict(state.get(k)) for k in ("modules", "params", "optims"))
        m = self.mirror
        for h, entry in params.items():
            h, entry = _handle(h), self._dict(entry)
            if h in m.objs:
                continue
            if h >= 0 or type(entry.get("param")) is not bool or type(entry.get("rg")) is not bool:
                raise ex.ProtocolError("bad new parameter")
            if not isinstance(entry.get("data"), dict):
                raise ex.ProtocolError("a new parameter without a value")
            data = ex.get_tensor(entry["data"], self.blobs).clone()
            rg = entry["rg"] and data.dtype.is_floating_point
            m.register(nn.Parameter(data, requires_grad=rg) if entry["param"] else data.requires_grad_(rg), h)
        new_modules = {}
        for h, entry in modules.items():
            h, entry = _handle(h), self._dict(entry)
            if h in m.objs:
                continue
            if h >= 0:
                raise ex.ProtocolError("unknown module handle")
            cls = module_class(entry.get("cls"))
            obj = cls.__new__(cls)
            nn.Module.__init__(obj)
            m.register(obj, h)
            new_modules[h] = obj
        for h, entry in params.items():
            entry = self._dict(entry)
            for key in ("data", "grad"):
                if entry.get(key) not in (None, "same"):
                    self._dict(entry[key])
            ex.set_param(m, m.objs[_handle(h)], _handle(h), {k: entry.get(k) for k in ("data", "rg", "grad")},
                         self.blobs)
        for h, entry in modules.items():
            h, entry = _handle(h), self._dict(entry)
            attrs = {}
            if h in new_modules:
                taken = set()
                for key in ("children", "params", "buffers"):
                    taken |= {k for k, _ in self._pairs(entry.get(key))}
                for key, v in self._dict(entry.get("attrs", {})).items():
                    if (type(key) is str and re.fullmatch(r"[A-Za-z_]\w{0,80}", key) and not key.startswith("__")
                            and key not in taken and key not in ("training", "_parameters", "_buffers",
                                                                 "_modules")):
                        attrs[key] = self.value(v)
            children = [[k, None if c is None else _handle(c)] for k, c in self._pairs(entry.get("children"))]
            plist = [[k, None if p is None else _handle(p)] for k, p in self._pairs(entry.get("params"))]
            buffers = []
            for k, b in self._pairs(entry.get("buffers")):
                if b not in (None, "same"):
                    self._dict(b)
                buffers.append([k, b])
            ex.set_module(m, m.objs[h], h, {"training": entry.get("training"), "children": children,
                                            "params": plist, "buffers": buffers}, self.blobs, attrs)
        for h, entry in optims.items():
            h, entry = _handle(h), self._dict(entry)
            if h not in m.objs:
                cls = _resolve(entry.get("cls"), torch.optim.Optimizer, ("torch.optim.",))
                if h >= 0:
                    raise ex.ProtocolError("unknown optimizer handle")
                if cls is None:
                    m.register(opaque(str(entry.get("cls")).rsplit(".", 1)[-1]), h)
                    continue
                obj = cls.__new__(cls)
                obj.__setstate__({"defaults": {}, "state": defaultdict(dict), "param_groups": []})
                m.register(obj, h)
            obj = m.objs[h]
            if not isinstance(obj, torch.optim.Optimizer):
                continue
            groups = []
            for g in self._list(entry.get("groups")):
                g = self._dict(g)
                groups.append({"hyper": self._dict(g.get("hyper")), "params": [_handle(p) for p in
                                                                               self._list(g.get("params"))]})
            state = []
            for pair in self._list(entry.get("state")):
                if type(pair) is not list or len(pair) != 2:
                    raise ex.ProtocolError("bad optimizer state")
                s = {k: v for k, v in self._dict(pair[1]).items() if type(k) is str}
                state.append([_handle(pair[0]), s])
            ex.set_optim(m, obj, {"groups": groups, "state": state, "defaults": self._dict(entry.get("defaults"))},
                         self.blobs, self.value)

    def _pairs(self, x: Any) -> list[tuple[str, Any]]:
        out = []
        for pair in self._list(x):
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str:
                raise ex.ProtocolError("bad name/value pair")
            out.append((pair[0], pair[1]))
        return out


class RemoteFunction:
    """A student's function (or a function it returned) that lives in the child."""

    def __init__(self, session: Session, name: str | None, handle: int | None, generation: int) -> None:
        self.session, self.name, self.fn_handle, self.generation = session, name, handle, generation
        self.__name__ = name or "function"

    def __repr__(self) -> str:
        return f"<student function {self.__name__}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.session.call(self, args, kwargs)


# ---------------------------------------------------------------------------------------------------------
# Children: the sandbox's zygote, or a plain subprocess when the sandbox module is absent
# ---------------------------------------------------------------------------------------------------------

@dataclass
class _PlainOutcome:
    reason: str
    output: bytes = b""
    exit_code: int | None = None
    signal: int | None = None
    truncated: bool = False


class _PlainChild:
    """One `python -c serve(...)` process in its own session (used only without sandbox.py)."""

    def __init__(self) -> None:
        parent, child = socket.socketpair()
        self.scratch = tempfile.TemporaryDirectory(prefix="freezelab-child-")
        code = ("import socket, sys; from freezelab.grading.executor import serve; "
                "serve(socket.socket(fileno=int(sys.argv[1])))")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(child.fileno())], pass_fds=[child.fileno()],
                                     cwd=self.scratch.name, env=env, start_new_session=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        child.close()
        self.sock = parent

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, 9)

    def wait(self, timeout: float) -> _PlainOutcome:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.proc.wait()
            return _PlainOutcome("timeout")
        self.kill()
        self.sock.close()
        self.scratch.cleanup()
        return _PlainOutcome("ok" if code == 0 else "exit", exit_code=code)


class Launcher:
    """Starts one child per submission: through the sandbox's warm zygote, isolated or not."""

    def __init__(self, isolate: bool = True, memory_mib: int | None = None) -> None:
        self.isolate, self.memory_mib = isolate, memory_mib
        self.zygote: Any = None
        self.owner: Any = None  # the session whose child is running (the zygote runs one at a time)

    def start(self) -> None:
        try:
            from . import sandbox
        except ImportError:
            if self.isolate:
                raise RuntimeError("the sandbox module is missing: grade with --no-sandbox") from None
            return
        limits = sandbox.Limits(memory_bytes=self.memory_mib * 2**20) if self.memory_mib else sandbox.Limits()
        self.zygote = sandbox.Zygote(limits=limits, isolate=self.isolate, preload=PRELOAD)
        self.zygote.start()

    def spawn(self, session: Any = None) -> Any:
        if self.owner is not None and self.owner is not session:
            self.owner.release()
        self.owner = session
        if self.zygote is None:
            return _PlainChild()
        return self.zygote.spawn(EXECUTOR)

    def close(self) -> None:
        if self.zygote is not None:
            self.zygote.close()
            self.zygote = None

    def __enter__(self) -> Launcher:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@dataclass(frozen=True)
class TimeLimit:
    """The wall-clock limit that stopped a process: one answer's (cell or call) or the whole submission's."""

    seconds: float
    whole: bool = False

    def __str__(self) -> str:
        if self.whole:
            return f"the whole submission ran for more than {self.seconds:.0f} s, its time limit (killed)"
        return f"it ran for more than {self.seconds:.0f} s, the time limit of one answer (killed)"


STOP_NOW = TimeLimit(0.0)  # kill the child now (it is no longer needed)


def _stop_reason(outcome: Any, timed_out: TimeLimit | None) -> str:
    """One line for the student: why their process stopped."""
    if timed_out is not None:
        return str(timed_out)
    reason = getattr(outcome, "reason", "crash")
    if reason == "memory":
        detail = getattr(outcome, "detail", "")  # which limit: the whole tree's (cgroup) or one process's
        return f"{detail} (killed)" if detail else "it used more memory than allowed (killed)"
    if reason == "output-cap":
        return "it printed more output than allowed (killed)"
    if reason == "timeout":
        return "it ran too long (killed)"
    code, sig = getattr(outcome, "exit_code", None), getattr(outcome, "signal", None)
    if sig:
        return f"its process was killed by signal {sig}"
    return f"its process exited (status {code}) before finishing"


# ---------------------------------------------------------------------------------------------------------
# One submission's session
# ---------------------------------------------------------------------------------------------------------

@dataclass
class Cell:
    """A code cell for the child: the course's setup cell or the student's answer cell."""

    id: str
    source: str
    answer: bool


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, mirror: ex.Mirror, fresh: set[int]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.mirror, self.fresh = mirror, fresh

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, (nn.Module, torch.Tensor, torch.optim.Optimizer)):
            h = self.mirror.handle(obj)
            if h is not None and h not in self.fresh:
                return h
        return None


class Session:
    """A child running one submission's cells, the proxies for its answers, and the mirror of shared objects."""

    def __init__(self, launcher: Launcher, cells: list[Cell], names: list[str], *,
                 cell_timeout: float = CELL_TIMEOUT_S, call_timeout: float = CALL_TIMEOUT_S,
                 deadline: float | None = None, timeout: float | None = None) -> None:
        self.launcher, self.cells, self.names = launcher, cells, names
        self.cell_timeout, self.call_timeout = cell_timeout, call_timeout
        self.deadline = deadline  # time.monotonic() by which the whole submission must be done
        self.timeout = timeout  # the whole submission's limit in seconds (named when it is what stops a call)
        self.mirror = ex.Mirror(1)
        self.child: Any = None
        self.generation = 0
        self.respawns = 0
        self.skip: dict[str, str] = {}  # cell id -> why it is never run again (it killed a child)
        self.cell_errors: dict[str, str] = {}
        self.outputs: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self.dead: dict[str, str] = {}  # graded name -> why its checks cannot run any more
        self.current: str | None = None
        self.notes: list[str] = []
        self.limit_hit = TimeLimit(cell_timeout)

    # -- the child's life
    def _left(self, limit: float) -> float:
        if self.deadline is None:
            return limit
        return max(0.1, min(limit, self.deadline - time.monotonic()))

    def _read(self, limit: float) -> tuple[dict, list[bytearray]]:
        left = self._left(limit)
        # which limit a timeout of this read would be: the answer's own, or what is left of the submission's
        whole = self.deadline is not None and left < limit
        self.limit_hit = TimeLimit(self.timeout if whole and self.timeout else limit, whole)
        self.child.sock.settimeout(left)
        return ex.recv(self.child.sock)

    def _stop(self, timed_out: TimeLimit | None) -> str:
        child, self.child = self.child, None
        if child is None:
            return "its process was already stopped"
        if timed_out is not None:
            child.kill()
        try:
            outcome = child.wait(5.0)
        except Exception:  # noqa: BLE001 - the reason matters more than how the wait failed
            outcome = None
        with contextlib.suppress(OSError):
            child.sock.close()
        return _stop_reason(outcome, timed_out)

    def start(self) -> None:
        """Start a fresh child and run the cells (those that killed an earlier child are skipped)."""
        while True:
            if self.respawns > MAX_RESPAWNS:
                raise AnswerStopped("the submission's process kept dying; grading stopped")
            self.respawns += 1
            self.generation += 1
            self.mirror.reset()
            self.child = self.launcher.spawn(self)
            cells = [c for c in self.cells if c.id not in self.skip]
            current = None
            try:
                ex.send(self.child.sock, {"op": "load", "names": self.names,
                                          "cells": [{"id": c.id, "source": c.source} for c in cells]})
                while True:
                    msg, _ = self._read(self.cell_timeout)
                    if msg.get("op") == "cell" and type(msg.get("id")) is str:
                        current = msg["id"]
                    elif msg.get("op") == "cell-done" and msg.get("id") == current:
                        error, output = msg.get("error"), msg.get("output")
                        if type(error) is str:
                            self.cell_errors[current] = error[:2000]
                        if type(output) is str and output:
                            self.outputs[current] = output[:ex.CELL_OUTPUT_CAP + 100]
                        current = None
                    elif msg.get("op") == "loaded" and current is None:
                        self._names(msg.get("names"))
                        return
                    else:
                        raise ex.ProtocolError("unexpected message while loading")
            except TimeoutError:
                why = self._stop(self.limit_hit)
                self._lose_cell(current, f"its cell was stopped: {why}")
            except (ex.ProtocolError, OSError, ValueError, struct.error) as exc:
                why = self._stop(None)
                if current is None:
                    raise AnswerStopped(f"the submission could not be run: {why} ({exc})") from None
                self._lose_cell(current, f"its cell stopped the process: {why}")

    def _lose_cell(self, cell_id: str | None, why: str) -> None:
        if cell_id is None:
            raise AnswerStopped(why)
        self.skip[cell_id] = why
        self.cell_errors[cell_id] = why
        self.notes.append(f"cell {cell_id}: {why}; it was not run again")

    def _names(self, names: Any) -> None:
        if type(names) is not dict:
            raise ex.ProtocolError("bad names")
        self.values = {}
        for name in self.names:
            v = names.get(name)
            if type(v) is dict and v.get("missing") is True:
                continue
            if type(v) is dict and set(v) == {"fn"}:
                self.values[name] = RemoteFunction(self, name, None, 0)
            elif v is not None:
                self.values[name] = _Decoder(self, []).value(v)

    def release(self) -> None:
        """Stop the child because another session needs the zygote; the next call starts a fresh one."""
        if self.child is not None:
            self.close()
            self.respawns -= 1  # not the submission's fault

    def close(self) -> None:
        """Stop the child (a later call starts a fresh one)."""
        if self.child is not None:
            with contextlib.suppress(OSError):
                self.child.sock.close()
            self._stop(STOP_NOW)

    # -- calls
    def answer(self, name: str) -> Any:
        """The student's object for a graded name; AssertionError with the reason when it is unavailable."""
        if name in self.values:
            return self.values[name]
        reason = self.cell_errors.get(name) or "the notebook does not define it"
        raise AssertionError(f"{name} is not available: {reason}")

    def begin(self, name: str | None) -> None:
        """A new check of answer `name` starts: shared objects of earlier checks are forgotten."""
        self.current = name
        self.mirror.reset()
        if self.child is not None:
            try:
                ex.send(self.child.sock, {"op": "reset"})
                self._read(self.call_timeout)
            except (OSError, ex.ProtocolError, TimeoutError):
                self._stop(STOP_NOW)

    def _collect(self, obj: Any, fresh: dict[int, Any], roots: list[int], depth: int = 0) -> None:
        if depth > 20:
            return
        if isinstance(obj, (list, tuple)):
            for item in obj:
                self._collect(item, fresh, roots, depth + 1)
        elif isinstance(obj, dict):
            for k, v in obj.items():
                self._collect(k, fresh, roots, depth + 1)
                self._collect(v, fresh, roots, depth + 1)
        elif isinstance(obj, (nn.Module, torch.optim.Optimizer, nn.Parameter)):
            roots.append(self._known(obj, fresh))

    def _known(self, obj: Any, fresh: dict[int, Any]) -> int:
        """The handle of `obj`, registering it and everything it holds when new."""
        h = self.mirror.handle(obj)
        if h is not None:
            if isinstance(obj, nn.Module):  # a known model may hold layers the check added since
                for m in obj.modules():
                    if self.mirror.handle(m) is None:
                        self._known(m, fresh)
                    for p in m._parameters.values():
                        if p is not None and self.mirror.handle(p) is None:
                            fresh[self.mirror.register(p)] = p
            return h
        h = self.mirror.register(obj)
        fresh[h] = obj
        if isinstance(obj, nn.Module):
            for m in obj.modules():
                if self.mirror.handle(m) is None:
                    fresh[self.mirror.register(m)] = m
                for p in m._parameters.values():
                    if p is not None and self.mirror.handle(p) is None:
                        fresh[self.mirror.register(p)] = p
        elif isinstance(obj, torch.optim.Optimizer):
            for g in obj.param_groups:
                for p in g["params"]:
                    if self.mirror.handle(p) is None:
                        fresh[self.mirror.register(p)] = p
        return h

    def call(self, fn: RemoteFunction, args: tuple, kwargs: dict) -> Any:
        """Call a student's function in the child; apply the state it reports; return its decoded result."""
        owner = self.current or fn.name
        if owner in self.dead:
            raise AnswerStopped(self.dead[owner])
        if fn.fn_handle is not None and fn.generation != self.generation:
            raise AnswerStopped("the function it returned was lost when its process was stopped")
        if self.child is None:
            self.start()
        fresh: dict[int, Any] = {}
        roots: list[int] = []
        self._collect((args, kwargs), fresh, roots)
        for h in roots:
            self.mirror.roots[h] = None
        buf = io.BytesIO()
        _Pickler(buf, self.mirror, set(fresh)).dump((list(fresh.items()), args, kwargs))
        for obj in fresh.values():
            self.mirror.remember_values(obj)
        state, blobs = self.mirror.snapshot(skip=set(fresh))
        blobs.append(buf.getvalue())
        rng = ex.put_tensor(torch.get_rng_state(), blobs)
        request = {"op": "call", "name": fn.name if fn.fn_handle is None else None, "fn": fn.fn_handle,
                   "payload": len(blobs) - 2, "roots": roots, "state": state, "rng": rng}
        try:
            ex.send(self.child.sock, request, blobs)
            reply, rblobs = self._read(self.call_timeout)
        except TimeoutError:
            self._kill_answer(owner, self._stop(self.limit_hit))
        except (ex.ProtocolError, OSError, ValueError, struct.error):
            self._kill_answer(owner, self._stop(None))
        return self._result(reply, rblobs, fn)

    def _kill_answer(self, owner: str | None, why: str) -> None:
        message = f"{owner or 'the answer'} was stopped: {why}. Its remaining checks were not run."
        if owner:
            self.dead[owner] = message
        raise AnswerStopped(message)

    def _result(self, reply: dict, blobs: list[bytearray], fn: RemoteFunction) -> Any:
        decoder = _Decoder(self, blobs)
        try:
            with contextlib.suppress(Exception):
                torch.set_rng_state(ex.get_tensor(reply.get("rng"), blobs).clone())
            if type(reply.get("unreadable")) is str:
                raise AnswerStopped(f"after {fn.__name__}(...) the model could not be read back "
                                    f"({reply['unreadable'][:300]}).")
            decoder.state(reply.get("state"))
            if "error" in reply:
                err = reply["error"]
                if type(err) is not dict:
                    raise ex.ProtocolError("bad error")
                exc = remote_exception(err.get("type"), err.get("message"), err.get("builtin"))
            else:
                return decoder.value(reply.get("value"))
        except (ex.ProtocolError, KeyError, TypeError, ValueError, AttributeError, RuntimeError) as bad:
            # the stream can no longer be trusted to be in step: this child is done
            self._stop(STOP_NOW)
            owner = self.current or fn.name
            message = (f"the result of {fn.__name__}(...) could not be read back ({type(bad).__name__}: "
                       f"{str(bad)[:200]}). Its remaining checks were not run.")
            if owner:
                self.dead[owner] = message
            raise AnswerStopped(message) from None
        raise exc



# ---------------------------------------------------------------------------------------------------------
# A notebook: which cells run, and the verdict of every test cell
# ---------------------------------------------------------------------------------------------------------

def _meta(cell: Any) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell, dict) else {}
    return meta if isinstance(meta, dict) else {}


def source_roles(source_nb: Any) -> tuple[list[Any], list[str], list[Any]]:
    """(setup and answer cells in order, answer grade_ids, test cells) of the instructor's source notebook."""
    order, answers, tests = [], [], []
    for cell in source_nb.cells:
        meta = _meta(cell)
        if cell.cell_type != "code" or not meta.get("grade_id"):
            continue
        if meta.get("grade") and not meta.get("solution"):
            tests.append(cell)
        elif meta.get("solution") and not meta.get("grade"):
            order.append(cell)
            answers.append(meta["grade_id"])
        elif meta.get("locked"):
            order.append(cell)
    return order, answers, tests


def child_cells(source_nb: Any, submitted: Any) -> tuple[list[Cell], list[str], dict[str, str], list[str]]:
    """Cells for the child (course setup cells, the student's answer cells), answer names, missing ones, notes."""
    order, answers, _ = source_roles(source_nb)
    found: dict[str, Any] = {}
    notes = []
    for cell in getattr(submitted, "cells", []):
        gid = _meta(cell).get("grade_id")
        if type(gid) is not str or gid not in answers or getattr(cell, "cell_type", None) != "code":
            continue
        if gid in found:
            notes.append(f"answer cell {gid!r} appears more than once: the first copy was graded")
            continue
        found[gid] = cell
    cells, missing = [], {}
    for cell in order:
        gid = _meta(cell)["grade_id"]
        if gid in answers:
            if gid in found and isinstance(found[gid].get("source"), str):
                cells.append(Cell(gid, found[gid]["source"], True))
            else:
                missing[gid] = "the notebook has no answer cell for it (deleted?)"
        else:
            cells.append(Cell(gid, cell.source, False))
    return cells, answers, missing, notes


@dataclass
class Report:
    """The checker's verdicts for one notebook: test cell -> (passed, message), answer outputs, notes."""

    verdicts: dict[str, tuple[bool, str]] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"verdicts": {k: {"passed": p, "message": m} for k, (p, m) in self.verdicts.items()},
                "outputs": self.outputs, "notes": self.notes}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(), contextlib.redirect_stderr(io.StringIO()), \
                contextlib.redirect_stdout(io.StringIO()):
            torch.manual_seed(0)
            yield
    finally:
        torch.set_num_threads(threads)


def _public_failure(exc: BaseException, source: str) -> str:
    """What a failed public test says: the exception and the failing line of the (visible) test."""
    line = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "<public test>" and frame.lineno:
            lines = source.splitlines()
            line = lines[frame.lineno - 1].strip() if frame.lineno <= len(lines) else ""
    text = f"{type(exc).__name__}: {exc}".rstrip(": ")
    return text + (f" (at: {line})" if line else "")


def check_notebook(launcher: Launcher, assignment: str, source_nb: Any, submitted: Any, *,
                   timeout: float = 600.0, cell_timeout: float = CELL_TIMEOUT_S,
                   call_timeout: float = CALL_TIMEOUT_S) -> Report:
    """Run one submitted notebook's answers in a child and decide every test cell of the source notebook."""
    cells, answers, missing, notes = child_cells(source_nb, submitted)
    _, _, tests = source_roles(source_nb)
    report = Report(notes=list(notes))
    # one stuck answer may use at most a third of the submission's time: the others still get theirs
    share = timeout / 3
    session = Session(launcher, cells, answers, cell_timeout=min(cell_timeout, share),
                      call_timeout=min(call_timeout, share), deadline=time.monotonic() + timeout, timeout=timeout)
    session.cell_errors.update(missing)
    try:
        try:
            session.start()
        except AnswerStopped as exc:
            for cell in tests:
                report.verdicts[_meta(cell)["grade_id"]] = (False, str(exc))
            return report
        namespace: dict[str, Any] = {"__name__": "__public_tests__"}
        for cell in cells:
            if not cell.answer:
                exec(compile(cell.source, "<setup>", "exec"), namespace)  # the course's own setup code
        for cell in tests:
            gid = _meta(cell)["grade_id"]
            if time.monotonic() > session.deadline:
                report.verdicts[gid] = (False, f"grading this submission took longer than {timeout:.0f} s")
                continue
            report.verdicts[gid] = _run_test(session, cell, answers, namespace)
        report.outputs = {k: v for k, v in session.outputs.items() if k in answers}
        report.notes += session.notes
    finally:
        session.close()
        _forget_runs(assignment)
    return report


_CHECK_CALL = re.compile(r"^(\w+)\((\w+)\)\s*$", re.M)


def _hidden_calls(source: str) -> list[tuple[Callable[[Any], None], str]]:
    """(check, name of the answer it gets) for each `from <checks>.<module> import f` + `f(answer)` of a cell."""
    imported = {name: module for module, name in _CHECK_IMPORT.findall(source)}
    calls = []
    for name, arg in _CHECK_CALL.findall(source):
        if name in imported:
            module = importlib.import_module(f"{CHECKS_PACKAGE}.{imported[name]}")
            calls.append((getattr(module, name), arg))
    return calls


def _run_test(session: Session, cell: Any, answers: list[str], namespace: dict) -> tuple[bool, str]:
    """Decide one test cell: its public part (plain asserts) and then its hidden checks, on the proxies."""
    from .check import exercise_of

    gid = _meta(cell)["grade_id"]
    hidden = HIDDEN_BEGIN in cell.source
    public = strip_hidden(cell.source) if hidden else cell.source
    target = exercise_of(gid, answers)
    session.begin(target)
    scope = dict(namespace)
    scope.update(session.values)
    try:
        with _quiet():
            if target in answers:
                session.answer(target)
            exec(compile(public, "<public test>", "exec"), scope)
    except AssertionError as exc:
        if isinstance(exc, AnswerStopped) or str(exc).startswith(f"{target} is not available"):
            return False, str(exc)
        return False, _public_failure(exc, public)
    except Exception as exc:  # noqa: BLE001 - a failed public test, reported like a kernel would
        return False, _public_failure(exc, public)
    if not hidden:
        return True, ""
    calls = _hidden_calls(cell.source)
    if not calls:
        return False, f"{gid}: the grader found no hidden check in this cell"
    for check, arg in calls:
        session.begin(arg)
        try:
            answer = session.answer(arg)
            with _quiet():
                check(answer)
        except AssertionError as exc:
            return False, str(exc)
        except Exception as exc:  # noqa: BLE001 - a plain check function that let the answer's error through
            return False, f"{type(exc).__name__}: {exc}"
    return True, ""


def _forget_runs(assignment: str) -> None:
    module = sys.modules.get(f"{CHECKS_PACKAGE}.{assignment}")
    runs = getattr(module, "_RUNS", None)
    if isinstance(runs, dict):
        runs.clear()


# ---------------------------------------------------------------------------------------------------------
# Batch worker: `python -m freezelab.grading.checker worker --course C [--no-sandbox]`
# ---------------------------------------------------------------------------------------------------------

def worker(course: Path, isolate: bool, jobs: Any, results: Any, memory_mib: int | None = None) -> None:
    """Read one JSON job per line ({source, submitted, assignment, out}); write a JSON line per job."""
    sys.path.insert(0, str(course))
    with Launcher(isolate, memory_mib) as launcher:
        for line in jobs:
            job = json.loads(line)
            started = time.process_time(), time.perf_counter()
            try:
                source_nb = nbformat.read(job["source"], as_version=4)
                submitted = nbformat.read(job["submitted"], as_version=4)
                report = check_notebook(launcher, job["assignment"], source_nb, submitted,
                                        timeout=float(job.get("timeout", 600)))
                Path(job["out"]).write_text(json.dumps(report.to_json()))
                result = {"ok": True}
            except Exception as exc:  # noqa: BLE001 - one submission never stops the worker
                result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
            result["cpu"] = time.process_time() - started[0]
            result["wall"] = time.perf_counter() - started[1]
            results.write(json.dumps(result) + "\n")
            results.flush()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the checker worker process."""
    parser = argparse.ArgumentParser(description="freezelab grading checker worker (JSON lines on stdin)")
    parser.add_argument("command", choices=["worker"])
    parser.add_argument("--course", required=True)
    parser.add_argument("--no-sandbox", action="store_true")
    parser.add_argument("--memory-mib", type=int, default=None)
    args = parser.parse_args(argv)
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything printed by libraries goes to stderr; stdout carries results only
    worker(Path(args.course), not args.no_sandbox, sys.stdin, out, args.memory_mib)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
