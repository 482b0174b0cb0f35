"""One version in the whole tree (0.2.0 on this line; 0.1.0 is released, tagged v0.1.0): the chart's
version and appVersion, pyproject.toml, swarm_operator.__version__, the package.json files and the
examples' image tags, as scripts/versions.py reads them (the release workflow's check of a tag)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from packaging_support import CHART, REPO
from swarm_operator import __version__
from swarm_operator.config import DEFAULT_PEER_IMAGE

SCRIPT = REPO / "scripts" / "versions.py"


def versions_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("versions", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_place_names_the_version_of_this_line() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["version"] == chart["appVersion"] == __version__ == "0.2.0"
    assert DEFAULT_PEER_IMAGE == "ghcr.io/swarm-operator/swarm-peer:0.2.0"
    found = dict(versions_module().places())
    assert len(found) >= 20 and set(found.values()) == {"0.2.0"}, {k: v for k, v in found.items() if v != "0.2.0"}
    # The examples users copy run the images of this version.
    assert any(k.startswith("examples/topic.yaml:") for k in found) and any(
        k.startswith("examples/dht.yaml:") for k in found) and any("autokv" in k for k in found)
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check", "0.2.0"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    wrong_tag = subprocess.run([sys.executable, str(SCRIPT), "--check", "0.2.1"], capture_output=True, text=True,
                               timeout=60)
    assert wrong_tag.returncode == 1 and "Chart.yaml (chart appVersion): 0.2.0 (expected 0.2.1)" in wrong_tag.stderr


@pytest.mark.parametrize(("path", "old", "new"), [
    ("examples/topic.yaml", "swarm-peer:0.2.0", "swarm-peer:0.1.0"),
    ("charts/swarm-operator/Chart.yaml", "\nversion: 0.2.0", "\nversion: 0.1.0"),
    ("images/swarm-peer/package.json", '"version": "0.2.0"', '"version": "0.1.0"'),
    ("examples/kv-app/package.json", '"@swarm-operator/member": "^0.2.0"', '"@swarm-operator/member": "^0.1.0"'),
    ("operator/swarm_operator/__init__.py", '"0.2.0"', '"0.1.0"'),
])
def test_a_place_left_behind_fails_the_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str, old: str,
                                             new: str) -> None:
    versions = versions_module()
    copy = tmp_path / "tree"
    for pattern in ["charts/swarm-operator/Chart.yaml", "pyproject.toml", "operator/swarm_operator/__init__.py",
                    "images/swarm-peer/package*.json", "images/swarm-peer/program/package*.json",
                    "examples/kv-app/package*.json", *versions.TAGGED]:
        for source in REPO.glob(pattern):
            if "node_modules" not in source.parts:
                (copy / source.relative_to(REPO)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source, copy / source.relative_to(REPO))
    monkeypatch.setattr(versions, "REPO", copy)
    assert versions.main(["--check"]) == 0
    target = copy / path
    assert old in target.read_text()
    target.write_text(target.read_text().replace(old, new, 1))
    assert versions.main(["--check"]) == 1
    assert versions.main(["--check", "0.2.0"]) == 1
