"""The `freezelab` command: one entry point, each subcommand implemented in its own module."""

from __future__ import annotations

import importlib
import sys

# subcommand -> ("module" or "module:function", one-line help). The function (default `main`) takes
# argv (list[str]) and returns the exit status.
COMMANDS: dict[str, tuple[str, str]] = {
    "lab": ("freezelab.lab:lab_main", "open the course in JupyterLab as a student sees it"),
    "doctor": ("freezelab.doctor", "check the set-up: versions, device, Jupyter kernel and extensions"),
    "quiz": ("freezelab.quiz.cli", "work with the question bank (e.g. `freezelab quiz export --format gift`)"),
    "release": ("freezelab.grading.release", "instructor: generate assignments and build the student bundle"),
    "grade": ("freezelab.grading.grade", "instructor: autograde a folder or zip of submissions"),
    "formgrader": ("freezelab.lab:formgrader_main", "instructor: open nbgrader's formgrader on the course"),
    "check": ("freezelab.grading.check", "student: run the public tests of an assignment notebook"),
    "pretrain": ("freezelab.pretrain", "re-train the course backbone checkpoint"),
}


def _usage() -> str:
    lines = ["usage: freezelab COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<11} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines.append("\nRun `freezelab COMMAND --help` for the options of one command.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a subcommand; unknown commands exit with status 2 and a one-line error."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        from . import __version__

        print(f"freezelab {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"freezelab: unknown command {name!r}; choose one of: {', '.join(COMMANDS)}.", file=sys.stderr)
        return 2
    module_name, _, function = COMMANDS[name][0].partition(":")
    entry = getattr(importlib.import_module(module_name), function or "main")
    return int(entry(rest) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
