"""`freezelab doctor`: check the set-up and say how to fix what is wrong.

One line per check, OK or PROBLEM (with the fix); exit status 0 when everything is healthy, 1 otherwise.
`--json` prints the same checks for machines. Every check catches its own errors, so one broken piece
never hides the others.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

REINSTALL = "run `make venv` (or `pip install -e '.[dev]'` inside the project's environment)"
WIDGETS_EXT = "@jupyter-widgets/jupyterlab-manager"
NBGRADER_EXT = "@jupyter/nbgrader"


@dataclass
class Check:
    """The result of one check: OK or not, what was found, and the fix when it is a problem."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    optional: bool = False  # only some users need it: when missing it is a NOTE and the set-up stays healthy

    @property
    def problem(self) -> bool:
        """Missing and needed by everyone."""
        return not self.ok and not self.optional

    def line(self) -> str:
        """One printable line: status, name, finding, and the fix for a problem."""
        status = "OK" if self.ok else "NOTE" if self.optional else "PROBLEM"
        text = f"{status:<8} {self.name:<20} {self.detail}"
        return text if self.ok else f"{text} -> fix: {self.fix}"


def check_python() -> Check:
    """Python 3.10 or newer."""
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info >= (3, 10)
    return Check("python", ok, f"{version} ({sys.executable})", "" if ok else "use Python 3.10 or newer")


def check_package(dist: str) -> Check:
    """An installed distribution and its version."""
    try:
        return Check(dist, True, metadata.version(dist))
    except metadata.PackageNotFoundError:
        return Check(dist, False, "not installed", REINSTALL)


def check_torchvision(importer: Callable[[str], object] = importlib.import_module) -> Check:
    """torchvision imports and matches torch (the classic failure is a missing `torchvision::nms`)."""
    try:
        module = importer("torchvision")
    except Exception as exc:  # noqa: BLE001 - any import failure is a finding, not a crash
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "torchvision::nms" in message:
            return Check("torchvision", False, f"import fails: {message}",
                         "torch and torchvision come from different builds (e.g. CPU-only torch with a CUDA "
                         "torchvision); reinstall both from the same index in one command: "
                         "`pip install --force-reinstall torch torchvision`")
        return Check("torchvision", False, f"import fails: {message}", REINSTALL)
    return Check("torchvision", True, str(getattr(module, "__version__", "?")))


def check_device() -> Check:
    """The device lessons will use (CUDA, MPS or CPU; $FREEZELAB_DEVICE can force one)."""
    from .device import describe_device, pick_device

    try:
        return Check("device", True, describe_device(pick_device()))
    except (ValueError, RuntimeError) as exc:
        return Check("device", False, str(exc).partition(": ")[0], "unset FREEZELAB_DEVICE or set it to cpu")


def check_checkpoint() -> Check:
    """The shipped pretrained backbone loads and runs one forward pass."""
    import torch

    from .backbones import CheckpointError, default_checkpoint_path, load_pretrained

    try:
        model = load_pretrained().eval()
        with torch.no_grad():
            model(torch.zeros(1, 1, 16, 16))
    except CheckpointError as exc:
        detail, _, fix = str(exc).partition(": ")
        return Check("checkpoint", False, detail, fix or "run `python -m freezelab.pretrain`")
    return Check("checkpoint", True, f"{default_checkpoint_path()} loads")


def _same_environment(executable: str) -> bool:
    # Compare the unresolved paths: a venv's python is a symlink to the system one.
    here, there = Path(os.path.abspath(sys.executable)), Path(os.path.abspath(executable))
    return here == there or (here.parent == there.parent and there.name.startswith("python"))


def check_kernel(manager=None, name: str = "python3") -> Check:
    """The Jupyter kernel the notebooks name runs this environment's Python."""
    fix = (f"`{sys.executable} -m ipykernel install --sys-prefix --name {name} "
           "--display-name 'Python 3 (freezelab)'`")
    try:
        if manager is None:
            from jupyter_client.kernelspec import KernelSpecManager

            manager = KernelSpecManager()
        spec = manager.get_kernel_spec(name)
    except Exception as exc:  # noqa: BLE001 - NoSuchKernel, or jupyter_client missing
        return Check("jupyter kernel", False, f"no kernel named {name!r} ({type(exc).__name__})", fix)
    executable = spec.argv[0] if spec.argv else ""
    if not _same_environment(executable):
        return Check("jupyter kernel", False, f"{name!r} runs {executable}, not this environment", fix)
    return Check("jupyter kernel", True, f"{name!r} -> {executable}")


def _lab_extensions() -> tuple[dict, set[str]]:
    """Installed federated JupyterLab extensions and the names disabled in the page config."""
    from jupyter_core.paths import jupyter_path
    from jupyterlab.commands import get_app_dir
    from jupyterlab_server.config import get_federated_extensions, get_page_config

    paths = jupyter_path("labextensions")
    page = get_page_config(paths, os.path.join(get_app_dir(), "settings"))
    disabled = page.get("disabledExtensions", {})
    disabled = {k for k, v in disabled.items() if v} if isinstance(disabled, dict) else set(disabled)
    return get_federated_extensions(paths), disabled


def check_lab_extension(package: str, installer: str) -> Check:
    """A JupyterLab (federated) extension is installed and not disabled."""
    label = "widgets extension" if package == WIDGETS_EXT else "nbgrader extension"
    try:
        installed, disabled = _lab_extensions()
    except Exception as exc:  # noqa: BLE001
        return Check(label, False, f"cannot list JupyterLab extensions ({type(exc).__name__})", REINSTALL)
    if package not in installed:
        return Check(label, False, f"{package} not installed", f"`pip install {installer}` ({REINSTALL})")
    if any(package == d or package.startswith(d.rstrip(":") + ":") for d in disabled):
        return Check(label, False, f"{package} is disabled", f"`jupyter labextension enable {package}`")
    return Check(label, True, f"{package} {installed[package].get('version', '')} enabled".replace("  ", " "))


def check_nbgrader_server() -> Check:
    """nbgrader's Jupyter server extensions (formgrader etc.) are enabled."""
    fix = "`jupyter server extension enable --sys-prefix --py nbgrader`"
    try:
        from jupyter_core.paths import jupyter_config_path
        from jupyter_server.extension.config import ExtensionConfigManager

        enabled = ExtensionConfigManager(read_config_path=jupyter_config_path()).get_jpserver_extensions()
    except Exception as exc:  # noqa: BLE001
        return Check("nbgrader server", False, f"cannot read server config ({type(exc).__name__})", REINSTALL)
    ours = {k: v for k, v in enabled.items() if k.split(".")[0] == "nbgrader"}
    if not ours or not all(ours.values()):
        off = sorted(k for k, v in ours.items() if not v) or ["nbgrader"]
        return Check("nbgrader server", False, f"not enabled: {', '.join(off)}", fix)
    return Check("nbgrader server", True, f"{len(ours)} extensions enabled")


def check_isolation(probe: Callable[[], tuple[bool, str, str]] | None = None) -> Check:
    """Whether `freezelab grade` can sandbox each submission (bubblewrap); only instructors who grade need it."""
    try:
        if probe is None:
            from .grading.sandbox import isolation_check as probe
        ok, detail, fix = probe()
    except Exception as exc:  # noqa: BLE001 - a broken probe is a finding, not a crash
        ok, detail, fix = False, f"cannot probe ({type(exc).__name__}: {exc})", REINSTALL
    if not ok:
        fix += "; without it `freezelab grade` needs --no-sandbox and trusts the student's code"
    return Check("grading sandbox", ok, detail, fix, optional=True)


CGROUP_FIX = ("grade as root, or inside a delegated cgroup v2 subtree (for example `systemd-run --user --scope -p "
              "Delegate=yes freezelab grade ...`); until then each process of a submission gets the memory limit")


def check_grading_limits(probe: Callable[[], tuple[str, str]] | None = None,
                         seccomp: Callable[[], str] | None = None) -> Check:
    """How a submission's whole process tree is capped (cgroup v2, cgroup v1 or rlimits only), and seccomp."""
    try:
        if probe is None or seccomp is None:
            from .grading.sandbox import seccomp_status, tree_limits
            probe, seccomp = probe or tree_limits, seccomp or seccomp_status
        kind, detail = probe()
        filtered = seccomp()
    except Exception as exc:  # noqa: BLE001 - a broken probe is a finding, not a crash
        return Check("grading limits", False, f"cannot probe ({type(exc).__name__}: {exc})", REINSTALL, True)
    ok = kind != "rlimits" and not filtered.startswith("seccomp off")
    fixes = [CGROUP_FIX] if kind == "rlimits" else []
    if filtered.startswith("seccomp off"):
        fixes.append("the system call filter is built for x86_64 and aarch64 only; see docs/security.md")
    return Check("grading limits", ok, f"{detail}; {filtered}", "; ".join(fixes), optional=True)


def run_checks() -> list[Check]:
    """Every check, in the order they are printed."""
    checks = [check_python()]
    checks += [check_package(d) for d in ("torch",)]
    checks.append(check_torchvision())
    checks += [check_package(d) for d in ("jupyterlab", "nbgrader", "ipywidgets")]
    checks += [check_device(), check_checkpoint(), check_kernel(),
               check_lab_extension(WIDGETS_EXT, "ipywidgets"), check_lab_extension(NBGRADER_EXT, "nbgrader"),
               check_nbgrader_server(), check_isolation(), check_grading_limits()]
    return checks


def main(argv: list[str] | None = None) -> int:
    """Print the checks (or JSON with --json); return 0 when healthy, 1 otherwise."""
    parser = argparse.ArgumentParser(prog="freezelab doctor", description="Check the freezelab set-up.")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    checks = run_checks()
    healthy = not any(c.problem for c in checks)
    if args.json:
        print(json.dumps({"healthy": healthy, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        print("\n".join(c.line() for c in checks))
        problems = sum(c.problem for c in checks)
        print("\nAll good." if healthy else f"\n{problems} problem(s): apply the fixes above, then run again.")
    return 0 if healthy else 1


if __name__ == "__main__":
    raise SystemExit(main())
