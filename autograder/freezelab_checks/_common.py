"""Shared machinery for the hidden checks: clean failures, random architectures, banned helpers.

A check raises `CheckFailed` with a message for the learner. The `hidden_check` decorator turns any other
error into a `CheckFailed` too and re-raises it from a single short frame, so that the traceback in nbgrader's
feedback shows the learner's message and not the body of the check.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import sys
import types
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from torch import nn

from freezelab.grading.executor import RefuseOnImport, is_helper_module, refuse_in


class CheckFailed(AssertionError):
    """A hidden check failed; the message says what went wrong."""


# module name -> graded name -> list of checks (in definition order); read by build_sources and the pytest route
REGISTRY: dict[str, dict[str, list[Callable[[Any], None]]]] = {}

# Graded answers must be written with plain PyTorch, not by calling the course package's own helpers: the
# data, the backbones, the device helper, the training loop and the paths they read stay allowed, every other
# freezelab module is refused, whether the learner imported it before the check or imports it inside the answer
# while the check runs. One rule, written once (ALLOWED_MODULES in freezelab.grading.executor, which applies it
# inside the sandbox under `freezelab grade`).


def expect(condition: object, message: str) -> None:
    """Fail the check with `message` unless `condition` is true."""
    if not condition:
        raise CheckFailed(message)


def hidden_check(target: str, points: int = 1) -> Callable:
    """Register a check of the graded answer `target`; failures become one clean `CheckFailed`."""

    def decorate(check: Callable[[Any], None]) -> Callable[[Any], None]:
        # Compiled under a file name that does not exist, so a traceback shows no checking code.
        namespace = {"_run_quietly": _run_quietly, "check": check, "target": target,
                     "CheckFailed": CheckFailed}
        exec(compile(_RUNNER, "<hidden check>", "exec"), namespace)
        run = functools.wraps(check)(namespace["run"])
        run.target = target
        run.points = points
        REGISTRY.setdefault(check.__module__, {}).setdefault(target, []).append(run)
        return run

    return decorate


_RUNNER = """
def run(answer):
    __tracebackhide__ = True
    message = _run_quietly(check, answer, target)
    if message is not None:
        raise CheckFailed(message) from None
"""


def _run_quietly(check: Callable[[Any], None], answer: Any, target: str) -> str | None:
    __tracebackhide__ = True  # noqa: F841
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small models: one thread is fastest and keeps a grading machine responsive
    try:
        # stderr is swallowed: nbgrader scores a test cell with any stderr (a warning, a tqdm bar) as 0.
        with banned_helpers(), torch.random.fork_rng(), contextlib.redirect_stderr(io.StringIO()):
            torch.manual_seed(0)
            check(answer)
    except AssertionError as exc:  # CheckFailed, or the grader's own report that the answer was stopped
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - anything else is reported as a failure, never a crash
        return f"{target} could not be checked ({type(exc).__name__}: {exc})."
    finally:
        torch.set_num_threads(threads)
    return None


def call(fn: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """Call the learner's function; turn its exceptions into a readable `CheckFailed`."""
    if not callable(fn):
        raise CheckFailed(f"{name} should be a function, but it is a {type(fn).__name__}.")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise CheckFailed(f"{name} is not implemented yet: replace `raise NotImplementedError()` "
                          "with your code.") from None
    except AssertionError:  # CheckFailed, or the grader's report that the answer was stopped
        raise
    except Exception as exc:  # noqa: BLE001
        raise CheckFailed(f"{name}(...) raised {type(exc).__name__}: {exc}") from None


@contextmanager
def banned_helpers() -> Iterator[None]:
    """While active, the functions of every helper module raise instead of doing the learner's work."""
    swapped: list[tuple[types.FunctionType, types.CodeType]] = []
    for name in [n for n in list(sys.modules) if is_helper_module(n)]:
        swapped += refuse_in(sys.modules[name])
    finder = RefuseOnImport(lambda module: swapped.extend(refuse_in(module)))
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        for function, code in swapped:
            function.__code__ = code


# ---------------------------------------------------------------------------------------------------------
# Hypothesis settings and random architectures
# ---------------------------------------------------------------------------------------------------------

def examples(n: int = 10) -> settings:
    """Deterministic, quick hypothesis settings for grading (no database, no deadline, no shrinking)."""
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
                    print_blob=False)


def for_all(strategy: st.SearchStrategy, body: Callable[[Any], None], n: int = 10) -> None:
    """Run `body` on `n` examples drawn from `strategy`; the first CheckFailed is re-raised as is."""
    failures: list[AssertionError] = []

    @examples(n)
    @given(strategy)
    def run(example: Any) -> None:
        try:
            body(example)
        except AssertionError as exc:
            failures.append(exc)
            raise

    try:
        run()
    except AssertionError:
        raise CheckFailed(str(failures[0])) from None


LEAF_KINDS = ("linear", "linear_nobias", "bn", "relu", "dropout")


@dataclass(frozen=True)
class NetSpec:
    """A random architecture: width, a list of layer kinds (a tuple is a nested block), tied weights or not."""

    width: int
    layers: tuple
    tie: bool
    seed: int


def _layers(depth: int) -> st.SearchStrategy:
    leaf = st.sampled_from(LEAF_KINDS)
    if depth == 0:
        return leaf
    block = st.lists(_layers(depth - 1), min_size=1, max_size=3).map(tuple)
    return st.one_of(leaf, leaf, block)


def net_specs(min_linear: int = 1) -> st.SearchStrategy:
    """Random small MLP-like architectures with nested blocks, BatchNorm, dropout and optional tied weights."""
    spec = st.builds(NetSpec, width=st.integers(2, 6),
                     layers=st.lists(_layers(2), min_size=1, max_size=5).map(tuple),
                     tie=st.booleans(), seed=st.integers(0, 2**16))
    return spec.filter(lambda s: _count_linear(s.layers) >= min_linear)


def _count_linear(layers: tuple) -> int:
    return sum(_count_linear(k) if isinstance(k, tuple) else k.startswith("linear") for k in layers)


def build(spec: NetSpec) -> nn.Sequential:
    """The model described by `spec` (deterministic weights); input shape (batch, spec.width)."""
    torch.manual_seed(spec.seed)
    model = _block(spec.layers, spec.width)
    if spec.tie:
        first = next((m for m in model.modules() if isinstance(m, nn.Linear)), None)
        if first is not None:
            tied = nn.Linear(spec.width, spec.width)
            tied.weight = first.weight  # the same Parameter object in two layers
            model.add_module("tied", tied)
    return model


def _block(layers: tuple, width: int) -> nn.Sequential:
    children: OrderedDict[str, nn.Module] = OrderedDict()
    for i, kind in enumerate(layers):
        if isinstance(kind, tuple):
            children[f"block{i}"] = _block(kind, width)
        elif kind == "linear":
            children[f"linear{i}"] = nn.Linear(width, width)
        elif kind == "linear_nobias":
            children[f"proj{i}"] = nn.Linear(width, width, bias=False)
        elif kind == "bn":
            children[f"bn{i}"] = nn.BatchNorm1d(width)
        elif kind == "relu":
            children[f"relu{i}"] = nn.ReLU()
        else:
            children[f"dropout{i}"] = nn.Dropout(0.5)
    return nn.Sequential(children)


def describe(model: nn.Module) -> str:
    """A one-line description of a model for failure messages."""
    parts = []
    for name, module in model.named_modules():
        if name and not list(module.children()):
            parts.append(f"{name}: {type(module).__name__}")
    tied = " (tied.weight is linear's weight)" if hasattr(model, "tied") else ""
    return "[" + ", ".join(parts) + "]" + tied


def unique_params(model: nn.Module) -> list[nn.Parameter]:
    """Each parameter tensor once, in model order."""
    seen: dict[int, nn.Parameter] = {}
    for _, module in model.named_modules(remove_duplicate=False):
        for param in module.parameters(recurse=False):
            seen.setdefault(id(param), param)
    return list(seen.values())


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of every parameter and buffer, by name."""
    return {name: t.detach().cpu().clone() for name, t in model.state_dict(keep_vars=True).items()}


def changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> set[str]:
    """Names whose tensors are not bit-identical between two snapshots."""
    return {name for name, t in before.items() if name not in after or not torch.equal(t, after[name])}


def sgd_step(model: nn.Module, x: torch.Tensor, momentum: float = 0.9, weight_decay: float = 0.01) -> set[str]:
    """One SGD step on all trainable parameters with a dummy loss; return the names of what moved."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    before = snapshot(model)
    if trainable:
        optimizer = torch.optim.SGD(trainable, lr=0.1, momentum=momentum, weight_decay=weight_decay)
        optimizer.zero_grad(set_to_none=True)
        model(x).pow(2).mean().backward()
        optimizer.step()
    return {n for n in changed(before, snapshot(model)) if n in dict(model.named_parameters())}


def names_of(model: nn.Module, params: list[nn.Parameter]) -> list[str]:
    """Names of the given parameter tensors in `model` (for messages)."""
    wanted = {id(p) for p in params}
    return [name for name, p in model.named_parameters() if id(p) in wanted]


def short(items: list[str] | set[str], limit: int = 4) -> str:
    """A short list for a message: 'a, b, c and 5 more'."""
    items = sorted(items) if isinstance(items, set) else list(items)
    head = ", ".join(items[:limit])
    return head + (f" and {len(items) - limit} more" if len(items) > limit else "")


# ---------------------------------------------------------------------------------------------------------
# Multiple choice: the key and the hint of each question are declared once, in the assignment's spec.py
# ---------------------------------------------------------------------------------------------------------

def multiple_choice_checks(module: str, assignment: str) -> list[Callable[[Any], None]]:
    """One hidden check per multiple-choice question of `assignment`, registered under checks module `module`.

    Each is named `check_<grade_id in lower case>` (the name hidden test cells import), in question order.
    """
    # autograder/ is on the path wherever these checks are imported (hidden cells, checker, tests).
    from assignments import multiple_choice

    checks = []
    for question in multiple_choice(assignment).values():
        def check(answer: Any, question: Any = question) -> None:  # bound now, not at the loop's end
            name = question.name
            expect(isinstance(answer, str) and answer.strip().lower() in ("a", "b", "c", "d"),
                   f"{name} should be one of the letters 'a', 'b', 'c' or 'd', not {answer!r}.")
            expect(answer.strip().lower() == question.key, f"{name} = {answer!r} is not right. {question.hint}")

        check.__name__ = check.__qualname__ = f"check_{question.name.lower()}"
        check.__module__ = module  # the registry and the hidden cells know a check by its module
        check.__doc__ = f"{question.name}: the multiple-choice answer (key and hint in {assignment}/spec.py)."
        checks.append(hidden_check(question.name)(check))
    return checks


def module_for_checks(name: str) -> dict[str, list[Callable[[Any], None]]]:
    """The checks registered by assignment module `name` (imported on demand)."""
    importlib.import_module(name)
    return REGISTRY.get(name, {})


__all__ = ["CheckFailed", "REGISTRY", "banned_helpers", "build", "call", "changed", "describe", "expect",
           "for_all", "hidden_check", "multiple_choice_checks", "names_of", "net_specs", "sgd_step", "short",
           "snapshot", "unique_params"]
