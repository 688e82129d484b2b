"""The untrusted side of grading: runs a submission's answer cells and serves the checker's calls.

`serve(sock)` runs inside the sandboxed child (a plain Python process, no IPython kernel). The checker sends the
cells to execute (the course's setup cells and the student's autograded-answer cells), then asks it to call the
student's functions on objects it sends (trusted pickles: the checker -> child direction only). Every reply is
plain data: JSON plus raw tensor bytes with a dtype/shape header, built by `Mirror.snapshot` and `encode`.

The wire format and the `Mirror` are shared with the checker (`checker.py`), which decodes replies strictly:
exact builtin types only, tensors rebuilt from bytes, module and optimizer classes from a whitelist.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib.abc
import importlib.machinery
import io
import json
import os
import pickle
import re
import socket
import struct
import sys
import types
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

# ---------------------------------------------------------------------------------------------------------
# Wire format: u32 JSON length, u32 blob count, JSON, then each blob as u64 length + bytes
# ---------------------------------------------------------------------------------------------------------

MAX_JSON = 64 * 2**20
MAX_MESSAGE = 768 * 2**20  # a reply never needs more than a few model copies; refuse anything bigger
CELL_OUTPUT_CAP = 20_000  # characters of a cell's printed output kept for feedback


class ProtocolError(Exception):
    """The other side sent something that is not a well-formed message."""


def send(sock: socket.socket, header: dict, blobs: list[bytes] = ()) -> None:
    """Send one message (JSON header plus binary blobs)."""
    data = json.dumps(header, allow_nan=True).encode()
    sock.sendall(struct.pack("<II", len(data), len(blobs)) + data)
    for blob in blobs:
        sock.sendall(struct.pack("<Q", len(blob)))
        sock.sendall(blob)


def _recv_exact(sock: socket.socket, n: int) -> bytearray:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise ProtocolError("the other side closed the connection")
        got += k
    return buf


def recv(sock: socket.socket) -> tuple[dict, list[bytearray]]:
    """Receive one message; sizes are bounded and the header must be a JSON object."""
    size, count = struct.unpack("<II", _recv_exact(sock, 8))
    if size > MAX_JSON or count > 100_000:
        raise ProtocolError(f"message header too large ({size} bytes, {count} blobs)")
    try:
        header = json.loads(bytes(_recv_exact(sock, size)))
    except ValueError as exc:
        raise ProtocolError(f"malformed JSON header: {exc}") from None
    if type(header) is not dict:
        raise ProtocolError("the message header is not a JSON object")
    blobs, total = [], size
    for _ in range(count):
        (n,) = struct.unpack("<Q", _recv_exact(sock, 8))
        total += n
        if total > MAX_MESSAGE:
            raise ProtocolError(f"message larger than {MAX_MESSAGE // 2**20} MiB")
        blobs.append(_recv_exact(sock, n))
    return header, blobs


# ---------------------------------------------------------------------------------------------------------
# Tensors by value
# ---------------------------------------------------------------------------------------------------------

DTYPES = {name: getattr(torch, name) for name in (
    "float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool")}


def put_tensor(t: torch.Tensor, blobs: list[bytes]) -> dict:
    """Append a tensor's bytes to `blobs`; return its header."""
    t = t.detach().cpu().contiguous()
    name = str(t.dtype).removeprefix("torch.")
    if name not in DTYPES:
        t, name = t.float(), "float32"
    blobs.append(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return {"T": len(blobs) - 1, "dtype": name, "shape": list(t.shape)}


def get_tensor(desc: Any, blobs: list[bytearray]) -> torch.Tensor:
    """Rebuild a tensor from its header and bytes, checking every field."""
    if type(desc) is not dict or set(desc) != {"T", "dtype", "shape"}:
        raise ProtocolError("bad tensor header")
    index, dtype, shape = desc["T"], desc["dtype"], desc["shape"]
    if (type(index) is not int or not 0 <= index < len(blobs) or type(dtype) is not str or dtype not in DTYPES
            or type(shape) is not list or len(shape) > 8 or any(type(s) is not int or s < 0 for s in shape)):
        raise ProtocolError("bad tensor header")
    dt = DTYPES[dtype]
    numel = 1
    for s in shape:
        numel *= s
    data = blobs[index]
    if len(data) != numel * dt.itemsize:
        raise ProtocolError("tensor size does not match its shape")
    if numel == 0:
        return torch.empty(shape, dtype=dt)
    return torch.frombuffer(data, dtype=torch.uint8).view(dt).reshape(shape)


# ---------------------------------------------------------------------------------------------------------
# Plain values
# ---------------------------------------------------------------------------------------------------------

SCALARS = (type(None), bool, int, float, str)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,120}")


def plain(value: Any, depth: int = 0) -> Any:
    """A tagged JSON form of a plain value (exact builtin types only); raises TypeError otherwise."""
    kind = type(value)
    if kind in SCALARS:
        if kind is str and len(value) > 100_000:
            raise TypeError("string too long")
        return {"v": value}
    if depth > 20:
        raise TypeError("nested too deeply")
    if kind in (list, tuple):
        if len(value) > 100_000:
            raise TypeError("sequence too long")
        return {kind.__name__: [plain(v, depth + 1) for v in value]}
    if kind is dict:
        return {"dict": [[plain(k, depth + 1), plain(v, depth + 1)] for k, v in value.items()]}
    raise TypeError(f"not a plain value: {kind.__name__}")


def type_name(value: Any) -> str:
    """The class name of a value, safe to put in a message."""
    name = getattr(type(value), "__name__", "object")
    return name if type(name) is str and _IDENT.fullmatch(name) else "object"


# ---------------------------------------------------------------------------------------------------------
# The mirror: modules, parameters and optimizers by handle, their state as plain data
# ---------------------------------------------------------------------------------------------------------

def _class_path(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"


def _attrs(module: nn.Module) -> dict:
    """The module's own plain attributes (in_features, stride, p, eps, ...)."""
    out = {}
    for key, value in vars(module).items():
        if key.startswith("__") or key in ("training", "_parameters", "_buffers", "_modules"):
            continue
        try:
            out[key] = plain(value)
        except TypeError:
            continue
    return out


class Mirror:
    """Objects shared with the other side, by handle, and the last value of each tensor sent or received.

    The checker numbers its objects 1, 2, ...; the child numbers the ones it creates -1, -2, ...
    """

    def __init__(self, sign: int) -> None:
        self.sign = sign
        self.reset()

    def reset(self) -> None:
        """Forget every object (a new check starts)."""
        self.objs: dict[int, Any] = {}
        self.handles: dict[int, int] = {}
        self.roots: dict[int, None] = {}
        self.last: dict[tuple[int, str], torch.Tensor] = {}
        self.counter = 0

    def handle(self, obj: Any) -> int | None:
        """The handle of a known object, or None."""
        return self.handles.get(id(obj))

    def register(self, obj: Any, handle: int | None = None) -> int:
        """Remember `obj` under `handle` (or a new handle of this side)."""
        if handle is None:
            self.counter += 1
            handle = self.sign * self.counter
        self.objs[handle] = obj
        self.handles[id(obj)] = handle
        return handle

    def remember_values(self, obj: Any) -> None:
        """Record the current tensors of a module or optimizer tree as already synced."""
        if isinstance(obj, torch.Tensor) and self.handle(obj) is not None:
            self.last[(self.handle(obj), "data")] = obj.detach().cpu().clone()
        if isinstance(obj, nn.Module):
            for m in obj.modules():
                h = self.handle(m)
                for name, b in m._buffers.items():
                    if h is not None and b is not None:
                        self.last[(h, "b." + name)] = b.detach().cpu().clone()
                for p in m._parameters.values():
                    if p is not None and self.handle(p) is not None:
                        self.last[(self.handle(p), "data")] = p.detach().cpu().clone()

    def _tensor(self, key: tuple[int, str], t: torch.Tensor | None, blobs: list[bytes]) -> Any:
        if t is None:
            return None
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"expected a tensor, found {type_name(t)}")
        old = self.last.get(key)
        cur = t.detach().cpu()
        if old is not None and old.dtype == cur.dtype and old.shape == cur.shape and torch.equal(old, cur):
            return "same"
        self.last[key] = cur.clone()
        return put_tensor(cur, blobs)

    def snapshot(self, skip: set[int] = frozenset()) -> tuple[dict, list[bytes]]:
        """The state of everything reachable from the roots (handles in `skip` are left out)."""
        blobs: list[bytes] = []
        modules: dict[str, dict] = {}
        params: dict[str, dict] = {}
        optims: dict[str, dict] = {}

        def ref(obj: Any) -> int:
            h = self.handle(obj)
            return self.register(obj) if h is None else h

        def param(p: Any) -> int:
            if not isinstance(p, torch.Tensor):
                raise TypeError(f"a parameter slot holds a {type_name(p)}, not a tensor")
            h = ref(p)
            if str(h) not in params and h not in skip:
                params[str(h)] = {"rg": bool(p.requires_grad), "data": self._tensor((h, "data"), p, blobs),
                                  "grad": self._tensor((h, "grad"), p.grad, blobs),
                                  "param": isinstance(p, nn.Parameter)}
            return h

        def module(m: nn.Module) -> int:
            h = ref(m)
            if str(h) in modules or h in skip:
                return h
            entry: dict[str, Any] = {"cls": _class_path(m), "training": bool(m.training), "attrs": _attrs(m)}
            modules[str(h)] = entry
            entry["children"] = [[str(k), None if c is None else module(c)] for k, c in m._modules.items()]
            entry["params"] = [[str(k), None if p is None else param(p)] for k, p in m._parameters.items()]
            entry["buffers"] = [[str(k), self._tensor((h, "b." + k), b, blobs)] for k, b in m._buffers.items()]
            return h

        def optim(o: torch.optim.Optimizer) -> int:
            h = ref(o)
            if str(h) in optims or h in skip:
                return h
            groups = []
            for g in o.param_groups:
                hyper = {}
                for k, v in g.items():
                    if k != "params":
                        try:
                            hyper[str(k)] = plain(v)
                        except TypeError:
                            hyper[str(k)] = {"opaque": type_name(v)}
                groups.append({"params": [param(p) for p in g["params"]], "hyper": hyper})
            state = []
            for p, s in o.state.items():
                entry = {}
                for k, v in dict(s).items():
                    if isinstance(v, torch.Tensor):
                        entry[str(k)] = put_tensor(v, blobs)
                    else:
                        try:
                            entry[str(k)] = plain(v)
                        except TypeError:
                            entry[str(k)] = {"opaque": type_name(v)}
                state.append([param(p), entry])
            defaults = {}
            for k, v in o.defaults.items():
                try:
                    defaults[str(k)] = plain(v)
                except TypeError:
                    defaults[str(k)] = {"opaque": type_name(v)}
            optims[str(h)] = {"cls": _class_path(o), "groups": groups, "state": state, "defaults": defaults}
            return h

        for h in list(self.roots):
            obj = self.objs.get(h)
            if isinstance(obj, nn.Module):
                module(obj)
            elif isinstance(obj, torch.optim.Optimizer):
                optim(obj)
            elif isinstance(obj, torch.Tensor):
                param(obj)
        return {"modules": modules, "params": params, "optims": optims}, blobs

    def apply_known(self, state: dict, blobs: list[bytearray]) -> None:
        """Apply a snapshot to objects this side already holds (the child's use: every handle is known)."""
        for h, entry in state["params"].items():
            p = self.objs[int(h)]
            set_param(self, p, int(h), entry, blobs)
        for h, entry in state["modules"].items():
            m = self.objs[int(h)]
            set_module(self, m, int(h), entry, blobs)
        for h, entry in state["optims"].items():
            set_optim(self, self.objs[int(h)], entry, blobs, lambda v: _unplain(v))


def _unplain(value: Any) -> Any:
    """The value behind `plain(value)` (trusted input: the child reads what the checker sent)."""
    if "v" in value:
        return value["v"]
    if "list" in value:
        return [_unplain(v) for v in value["list"]]
    if "tuple" in value:
        return tuple(_unplain(v) for v in value["tuple"])
    if "dict" in value:
        return {_unplain(k): _unplain(v) for k, v in value["dict"]}
    return None


def set_param(mirror: Mirror, p: torch.Tensor, h: int, entry: dict, blobs: list[bytearray]) -> None:
    """Give a known tensor the requires_grad, value and gradient of a snapshot entry."""
    if entry["data"] not in (None, "same"):
        value = get_tensor(entry["data"], blobs)
        p.data = value
        mirror.last[(h, "data")] = value.clone()
    if type(entry["rg"]) is not bool:
        raise ProtocolError("requires_grad is not a bool")
    if p.is_leaf and (p.dtype.is_floating_point or not entry["rg"]):
        p.requires_grad_(entry["rg"])
    if entry["grad"] is None:
        p.grad = None
    elif entry["grad"] != "same":
        grad = get_tensor(entry["grad"], blobs)
        p.grad = grad.clone() if grad.shape == p.shape and grad.dtype == p.dtype else None
        mirror.last[(h, "grad")] = grad.clone()


def set_module(mirror: Mirror, m: nn.Module, h: int, entry: dict, blobs: list[bytearray],
               attrs: dict | None = None) -> None:
    """Give a known module the structure and state of a snapshot entry (children and params by handle)."""
    if type(entry["training"]) is not bool:
        raise ProtocolError("training is not a bool")
    for key, value in (attrs or {}).items():
        m.__dict__[key] = value
    m.training = entry["training"]
    m._modules.clear()
    for name, child in entry["children"]:
        m._modules[name] = None if child is None else _known(mirror, child, nn.Module)
    m._parameters.clear()
    for name, ph in entry["params"]:
        m._parameters[name] = None if ph is None else _known(mirror, ph, torch.Tensor)
    for name, value in entry["buffers"]:
        if value is None:
            m._buffers[name] = None
        elif value != "same" or name not in m._buffers:
            if value == "same":
                raise ProtocolError(f"buffer {name} marked unchanged but never sent")
            m._buffers[name] = get_tensor(value, blobs).clone()
            mirror.last[(h, "b." + name)] = m._buffers[name].clone()
    for name in [n for n in m._buffers if n not in {k for k, _ in entry["buffers"]}]:
        del m._buffers[name]


def _known(mirror: Mirror, h: Any, kind: type) -> Any:
    obj = mirror.objs.get(h) if type(h) is int else None
    if not isinstance(obj, kind):
        raise ProtocolError(f"unknown handle {h!r}")
    return obj


def set_optim(mirror: Mirror, o: torch.optim.Optimizer, entry: dict, blobs: list[bytearray], value) -> None:
    """Give an optimizer the param groups (parameters by handle), defaults and state of a snapshot entry."""
    groups = []
    for g in entry["groups"]:
        group = {k: value(v) for k, v in g["hyper"].items()}
        group["params"] = [_known(mirror, h, torch.Tensor) for h in g["params"]]
        groups.append(group)
    o.param_groups = groups
    o.defaults = {k: value(v) for k, v in entry["defaults"].items()}
    state: defaultdict = defaultdict(dict)
    for h, s in entry["state"]:
        state[_known(mirror, h, torch.Tensor)] = {
            k: get_tensor(v, blobs).clone() if type(v) is dict and "T" in v else value(v) for k, v in s.items()}
    o.state = state


# ---------------------------------------------------------------------------------------------------------
# Inside the child
# ---------------------------------------------------------------------------------------------------------

# Graded answers use plain PyTorch: every freezelab module but these refuses to run once the answers have loaded
# (the hidden checks apply the same rule through banned_helpers() when nbgrader runs them; the grader itself is not
# importable here at all beyond this executor).
ALLOWED_MODULES = ("freezelab", "freezelab.data", "freezelab.backbones", "freezelab.device", "freezelab.paths",
                   "freezelab.training")
# The helpers an answer would most likely reach for: the zygote imports them, so children need not.
HELPER_MODULES = ("freezelab.inspect", "freezelab.plans", "freezelab.recipes", "freezelab.peft",
                  "freezelab.features", "freezelab.evaluation")


def is_helper_module(name: str) -> bool:
    """True for a freezelab module graded answers may not call."""
    return (name.startswith("freezelab.") and name not in ALLOWED_MODULES
            and not name.startswith("freezelab.grading"))


class _Sink(io.TextIOBase):
    """A text stream that keeps at most `cap` characters (the rest is counted, not stored)."""

    def __init__(self, cap: int) -> None:
        self.cap, self.parts, self.size, self.dropped = cap, [], 0, 0

    def writable(self) -> bool:
        return True

    def write(self, text: Any) -> int:
        text = str(text)
        room = self.cap - self.size
        if room > 0:
            self.parts.append(text[:room])
            self.size += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def text(self) -> str:
        out = "".join(self.parts)
        return out + (f"\n[... {self.dropped} more characters of output dropped]" if self.dropped else "")


class _FakeIPython:
    """Enough of IPython for cells that use %magics or !commands: they do nothing here."""

    def run_line_magic(self, *args: Any, **kwargs: Any) -> None:
        return None

    def run_cell_magic(self, *args: Any, **kwargs: Any) -> None:
        return None

    def system(self, *args: Any, **kwargs: Any) -> None:
        return None

    def getoutput(self, *args: Any, **kwargs: Any) -> list[str]:
        return []


def python_source(source: str) -> str:
    """Cell source as plain Python (IPython magics become calls on a do-nothing shell)."""
    if not re.search(r"^\s*[%!]", source, re.M):
        return source
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return source
    return TransformerManager().transform_cell(source)


def run_cell(source: str, namespace: dict, label: str) -> tuple[str | None, str]:
    """Execute one cell; return (why it failed or None, its printed output, capped)."""
    sink = _Sink(CELL_OUTPUT_CAP)
    try:
        # dont_inherit: cells must not get this module's `from __future__ import annotations`.
        code = compile(python_source(source), f"<{label}>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"its cell has a syntax error (line {exc.lineno}: {exc.msg})", ""
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            exec(code, namespace)
    except NotImplementedError:
        return "its cell still raises NotImplementedError (not answered yet)", sink.text()
    except BaseException as exc:  # noqa: BLE001 - SystemExit and friends from a cell must not stop grading
        return f"its cell raised {type_name(exc)}: {_message(exc)}", sink.text()
    return None, sink.text()


def _message(exc: BaseException) -> str:
    try:
        text = str(exc)
    except BaseException:  # noqa: BLE001 - a hostile __str__
        text = "(no message)"
    return text if type(text) is str else "(no message)"


def ban_helpers() -> None:
    """Make the course package's own helpers refuse to do a graded answer's work (for the rest of the child).

    Modules already imported are changed in place; one an answer imports later (inside its own body) is changed
    as soon as it has run, by an import hook.
    """
    for name in [n for n in list(sys.modules) if is_helper_module(n)]:
        refuse_in(sys.modules[name])
    sys.meta_path.insert(0, RefuseOnImport())


def refusing_code(qualname: str) -> types.CodeType:
    """The code of a function that raises PermissionError naming `qualname` (uses only builtins)."""
    message = (f"{qualname} is off limits in graded answers: write this with plain PyTorch "
               "(parameters(), requires_grad, numel()).")
    ns: dict[str, Any] = {}
    exec(compile(f"def refuse(*args, **kwargs):\n    raise PermissionError({message!r})\n", "<banned helper>", "exec"),
         ns)
    return ns["refuse"].__code__


def refuse_in(module: types.ModuleType) -> list[tuple[types.FunctionType, types.CodeType]]:
    """Make every plain function defined in `module` refuse; return (function, its old code) to undo it."""
    swapped = []
    for attr, value in vars(module).items():
        if (isinstance(value, types.FunctionType) and value.__module__ == module.__name__
                and not value.__code__.co_freevars):
            swapped.append((value, value.__code__))
            value.__code__ = refusing_code(f"{module.__name__}.{attr}")
    return swapped


class RefuseOnImport(importlib.abc.MetaPathFinder):
    """Finds helper modules as usual, and hands each to `on_load` as soon as it has run."""

    def __init__(self, on_load: Callable[[types.ModuleType], Any] = refuse_in) -> None:
        self.on_load = on_load

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if not is_helper_module(name):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run_module, on_load = spec.loader.exec_module, self.on_load

        def exec_module(module: types.ModuleType) -> None:
            run_module(module)
            on_load(module)

        spec.loader.exec_module = exec_module  # this loader object belongs to this one import
        return spec


def encode(value: Any, mirror: Mirror, depth: int = 0) -> Any:
    """A return value as tagged plain data; shared objects by handle; anything else by its type name."""
    kind = type(value)
    if kind in SCALARS:
        return plain(value) if kind is not str or len(value) <= 100_000 else {"opaque": "str"}
    if depth > 20:
        return {"opaque": type_name(value)}
    if kind in (list, tuple):
        return {kind.__name__: [encode(v, mirror, depth + 1) for v in value[:100_000]]}
    if kind is dict:
        return {"dict": [[encode(k, mirror, depth + 1), encode(v, mirror, depth + 1)] for k, v in value.items()]}
    if isinstance(value, (nn.Module, torch.optim.Optimizer, nn.Parameter)):
        h = mirror.handle(value)
        h = mirror.register(value) if h is None else h
        mirror.roots[h] = None
        return {"h": h}
    if kind is torch.Tensor:
        return {"tensor": value}  # replaced by put_tensor when the reply is built
    if callable(value):
        h = mirror.handle(value)
        return {"fn": mirror.register(value) if h is None else h}
    return {"opaque": type_name(value)}


def _tensors_to_blobs(value: Any, blobs: list[bytes]) -> Any:
    if type(value) is dict:
        if "tensor" in value and isinstance(value["tensor"], torch.Tensor):
            return {"tensor": put_tensor(value["tensor"], blobs)}
        return {k: _tensors_to_blobs(v, blobs) for k, v in value.items()}
    if type(value) is list:
        return [_tensors_to_blobs(v, blobs) for v in value]
    return value


def _answer_value(value: Any) -> Any:
    if type(value) in SCALARS or type(value) in (list, tuple, dict):
        try:
            return plain(value)
        except TypeError:
            return {"opaque": type_name(value)}
    if callable(value):
        return {"fn": None}
    return {"opaque": type_name(value)}


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, mirror: Mirror) -> None:
        super().__init__(io.BytesIO(data))
        self.mirror = mirror

    def persistent_load(self, pid: Any) -> Any:
        return self.mirror.objs[pid]


def serve(sock: socket.socket) -> None:
    """Run the cells the checker sends, then answer its calls until it closes the socket."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    torch.set_num_threads(1)
    header, _ = recv(sock)
    namespace: dict[str, Any] = {"__name__": "__submission__", "__builtins__": builtins,
                                 "get_ipython": _FakeIPython}
    for cell in header["cells"]:
        send(sock, {"op": "cell", "id": cell["id"]})
        error, output = run_cell(cell["source"], namespace, cell["id"])
        send(sock, {"op": "cell-done", "id": cell["id"], "error": error, "output": output})
    ban_helpers()
    names = {}
    for name in header["names"]:
        names[name] = _answer_value(namespace[name]) if name in namespace else {"missing": True}
    send(sock, {"op": "loaded", "names": names})
    mirror = Mirror(-1)
    sink = _Sink(0)
    while True:
        try:
            request, blobs = recv(sock)
        except ProtocolError:
            return
        if request["op"] == "reset":
            mirror.reset()
            send(sock, {"op": "ok"})
            continue
        # op == "call": objects and arguments first, then the checker's state, then the call itself
        new, args, kwargs = _Unpickler(bytes(blobs[request["payload"]]), mirror).load()
        for h, obj in new:
            mirror.register(obj, h)
        for _, obj in new:
            mirror.remember_values(obj)
        for h in request["roots"]:
            mirror.roots[h] = None
        mirror.apply_known(request["state"], blobs)
        torch.set_rng_state(get_tensor(request["rng"], blobs).clone())
        fn = namespace.get(request["name"]) if request["name"] else mirror.objs.get(request["fn"])
        reply: dict[str, Any] = {"op": "result"}
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                value = fn(*args, **kwargs)
            reply["value"] = encode(value, mirror)
        except BaseException as exc:  # noqa: BLE001 - the checker decides what an exception means
            kind = type(exc)
            reply["error"] = {"type": type_name(exc), "message": _message(exc)[:5000],
                              "builtin": kind.__module__ == "builtins" and getattr(builtins, kind.__name__,
                                                                                     None) is kind}
        out: list[bytes] = []
        try:
            reply["state"], out = mirror.snapshot()
            if "value" in reply:
                reply["value"] = _tensors_to_blobs(reply["value"], out)
        except Exception as exc:  # noqa: BLE001 - a model the student broke beyond reading
            reply = {"op": "result", "unreadable": f"{type_name(exc)}: {_message(exc)}"[:500]}
            out = []
        reply["rng"] = put_tensor(torch.get_rng_state(), out)
        send(sock, reply, out)
