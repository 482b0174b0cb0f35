"""The RBAC rules the operator needs, from the owned table (`owned.KINDS`: exactly the verbs it
uses on each kind), written into the chart, which grants them as they are:

    python -m swarm_operator.rbac            # write charts/swarm-operator/files/rbac/*.yaml
    python -m swarm_operator.rbac --check    # exit 1 when the chart's files differ from the table
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from . import owned

CHART_RULES = Path(__file__).resolve().parents[2] / "charts" / "swarm-operator" / "files" / "rbac"
HEADER = "# Generated from operator/swarm_operator/owned.py by `make crd` (python -m swarm_operator.rbac).\n"


def _rule(kind: owned.Kind) -> dict[str, list[str]]:
    return {"apiGroups": [kind.group], "resources": [kind.plural], "verbs": list(kind.verbs)}


def rbac_rules() -> list[dict[str, list[str]]]:
    """The rules in every watched namespace, one per kind, in the table's order."""
    return [_rule(k) for k in owned.KINDS if not k.operator_namespace]


def operator_rbac_rules() -> list[dict[str, list[str]]]:
    """The rules in the operator's own namespace (the leader Lease)."""
    return [_rule(k) for k in owned.KINDS if k.operator_namespace]


def files() -> dict[Path, str]:
    """The chart's rule files and their text."""
    def text(rules: list[dict[str, Any]]) -> str:
        return HEADER + yaml.safe_dump(rules, sort_keys=False, default_flow_style=None, width=120)

    return {CHART_RULES / "namespaced.yaml": text(rbac_rules()),
            CHART_RULES / "operator.yaml": text(operator_rbac_rules())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help=f"compare with {CHART_RULES}")
    args = parser.parse_args(argv)
    stale = [path for path, text in files().items() if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path} is out of date with owned.py: run `make crd`", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files()[path])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
