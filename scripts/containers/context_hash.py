#!/usr/bin/env python3
"""The cache key of an image build: a SHA-256 over what the build reads.

Usage: context_hash.py [--extra TEXT]... [--ignorefile FILE] PATH...
Each PATH is a file or a directory; a directory is walked as a container engine sends it as a
build context: the files its `.dockerignore` (or FILE, as `podman build --ignorefile`) lets
through (last matching pattern wins, `!` re-includes, `**` spans directories, a pattern that
matches a directory covers everything below it). Each file counts with its path, executable bit
and content, a symbolic link with its target. --extra adds a string (a base image's ID, a build
argument) to the key. Prints the hex digest.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            if pattern.startswith("/", i):  # `**/x` also matches `x`
                out[-1] = "(?:.*/)?"
                i += 1
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i + 1)
            out.append(pattern[i:end + 1] if end > 0 else re.escape(pattern[i]))
            i = end + 1 if end > 0 else i + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


Rules = list[tuple[bool, re.Pattern[str], str]]


def read_ignore(path: Path) -> Rules:
    """(negated, regex, literal prefix) per line of an ignore file, in order."""
    rules: Rules = []
    if path.is_file():
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            clean = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
            rules.append((negated, _pattern_regex(clean), re.split(r"[*?\[]", clean, maxsplit=1)[0]))
    return rules


def excluded(rel: str, rules: Rules) -> bool:
    parts = rel.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    result = False
    for negated, regex, _ in rules:
        if any(regex.match(prefix) for prefix in prefixes):
            result = not negated
    return result


def prunable(rel: str, rules: Rules) -> bool:
    """An excluded directory that no `!` rule can reach into: not walked at all."""
    if not excluded(rel, rules):
        return False
    below = rel + "/"
    return not any(negated and (literal.startswith(below) or below.startswith(literal) or literal == rel)
                   for negated, _, literal in rules)


def context_files(root: Path, ignorefile: Path | None = None) -> Iterator[tuple[str, Path]]:
    rules = read_ignore(ignorefile or root / ".dockerignore")
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames
                             if not prunable((base / d).relative_to(root).as_posix(), rules))
        for name in sorted(filenames) + [d for d in dirnames if (base / d).is_symlink()]:
            rel = (base / name).relative_to(root).as_posix()
            if not excluded(rel, rules):
                yield rel, base / name


def digest(paths: list[Path], extras: list[str], ignorefile: Path | None = None) -> str:
    total = hashlib.sha256()
    for extra in extras:
        total.update(b"extra\0" + extra.encode() + b"\0")
    for top in paths:  # by position: the same content hashes alike wherever it is checked out
        entries = context_files(top, ignorefile) if top.is_dir() else iter([(top.name, top)])
        total.update(b"root\0")
        for rel, path in entries:
            if path.is_symlink():
                total.update(b"link\0" + rel.encode() + b"\0" + os.readlink(path).encode() + b"\0")
                continue
            content = hashlib.sha256()
            with path.open("rb") as handle:
                for chunk in iter(lambda h=handle: h.read(1 << 20), b""):
                    content.update(chunk)
            mode = "x" if os.access(path, os.X_OK) else "-"
            total.update(f"file\0{rel}\0{mode}\0{content.hexdigest()}\0".encode())
    return total.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", action="append", default=[], help="a string added to the key")
    parser.add_argument("--ignorefile", type=Path, help="the ignore file of the directories instead of their own")
    parser.add_argument("paths", nargs="+", type=Path)
    args = parser.parse_args(argv)
    missing = [str(p) for p in [*args.paths, *([args.ignorefile] if args.ignorefile else [])] if not p.exists()]
    if missing:
        print(f"context_hash: no such path: {', '.join(missing)}", file=sys.stderr)
        return 2
    print(digest(args.paths, args.extra, args.ignorefile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
