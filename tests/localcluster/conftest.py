"""A real control plane (localcluster.controlplane) and the kubelet under test, started once per
session: the kubelet runs as the lead starts it, `python -m localcluster.kubelet`, with the
node's own credentials (system:node:<name>, so the Node authorizer and NodeRestriction apply).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from lc_images import ensure_test_image
from lc_kube import Kube
from localcluster.controlplane import BIN, REPO, ControlPlane
from localcluster.runtime_podman import podman_env

PODMAN_GATEWAY = "10.88.0.1"


def kubelet_command(kubeconfig: Path, runtime: str, state: Path, node: str) -> list[str]:
    return [sys.executable, "-m", "localcluster.kubelet", "--kubeconfig", str(kubeconfig), "--runtime", runtime,
            "--state-dir", str(state), "--node-name", node, "--backoff", "1", "--backoff-max", "4", "-v"]


def start_kubelet(kubeconfig: Path, runtime: str, state: Path, node: str) -> subprocess.Popen[bytes]:
    state.mkdir(parents=True, exist_ok=True)
    env = {**podman_env(), "PYTHONPATH": str(REPO / "e2e")}
    with open(state / "kubelet.log", "ab") as log:
        return subprocess.Popen(kubelet_command(kubeconfig, runtime, state, node), stdout=log,
                                stderr=subprocess.STDOUT, env=env, cwd=REPO)


def stop_process(proc: subprocess.Popen[bytes], grace: float = 60.0) -> int:
    proc.terminate()
    try:
        return proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


@pytest.fixture(scope="session")
def plane() -> Iterator[ControlPlane]:
    if not (BIN / "kube-apiserver").exists():
        pytest.skip(f"no control plane binaries in {BIN}: run scripts/build-control-plane.sh")
    state = Path(tempfile.mkdtemp(prefix="localcluster-node-tests-"))
    control = ControlPlane(state, extra_server_ips=[PODMAN_GATEWAY])
    control.start()
    try:
        yield control
    finally:
        control.stop()
        if not os.environ.get("LOCALCLUSTER_KEEP"):
            shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def image() -> str:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (scripts/setup-podman.sh)")
    return ensure_test_image()


@pytest.fixture(scope="session")
def node(plane: ControlPlane, image: str) -> Iterator[str]:
    """The podman kubelet, running as the control plane's node; yields the node name."""
    proc = start_kubelet(plane.node_kubeconfig(), "podman", plane.state / "kubelet", plane.node_name)
    kube = Kube(plane.kubeconfig)
    try:
        kube.wait(lambda: kube.node_ready(plane.node_name), 60, "the Node to be Ready", proc)
        yield plane.node_name
    finally:
        code = stop_process(proc)
        assert code == 0, (plane.state / "kubelet" / "kubelet.log").read_text()[-3000:]


@pytest.fixture
def kube(plane: ControlPlane) -> Kube:
    return Kube(plane.kubeconfig)


@pytest.fixture
def ns(kube: Kube, node: str) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:6]}"
    kube.kubectl("create", "namespace", name)
    kube.wait(lambda: kube.get(f"/api/v1/namespaces/{name}/serviceaccounts/default") is not None, 60,
              "the namespace's default ServiceAccount")
    yield name
    if not os.environ.get("LOCALCLUSTER_KEEP"):
        kube.kubectl("delete", "namespace", name, "--wait=false")
