"""A real control plane (localcluster.controlplane) and the kubelets under test, started once per
session as the lead starts them, `python -m localcluster.kubelet`: the podman one with the node's
own credentials (system:node:<name>, so the Node authorizer and NodeRestriction apply), the
process one as a second Node. Every test runs once per runtime; its pods select their node.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from lc_images import ensure_test_image
from lc_kube import Kube
from lc_node import Node, Where, start_kubelet, stop_process
from localcluster.controlplane import BIN, ControlPlane
from localcluster.netns import DEFAULT_GATEWAY as PROCESS_GATEWAY
from localcluster.netns import DEFAULT_SUBNET as PROCESS_SUBNET
from localcluster.testing import PODMAN_GATEWAY


@pytest.fixture(scope="session")
def plane() -> Iterator[ControlPlane]:
    if not (BIN / "kube-apiserver").exists():
        pytest.skip(f"no control plane binaries in {BIN}: run scripts/build-control-plane.sh")
    state = Path(tempfile.mkdtemp(prefix="localcluster-node-tests-"))
    control = ControlPlane(state, extra_server_ips=[PODMAN_GATEWAY, PROCESS_GATEWAY])
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


def _run_kubelet(plane: ControlPlane, runtime: str) -> Iterator[Node]:
    state = plane.state / f"kubelet-{runtime}"
    if runtime == "podman":  # the node's own credentials: Node authorizer and NodeRestriction apply
        node = Node(plane.node_name, runtime, ipaddress.ip_network("10.88.0.0/16"), state)
        kubeconfig = plane.node_kubeconfig()
    else:
        node = Node("process-node", runtime, ipaddress.ip_network(PROCESS_SUBNET), state)
        kubeconfig = plane.kubeconfig
    proc = start_kubelet(kubeconfig, runtime, state, node.name)
    kube = Kube(plane.kubeconfig)
    try:
        kube.wait(lambda: kube.node_ready(node.name), 60, f"the Node {node.name} to be Ready", proc)
        yield node
    finally:
        code = stop_process(proc)
        assert code == 0, (state / "kubelet.log").read_text()[-3000:]


@pytest.fixture(scope="session", params=["podman", "process"])
def node(request: pytest.FixtureRequest, plane: ControlPlane) -> Iterator[Node]:
    """A kubelet per runtime (`python -m localcluster.kubelet`), each a Node of the cluster."""
    if request.param == "podman":
        request.getfixturevalue("image")
    elif os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("the process runtime needs root and iproute2 for its network namespaces")
    yield from _run_kubelet(plane, request.param)


@pytest.fixture
def kube(plane: ControlPlane) -> Kube:
    return Kube(plane.kubeconfig)


@pytest.fixture
def where(kube: Kube, node: Node) -> Iterator[Where]:
    """A fresh namespace, and the node the test's pods are to run on."""
    name = f"t-{uuid.uuid4().hex[:6]}"
    kube.kubectl("create", "namespace", name)
    kube.wait(lambda: kube.get(f"/api/v1/namespaces/{name}/serviceaccounts/default") is not None, 60,
              "the namespace's default ServiceAccount")
    yield Where(name, node)
    if not os.environ.get("LOCALCLUSTER_KEEP"):
        kube.kubectl("delete", "namespace", name, "--wait=false")
