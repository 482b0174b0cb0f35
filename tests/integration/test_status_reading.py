"""`swarm-operator status` / `kubectl swarm status` reading from a real kube-apiserver (the local
control plane, no node): the topic, the host pod its StatefulSet created, only this topic's
events; a look-alike pod not controlled by the topic's StatefulSet is ignored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from integration_support import Api
from localcluster.controlplane import BIN, REPO, ControlPlane
from swarm_operator import names
from swarm_operator.cli.topic_status import read_report
from swarm_operator.reconciler.events import event_body

NS = "apps"
RECORDED = REPO / "tests" / "unit" / "data" / "status_view" / "chat.json"
VENV_BIN = Path(sys.executable).parent


def kubectl(plane: ControlPlane, *args: str, input: str | None = None) -> str:
    return subprocess.run([str(BIN / "kubectl"), "--kubeconfig", str(plane.kubeconfig), *args],
                          input=input, capture_output=True, text=True, timeout=60, check=True).stdout


def apply(plane: ControlPlane, obj: dict[str, Any], verb: str = "apply") -> dict[str, Any]:
    return json.loads(kubectl(plane, verb, "-o", "json", "-f", "-", input=json.dumps(obj)))


def host_statefulset(topic: str) -> dict[str, Any]:
    labels = {names.LABEL_TOPIC: topic, names.LABEL_COMPONENT: names.COMPONENT_HOST}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": names.host_statefulset(topic), "namespace": NS, "labels": labels},
            "spec": {"serviceName": names.host_service(topic), "replicas": 1,
                     "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                         {"name": "swarm-peer", "image": "registry.invalid/swarm-peer:none"}]}}}}


def topic_with_status(plane: ControlPlane, name: str) -> dict[str, Any]:
    recorded = json.loads(RECORDED.read_text())["topic"]
    topic = apply(plane, {"apiVersion": recorded["apiVersion"], "kind": recorded["kind"],
                          "metadata": {"name": name, "namespace": NS}, "spec": recorded["spec"]})
    kubectl(plane, "patch", "swarmtopics", name, "-n", NS, "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": recorded["status"]}))
    return topic


@pytest.fixture
def plane(api: Api, api_server: ControlPlane) -> ControlPlane:
    """The session's control plane (the chart's CRD installed), the namespace `apps` empty."""
    return api_server


def test_reads_the_topic_its_host_pod_and_only_its_events(plane: ControlPlane) -> None:
    topic = topic_with_status(plane, "chat")
    apply(plane, host_statefulset("chat"))
    mine = dict(event_body(topic, "Warning", "AnnounceTimeout", "the host has not announced"))
    stale = event_body({**topic, "metadata": {**topic["metadata"], "uid": "0" * 8 + "-0000-4000-8000-" + "0" * 12}},
                       "Normal", "FromAnEarlierTopic", "an earlier SwarmTopic of the same name")
    other = event_body(topic, "Normal", "AboutAPod", "same name, another kind")
    other["involvedObject"] = {**other["involvedObject"], "kind": "Pod", "apiVersion": "v1"}
    for event in (mine, stale, other):
        apply(plane, event, verb="create")

    def pod_created() -> bool:
        return read_report(NS, "chat", str(plane.kubeconfig)).host_pod is not None

    _wait(pod_created)
    report = read_report(NS, "chat", str(plane.kubeconfig))
    assert report.topic["metadata"]["uid"] == topic["metadata"]["uid"]
    assert report.topic["status"]["phase"] == "Ready"
    assert report.host_pod is not None and report.host_pod["metadata"]["name"] == "chat-host-0"
    assert [e["reason"] for e in report.events] == ["AnnounceTimeout"]


def test_a_look_alike_host_pod_is_ignored(plane: ControlPlane) -> None:
    topic_with_status(plane, "lookalike")
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": names.host_pod("lookalike"), "namespace": NS,
                        "labels": {names.LABEL_TOPIC: "lookalike"}},
           "spec": {"containers": [{"name": "x", "image": "registry.invalid/x:none"}]}}
    apply(plane, pod)
    assert read_report(NS, "lookalike", str(plane.kubeconfig)).host_pod is None


def test_the_commands_print_it_and_take_the_context_namespace(plane: ControlPlane, tmp_path: Path) -> None:
    topic_with_status(plane, "shown")
    config = yaml.safe_load(plane.kubeconfig.read_text())
    config["contexts"][0]["context"]["namespace"] = NS
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}")
    for argv in ([str(VENV_BIN / "swarm-operator"), "status", "shown", "--kubeconfig", str(kubeconfig)],
                 [str(BIN / "kubectl"), "swarm", "status", f"{NS}/shown", "--kubeconfig", str(kubeconfig)]):
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(f"SwarmTopic {NS}/shown\n  phase Ready, clients 2/2"), proc.stdout
        assert "no host pod" in proc.stdout and "Next steps:\n  nothing: the topic is Ready" in proc.stdout
    proc = subprocess.run([str(VENV_BIN / "swarm-operator"), "status", f"{NS}/absent", "--kubeconfig",
                           str(kubeconfig)], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", f"error: no SwarmTopic {NS}/absent\n")


def _wait(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.25)
