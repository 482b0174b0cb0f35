"""Shared helpers of the packaging tests: the real helm and promtool binaries installed by
`scripts/install-tools.sh` into .tools/bin (hadolint comes from the venv), and the chart rendered."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "swarm-operator"
TOOLS = REPO / ".tools" / "bin"
HERE = Path(__file__).resolve().parent
ALERTS = CHART / "files" / "alerts.yaml"
DASHBOARD = CHART / "files" / "dashboards" / "swarm-operator.json"


def tool(name: str) -> str:
    for local in (TOOLS / name, Path(sys.executable).parent / name):  # .tools/bin, then the venv
        if local.exists():
            return str(local)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: run `make setup`")
    return found


def run(*args: str, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=120, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def render(*values_files: Path, sets: Iterable[str] = (),
           set_json: Iterable[str] = ()) -> list[dict[str, Any]]:
    args = [tool("helm"), "template", "swarm", str(CHART), "--namespace", "swarm-operator"]
    for file in values_files:
        args += ["-f", str(file)]
    for item in sets:
        args += ["--set", item]
    for item in set_json:
        args += ["--set-json", item]
    return [doc for doc in yaml.safe_load_all(run(*args).stdout) if doc]


# -- The alerts ----------------------------------------------------------------------------------

def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


