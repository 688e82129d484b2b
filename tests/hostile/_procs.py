"""Processes of the host, read from /proc: a tree of descendants, command lines holding a token."""

from __future__ import annotations

from pathlib import Path


def tree(pid: int) -> set[int]:
    """Pids of `pid` and all its descendants, read from the host's /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        try:
            parents[int(entry.name)] = int((entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[1])
        except (ValueError, OSError, IndexError):
            continue
    found, frontier = {pid}, {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def host_cmdlines(token: str) -> list[int]:
    """Host pids whose command line contains `token`."""
    hits = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and token.encode() in (entry / "cmdline").read_bytes():
                hits.append(int(entry.name))
        except OSError:
            continue
    return hits
