"""The version the tree carries, in every place that names it, and a check that they all agree.

    python3 scripts/versions.py                 # print each place and the version it names
    python3 scripts/versions.py --check         # exit 1 unless every place names the same version
    python3 scripts/versions.py --check 1.2.3   # ... and that version is 1.2.3 (the release workflow)

The places: the chart's version and appVersion, the Python package's version (pyproject.toml) and
`swarm_operator.__version__`, the member library's and the reference peer's package.json and lock
files, the example app's package.json and the library version it asks for,
and every image tag of the project's images in the examples, the README and docs/ and the CRD's
example. Standard library
only (the release workflow runs it before any set-up).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The project's own images, as the examples and docs name them.
IMAGE_TAG = re.compile(r"(?:ghcr\.io/swarm-operator/swarm-(?:peer|operator)|localhost/autokv):([0-9][0-9A-Za-z.+-]*)")
LINES = [
    ("charts/swarm-operator/Chart.yaml", re.compile(r"^version: *\"?([^\"\s]+)\"?\s*$", re.M), "chart version"),
    ("charts/swarm-operator/Chart.yaml", re.compile(r"^appVersion: *\"?([^\"\s]+)\"?\s*$", re.M), "chart appVersion"),
    ("pyproject.toml", re.compile(r"^version = \"([^\"]+)\"$", re.M), "Python package"),
    ("operator/swarm_operator/__init__.py", re.compile(r"^__version__ = \"([^\"]+)\"$", re.M), "__version__"),
]
# Where image tags are read: what users copy (examples, README, docs) and the CRD's example.
TAGGED = ["examples/**/*.yaml", "examples/kv-app/Dockerfile", "README.md", "docs/*.md",
          "operator/swarm_operator/models.py", "crds/*.yaml", "scripts/build-images.sh"]


def places() -> Iterator[tuple[str, str]]:
    """(where, version) of every place that names the tree's version."""
    for path, pattern, what in LINES:
        found = pattern.findall((REPO / path).read_text())
        yield f"{path} ({what})", found[0] if len(found) == 1 else f"<{len(found)} matches>"
    for package in ("images/swarm-peer", "images/swarm-peer/program"):  # the library; the reference peer on it
        lock = json.loads((REPO / package / "package-lock.json").read_text())
        yield f"{package}/package.json", json.loads((REPO / package / "package.json").read_text())["version"]
        yield f"{package}/package-lock.json", lock["version"]
        for name, entry in lock["packages"].items():
            if name in ("", ".."):  # itself; the library, linked
                yield f"{package}/package-lock.json (packages[{name!r}])", entry["version"]
    app = json.loads((REPO / "examples/kv-app/package.json").read_text())  # no lock: it installs the library's pack
    yield "examples/kv-app/package.json", app["version"]
    member = app["dependencies"]["@swarm-operator/member"]
    yield "examples/kv-app/package.json (@swarm-operator/member)", member.lstrip("^~")
    for pattern in TAGGED:
        for path in sorted(REPO.glob(pattern)):
            if "node_modules" in path.parts:
                continue
            text = path.read_text()
            for match in IMAGE_TAG.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                yield f"{path.relative_to(REPO)}:{line} ({match.group(0)})", match.group(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", nargs="?", const="", default=None, metavar="VERSION",
                        help="exit 1 unless every place names the same version (and VERSION, when given)")
    args = parser.parse_args(argv)
    found = list(places())
    if args.check is None:
        for where, version in found:
            print(f"{version:<12} {where}")
        return 0
    versions = {version for _, version in found}
    want = args.check or (versions.pop() if len(versions) == 1 else None)
    wrong = [(where, version) for where, version in found if version != want]
    if want is None or wrong:
        expected = want or "one version"
        for where, version in wrong or found:
            print(f"{where}: {version} (expected {expected})", file=sys.stderr)
        return 1
    print(f"{len(found)} places name {want}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
