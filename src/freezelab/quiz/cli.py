"""`freezelab quiz ...`: export the bank, validate it, list what it holds."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from .bank import bank_dir, load_bank
from .export import FORMATS, export
from .progress import progress_path, replace_file, reset_progress
from .schema import BankError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="freezelab quiz", description="work with the question bank")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("export", help="write the whole bank as json, markdown or gift (Moodle)")
    p.add_argument("--format", choices=FORMATS, default="json")
    p.add_argument("-o", "--output", help="file to write (default: stdout); an existing file is kept "
                   "unless --force")
    p.add_argument("--force", action="store_true", help="replace an existing --output file")
    sub.add_parser("validate", help="load the bank, check the schema, print counts")
    sub.add_parser("reset", help="forget this learner's saved quiz progress")
    return parser


def write_output(path: Path, text: str, force: bool) -> str | None:
    """Write `text` to a new file at `path` (or replace a file with `force`); return an error or None."""
    if path.is_dir():
        return f"{path} is a folder; give a file name, e.g. -o {path / 'bank.json'}."
    if path.exists() and path.resolve().is_relative_to(bank_dir().resolve()):
        return f"{path} is part of the question bank; export somewhere else."
    if not (force and path.exists()):
        try:  # "x" creates the file or fails: an existing file is never opened for writing
            out = open(path, "x", encoding="utf-8")
        except FileExistsError:
            return f"{path} already exists; pass --force to replace it, or choose another -o FILE."
        with out:
            out.write(text)
        return None
    replace_file(path, text)  # atomically, keeping the old file's permissions
    return None


def main(argv: list[str]) -> int:
    """Entry point for `freezelab quiz`."""
    args = _parser().parse_args(argv)
    try:
        items = load_bank() if args.command != "reset" else []
    except BankError as exc:
        print(f"freezelab quiz: {exc}", file=sys.stderr)
        return 1
    if args.command == "export":
        text = export(items, args.format)
        if args.output:
            try:
                error = write_output(Path(args.output), text, args.force)
            except OSError as exc:
                error = f"cannot write {args.output}: {exc.strerror}; choose a writable path."
            if error:
                print(f"freezelab quiz: {error}", file=sys.stderr)
                return 1
            print(f"wrote {len(items)} items to {args.output} ({args.format})", file=sys.stderr)
        else:
            sys.stdout.write(text)
    elif args.command == "validate":
        print(f"{len(items)} items OK")
        for field in ("topic", "type", "difficulty"):
            counts = Counter(item[field] for item in items)
            print(f"  {field}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    elif args.command == "reset":
        reset_progress()
        print(f"quiz progress reset ({progress_path()})")
    return 0
