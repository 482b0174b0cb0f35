"""Writes charts/swarm-operator/README.md from values.yaml: every value with the `# --` comment above
it (helm-docs style: the chart's README is generated, never edited by hand). `--check` exits 1 when
the README is out of date (the packaging tests run it)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parent.parent / "charts" / "swarm-operator"
KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_]+):(?P<rest>.*)$")

HEADER = """# swarm-operator Helm chart

The Kubernetes operator that starts Hyperswarm/Autobase topics in the right order (a bootstrap
host first, its base key recorded, then the clients). Install, RBAC, upgrades and the CRD:
[docs/install.md](../../docs/install.md); operating it: [docs/operations.md](../../docs/operations.md).

```sh
helm install swarm-operator oci://ghcr.io/swarm-operator/charts/swarm-operator --version <version> \\
  -n swarm-operator --create-namespace
```

A released chart pins its images by digest; from a checkout, `charts/swarm-operator` installs the
tree's chart with images by tag. Releasing (`make release`): [docs/install.md](../../docs/install.md#releasing).

## Values

Generated from the comments in `values.yaml` by `scripts/chart_readme.py` (`make chart-readme`);
do not edit this table by hand.

| key | default | description |
|---|---|---|
"""


def comments(lines: list[str]) -> dict[str, str]:
    """Dotted key -> the `# --` comment above it (with its continuation lines)."""
    out: dict[str, str] = {}
    path: list[tuple[int, str]] = []
    pending: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = [stripped[4:].strip()]
            continue
        if stripped.startswith("#") and pending:
            pending.append(stripped[1:].strip())
            continue
        match = KEY.match(line)
        if not match:
            pending = []
            continue
        indent = len(match["indent"])
        path = [(i, k) for i, k in path if i < indent] + [(indent, match["key"])]
        if pending:
            out[".".join(k for _, k in path)] = " ".join(pending)
        pending = []
    return out


def keys(values: Any, prefix: str = "") -> list[tuple[str, Any, bool]]:
    """(dotted key, value, is a section) in file order: a section (a map of values) comes before
    its keys."""
    out: list[tuple[str, Any, bool]] = []
    for key, value in values.items():
        if isinstance(value, dict) and value:
            out.append((f"{prefix}{key}", None, True))
            out += keys(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value, False))
    return out


def render() -> str:
    text = (CHART / "values.yaml").read_text()
    described = comments(text.splitlines())
    rows = []
    for key, value, section in keys(yaml.safe_load(text)):
        default = "" if section else "`" + json.dumps(value).replace("|", "\\|") + "`"
        rows.append(f"| `{key}` | {default} | {described.get(key, '')} |")
    return HEADER + "\n".join(rows) + "\n"


def main(argv: list[str]) -> int:
    readme = CHART / "README.md"
    if "--check" in argv:
        if not readme.exists() or readme.read_text() != render():
            print(f"{readme} is out of date: run `make chart-readme`", file=sys.stderr)
            return 1
        return 0
    readme.write_text(render())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
