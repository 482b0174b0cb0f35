"""Points a staged copy of the chart's values.yaml at the released images: `image` and `peerImage`
get the registry's repositories and the digests just pushed (their tag stays empty = the
appVersion `helm package` stamps). Only those lines change; every comment stays, so the packaged
values.yaml still documents itself. scripts/release.sh runs it.

    python3 scripts/release_values.py VALUES_FILE --image REPO@DIGEST --peer-image REPO@DIGEST
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def pin(lines: list[str], block: str, repository: str, digest: str) -> list[str]:
    """Set `repository`, `tag` ("") and `digest` of the top-level `block:` mapping."""
    out, inside, done = [], False, set()
    for line in lines:
        if re.match(r"^\S", line):  # a top-level key (or comment) starts or ends the block
            inside = line.startswith(f"{block}:")
        key = re.match(r"^  (repository|tag|digest):", line) if inside else None
        if key:
            value = {"repository": repository, "tag": '""', "digest": digest}[key.group(1)]
            line = f"  {key.group(1)}: {value}"
            done.add(key.group(1))
        out.append(line)
    if done != {"repository", "tag", "digest"}:
        raise SystemExit(f"release_values: {block} lacks {sorted({'repository', 'tag', 'digest'} - done)}")
    return out


def split(ref: str) -> tuple[str, str]:
    repository, _, digest = ref.partition("@")
    if not repository or not DIGEST.match(digest):
        raise SystemExit(f"release_values: {ref!r} is not REPOSITORY@sha256:<64 hex>")
    return repository, digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("values", type=Path)
    parser.add_argument("--image", required=True, help="the operator image, REPOSITORY@DIGEST")
    parser.add_argument("--peer-image", required=True, help="the swarm-peer image, REPOSITORY@DIGEST")
    args = parser.parse_args(argv)
    lines = args.values.read_text().splitlines()
    for block, ref in (("image", args.image), ("peerImage", args.peer_image)):
        lines = pin(lines, block, *split(ref))
    text = "\n".join(lines) + "\n"
    values = yaml.safe_load(text)  # what helm will read: check it says what we meant
    for block, ref in (("image", args.image), ("peerImage", args.peer_image)):
        repository, digest = split(ref)
        got = values[block]
        if (got["repository"], got["tag"], got["digest"]) != (repository, "", digest):
            raise SystemExit(f"release_values: {block} reads back as {got}")
    args.values.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
