"""A user's install, from a release alone (issue 20): `make release` to a registry on the loopback,
then `helm install <name> oci://.../swarm-operator --version X` with helm run outside the
repository and a home of its own (no path of the repository involved), and a SwarmTopic Ready on
the operator that release installed, every pod running an image pulled from the registry by the
released digest.

The node pulls 127.0.0.1:<port>/... over plain HTTP (containerd does for loopback registries).
The session's own operator release is scaled to 0 meanwhile (two operators would both reconcile)
and the CRD stays the session release's (`crds.create=false`: Helm does not let two releases own
one object).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import TOOLS_BIN, Cluster, client_pods, pod_ready, topic_manifest, wait_for, wait_ready
from localcluster.registry import Registry
from localcluster.release import run_release

VERSION = "9.8.7-e2e"
RELEASE_NAME = "from-oci"
RELEASE_NAMESPACE = "swarm-oci"

pytestmark = [
    pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed"),
    pytest.mark.timeout(1200),
]


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    reg = Registry(tmp_path / "registry").start()
    yield reg
    reg.stop()


def helm_alone(cluster: Cluster, home: Path, *args: str) -> str:
    """helm outside the repository, with a home of its own: a chart can only come from a registry."""
    env = {**os.environ, "HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"),
           "HELM_DATA_HOME": str(home / "data"), "KUBECONFIG": cluster.kubeconfig or os.environ.get("KUBECONFIG", "")}
    home.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([str(TOOLS_BIN / "helm"), *args], capture_output=True, text=True, timeout=600,
                          cwd=home, env=env)
    assert proc.returncode == 0, f"helm {' '.join(args[:3])}: {proc.stderr}"
    return proc.stdout


def image_digests(pod: dict[str, Any]) -> set[str]:
    return {s["imageID"].rsplit("@", 1)[-1] for s in pod["status"].get("containerStatuses", [])}


@pytest.fixture
def operator_from_oci(cluster: Cluster, registry: Registry, ns: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    proc = run_release(VERSION, f"{registry.address}/swarm-operator", tmp_path / "dist", "--skip-build")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    released = json.loads((tmp_path / "dist" / f"release-{VERSION}.json").read_text())
    set_replicas = getattr(cluster, "set_operator_replicas", None)
    if set_replicas:
        set_replicas(0)
    home = tmp_path / "helm"
    try:
        helm_alone(cluster, home, "install", RELEASE_NAME, released["chart"]["ref"], "--version", VERSION,
                   "--plain-http", "-n", RELEASE_NAMESPACE, "--create-namespace", "--set", "crds.create=false",
                   "--set-json", f'watchNamespaces=["{ns}"]', "--wait", "--timeout", "300s")
        yield released
    finally:
        helm_alone(cluster, home, "uninstall", RELEASE_NAME, "-n", RELEASE_NAMESPACE, "--wait")
        cluster.kubectl("delete", "namespace", RELEASE_NAMESPACE, "--wait=false", check=False)
        if set_replicas:
            set_replicas(2)


def test_a_topic_is_ready_on_the_operator_installed_from_the_registry(
        cluster: Cluster, ns: str, operator_from_oci: dict[str, Any]) -> None:
    released = operator_from_oci
    operator, peer = released["images"]["operator"], released["images"]["peer"]
    pods = wait_for("the released operator Ready", lambda: [
        p for p in cluster.pods(RELEASE_NAMESPACE, "app.kubernetes.io/name=swarm-operator") if pod_ready(p)],
        timeout=300)
    for pod in pods:
        assert pod["spec"]["containers"][0]["image"] == operator["ref"]
        assert image_digests(pod) == {operator["digest"]}, pod["status"]["containerStatuses"]
    manifest = topic_manifest("released", ns, clients=2)
    for container in manifest["spec"]["clients"][0]["template"]["spec"]["containers"]:
        container["image"] = peer["ref"]
    cluster.apply(manifest)
    topic = wait_ready(cluster, "released", ns, timeout=300)
    assert topic["status"]["baseKey"]
    [host] = cluster.pods(ns, "app.kubernetes.io/component=bootstrap-host")
    # The operator gave the host the released chart's peer image, pinned by digest.
    assert host["spec"]["containers"][0]["image"] == peer["ref"]
    assert image_digests(host) == {peer["digest"]}
    clients = client_pods(cluster, "released", ns)
    assert len(clients) == 2 and all(image_digests(p) == {peer["digest"]} for p in clients)
