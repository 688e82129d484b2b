"""`freezelab quiz ...`: export the bank, validate it, list what it holds."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from .bank import load_bank
from .export import FORMATS, export
from .progress import progress_path, reset_progress
from .schema import BankError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="freezelab quiz", description="work with the question bank")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("export", help="write the whole bank as json, markdown or gift (Moodle)")
    p.add_argument("--format", choices=FORMATS, default="json")
    p.add_argument("-o", "--output", help="file to write (default: stdout)")
    sub.add_parser("validate", help="load the bank, check the schema, print counts")
    sub.add_parser("reset", help="forget this learner's saved quiz progress")
    return parser


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
                Path(args.output).write_text(text, encoding="utf-8")
            except OSError as exc:
                print(f"freezelab quiz: cannot write {args.output}: {exc.strerror}; "
                      "choose a writable path.", file=sys.stderr)
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
