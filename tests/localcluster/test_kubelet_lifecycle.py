"""The kubelet's own life: a crashed run's containers are removed at the next start (found by the
node label or namespace name they carry), and a clean stop leaves nothing running."""

from __future__ import annotations

import signal
import subprocess
import uuid
from pathlib import Path

import pytest
from lc_images import TEST_IMAGE, ensure_test_image
from lc_kube import Kube, container
from lc_node import start_kubelet, stop_process
from localcluster.controlplane import ControlPlane
from localcluster.netns import Network
from localcluster.runtime import LABEL_INSTANCE, instance_id
from localcluster.runtime_podman import podman_env


def _run(*command: str) -> list[str]:
    done = subprocess.run(command, env=podman_env(), capture_output=True, text=True, check=False)
    return done.stdout.split()


def node_leftovers(runtime: str, state: Path) -> list[str]:
    """Containers and sandboxes (podman), or namespaces and their processes (process), of the
    kubelet with this state directory."""
    instance = instance_id(state)
    if runtime == "podman":
        return (_run("podman", "ps", "-aq", "--filter", f"label={LABEL_INSTANCE}={instance}")
                + _run("podman", "pod", "ps", "-q", "--filter", f"label={LABEL_INSTANCE}={instance}"))
    prefix = Network(instance).prefix
    spaces = [line for line in _run("ip", "netns", "list") if line.startswith(prefix)]
    return spaces + [pid for space in spaces for pid in _run("ip", "netns", "pids", space)]


POD = """
apiVersion: v1
kind: Pod
metadata: {{name: sleeper}}
spec:
  nodeSelector: {{kubernetes.io/hostname: {node}}}
  terminationGracePeriodSeconds: 2
  containers:
    - {{name: main, image: {image}, imagePullPolicy: Never, command: [sleep, "3600"]}}
"""


@pytest.mark.parametrize("runtime", ["podman", "process"])
def test_crash_leftovers_are_removed_and_a_clean_stop_leaves_nothing(plane: ControlPlane, runtime: str) -> None:
    if runtime == "podman":
        ensure_test_image()
    node = f"{runtime}-crash-{uuid.uuid4().hex[:4]}"
    kube, ns = Kube(plane.kubeconfig), f"crash-{uuid.uuid4().hex[:6]}"
    state = plane.state / node
    extra = ["--pod-subnet", "10.89.7.0/24"] if runtime == "process" else []
    kubelet = start_kubelet(plane.kubeconfig, runtime, state, node, *extra)
    try:
        kube.wait(lambda: kube.node_ready(node), 60, "the Node to be Ready", kubelet)
        kube.kubectl("create", "namespace", ns)
        kube.wait(lambda: kube.get(f"/api/v1/namespaces/{ns}/serviceaccounts/default"), 60, "the default SA")
        kube.apply(ns, POD.format(node=node, image=TEST_IMAGE))
        first = kube.wait_pod(ns, "sleeper", lambda p: container(p).get("started"), 60, "running")
        kubelet.send_signal(signal.SIGKILL)
        kubelet.wait()
        crashed = node_leftovers(runtime, state)
        assert crashed, "a killed kubelet leaves its containers running"

        kubelet = start_kubelet(plane.kubeconfig, runtime, state, node, *extra)
        again = kube.wait_pod(ns, "sleeper", lambda p: container(p).get("started") and
                              container(p)["containerID"] != container(first)["containerID"], 60, "running again")
        # (a process sandbox keeps its name, the pod's uid; its processes are new)
        gone = {item for item in crashed if runtime == "podman" or item.isdigit()}
        assert gone and not gone & set(node_leftovers(runtime, state)), "the crashed run's leftovers were removed"
        assert again["status"]["podIP"]
    finally:
        code = stop_process(kubelet)
        kube.kubectl("delete", "namespace", ns, "--wait=false", check=False)
        kube.kubectl("delete", "node", node, "--wait=false", check=False)
    assert code == 0
    assert node_leftovers(runtime, state) == []
