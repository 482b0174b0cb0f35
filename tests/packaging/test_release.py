"""`make release` end to end against a real OCI registry on the loopback (Debian's docker-registry):
scripts/release.sh pushes the images built before (`--skip-build`: only the image builder builds
the shared image tags) under the release's version, packages the chart with that version and the
images pinned by the digests the registry serves, pushes it with `helm push`, and prints it all.
Then helm reads the chart from the registry alone (`oci://`, a fresh helm home, no repository
path): what it would install is the released version with the released images, by digest.
The install on a node and a topic Ready are e2e/test_release_install.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from localcluster.registry import Registry
from localcluster.release import run_release
from packaging_support import REPO, tool

pytestmark = [
    pytest.mark.skipif(shutil.which("podman") is None,
                       reason="podman is not installed (scripts/setup-podman.sh installs it)"),
    pytest.mark.timeout(900),
]
VERSION = "9.8.7"
SOURCE_VERSION = yaml.safe_load((REPO / "charts" / "swarm-operator" / "Chart.yaml").read_text())["appVersion"]
PODMAN_ENV = {**os.environ, "CONTAINERS_CONF": os.environ.get(
    "CONTAINERS_CONF", str(REPO / "scripts" / "containers" / "containers.conf"))}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = Registry(tmp_path_factory.mktemp("registry")).start()
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def released(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    for name in ("swarm-operator", "swarm-peer"):
        image = f"ghcr.io/swarm-operator/{name}:{SOURCE_VERSION}"
        if subprocess.run(["podman", "image", "exists", image], env=PODMAN_ENV).returncode != 0:
            pytest.fail(f"{image} is not built: `make setup` (scripts/build-images.sh) builds it")
    out = tmp_path_factory.mktemp("dist")
    proc = run_release(VERSION, f"{registry.address}/swarm-operator", out, "--skip-build")
    assert proc.returncode == 0, f"release failed:\n{proc.stdout}\n{proc.stderr}"
    print(proc.stdout)
    return {"stdout": proc.stdout, "out": out, **json.loads((out / f"release-{VERSION}.json").read_text())}


def helm_alone(tmp: Path, *args: str) -> str:
    """helm with a home of its own, run outside the repository: the chart can only come from the registry."""
    env = {**os.environ, "HELM_CACHE_HOME": str(tmp / "cache"), "HELM_CONFIG_HOME": str(tmp / "config"),
           "HELM_DATA_HOME": str(tmp / "data")}
    proc = subprocess.run([tool("helm"), *args], capture_output=True, text=True, timeout=120, cwd=tmp, env=env)
    assert proc.returncode == 0, f"helm {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def local_image_id(name: str) -> str:
    proc = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}",
                           f"ghcr.io/swarm-operator/{name}:{SOURCE_VERSION}"],
                          capture_output=True, text=True, env=PODMAN_ENV, check=True)
    return "sha256:" + proc.stdout.strip()


def test_the_images_are_in_the_registry_by_the_printed_digests(registry: Registry, released: dict[str, Any]) -> None:
    for key, name in (("operator", "swarm-operator"), ("peer", "swarm-peer")):
        image = released["images"][key]
        repository = f"swarm-operator/{name}"
        served = registry.digest(repository, VERSION)
        assert served == image["digest"], (name, served, image)
        assert image["ref"] == f"{registry.address}/{repository}:{VERSION}@{served}"
        assert f"image {image['ref']}" in released["stdout"]
        # The image pushed is the one built from this tree: its config is the local image's ID.
        assert registry.manifest(repository, served)["config"]["digest"] == local_image_id(name)
        assert registry.tags(repository) == [VERSION]


def test_helm_installs_the_release_from_the_registry_alone(
        registry: Registry, released: dict[str, Any], tmp_path: Path) -> None:
    chart = f"oci://{registry.address}/swarm-operator/charts/swarm-operator"
    assert released["chart"] == {"ref": chart, "version": VERSION, "digest": released["chart"]["digest"]}
    assert registry.digest("swarm-operator/charts/swarm-operator", VERSION) == released["chart"]["digest"]
    meta = yaml.safe_load(helm_alone(tmp_path, "show", "chart", chart, "--version", VERSION, "--plain-http"))
    assert (meta["version"], meta["appVersion"]) == (VERSION, VERSION)
    docs = [d for d in yaml.safe_load_all(helm_alone(tmp_path, "template", "swarm", chart, "--version", VERSION,
                                                     "--plain-http", "-n", "swarm-operator")) if d]
    [deployment] = [d for d in docs if d["kind"] == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == released["images"]["operator"]["ref"]
    assert f"--peer-image={released['images']['peer']['ref']}" in container["args"]
    assert deployment["metadata"]["labels"]["app.kubernetes.io/version"] == VERSION
    notes = helm_alone(tmp_path, "install", "swarm", chart, "--version", VERSION, "--plain-http",
                       "--dry-run=client", "-n", "swarm-operator").split("NOTES:", 1)[1]
    urls = re.findall(r"https?://\S+", notes)
    assert urls and all(f"/v{VERSION}/" in url for url in urls), urls


def test_the_package_keeps_the_documented_values(released: dict[str, Any]) -> None:
    with tarfile.open(released["out"] / f"swarm-operator-{VERSION}.tgz") as tar:
        values_text = tar.extractfile("swarm-operator/values.yaml").read().decode()  # type: ignore[union-attr]
        chart = yaml.safe_load(tar.extractfile("swarm-operator/Chart.yaml").read())  # type: ignore[union-attr]
    values = yaml.safe_load(values_text)
    for key, block in (("operator", "image"), ("peer", "peerImage")):
        image = released["images"][key]
        assert (values[block]["repository"], values[block]["tag"], values[block]["digest"]) == \
            (image["repository"], "", image["digest"])
    assert values_text.count("# --") == (REPO / "charts/swarm-operator/values.yaml").read_text().count("# --")
    assert (chart["version"], chart["appVersion"]) == (VERSION, VERSION)


def test_the_release_refuses_bad_input(registry: Registry, tmp_path: Path) -> None:
    for version, message in (("1.2", "not x.y.z"), ("v1.2.3", "not x.y.z"), ("01.2.3", "not x.y.z")):
        proc = run_release(version, f"{registry.address}/x", tmp_path, "--skip-build")
        assert proc.returncode != 0 and message in proc.stderr, (version, proc.stderr)
    proc = run_release("1.2.3", "no such/registry", tmp_path, "--skip-build")
    assert proc.returncode != 0 and "HOST[:PORT]" in proc.stderr, proc.stderr
    # Nothing listens there: the push fails and the release stops before any chart is packaged.
    stopped = Registry(tmp_path / "gone")
    proc = run_release("1.2.3", f"{stopped.address}/x", tmp_path / "out", "--skip-build")
    assert proc.returncode != 0 and not list((tmp_path / "out").glob("*.tgz")), proc.stdout
