"""The suite runs on a real node, as on a user's cluster: images pulled from a registry, Pod
Security admission enforcing `restricted` on the operator's children, `kubectl logs/exec/
port-forward` through the kubelet, cluster DNS served by CoreDNS, and the operator on in-cluster
config through the `kubernetes` Service."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from typing import Any

import pytest
from e2e_support import (
    Cluster,
    LocalCluster,
    client_pods,
    kubectl_binary,
    pod_ready,
    topic_manifest,
    wait_for,
    wait_ready,
)

STATUS_PORT = 8080


def _local(cluster: Cluster) -> LocalCluster:
    if not isinstance(cluster, LocalCluster):
        pytest.skip("reads the local cluster's registry and audit log")
    return cluster


def _topic_pods(cluster: Cluster, name: str, ns: str) -> list[dict[str, Any]]:
    return [p for p in cluster.pods(ns, f"swarm-operator.dev/topic={name}") if pod_ready(p)]


@pytest.fixture
def ready_topic(cluster: Cluster, ns: str) -> tuple[str, dict[str, Any]]:
    """A topic of 2 clients, Ready in the case's `restricted` namespace."""
    cluster.apply(topic_manifest("node", ns, clients=2))
    return "node", wait_ready(cluster, "node", ns)


def test_pods_pulled_their_images_from_the_registry(cluster: Cluster, ns: str,
                                                    ready_topic: tuple[str, dict[str, Any]]) -> None:
    """Every pod of the topic and the operator's pods run the image the registry serves under the
    name the manifest uses: the node recorded the registry's manifest digest as the pod's imageID."""
    local = _local(cluster)
    name, _ = ready_topic
    pods = _topic_pods(cluster, name, ns) + [p for p in cluster.operator_pods() if pod_ready(p)]
    assert len(pods) >= 5, [p["metadata"]["name"] for p in pods]  # host, 2 clients, 2 operator replicas
    for pod in pods:
        for status in pod["status"]["containerStatuses"]:
            image = status["image"]  # e.g. ghcr.io/swarm-operator/swarm-peer:0.1.0
            repository, tag = image.split("/", 1)[1].rsplit(":", 1)
            served = local.nodes.registry.digest(repository, tag)
            assert served, f"the registry has no {repository}:{tag}"
            # The digest is the registry's; the name before it is the first the node recorded for that
            # digest (the manifest's, or the local registry's when another case pulled it by that name).
            assert status["imageID"].endswith(f"@{served}"), (pod["metadata"]["name"], status)


def test_the_restricted_level_is_enforced(cluster: Cluster, ns: str,
                                          ready_topic: tuple[str, dict[str, Any]]) -> None:
    """The case's namespace enforces `restricted`: the API server refuses a pod that is not
    compliant, and the operator's children (host StatefulSet, client Deployments) all run under it."""
    labels = json.loads(cluster.kubectl("get", "namespace", ns, "-o", "json"))["metadata"]["labels"]
    assert labels.get("pod-security.kubernetes.io/enforce") == "restricted"
    rogue = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "rogue", "namespace": ns},
             "spec": {"containers": [{"name": "c", "image": "ghcr.io/swarm-operator/swarm-peer:0.1.0",
                                      "securityContext": {"privileged": True}}]}}
    with pytest.raises(subprocess.CalledProcessError) as refused:
        cluster.apply(rogue)
    assert 'violates PodSecurity "restricted:latest"' in refused.value.stderr, refused.value.stderr
    assert cluster.get_json("pod", "rogue", ns) is None
    name, _ = ready_topic
    children = cluster.pods(ns, f"swarm-operator.dev/topic={name}")
    assert len(children) == 3 and all(pod_ready(p) for p in children), [p["metadata"]["name"] for p in children]
    events = json.loads(cluster.kubectl("get", "events", "-n", ns, "-o", "json"))["items"]
    refusals = [e["message"] for e in events if e.get("reason") == "FailedCreate" and "PodSecurity" in e["message"]]
    assert not refusals, refusals


def test_kubectl_logs_exec_and_port_forward_reach_the_pods(cluster: Cluster, ns: str,
                                                           ready_topic: tuple[str, dict[str, Any]]) -> None:
    """Through the API server and the kubelet: the host's log shows the base key the operator
    recorded; a client resolves the private DHT's name with the cluster DNS (CoreDNS) from inside
    its pod; a port-forward reaches the host's status port from this machine."""
    name, topic = ready_topic
    host = f"{name}-host-0"
    logs = [json.loads(line) for line in cluster.kubectl("logs", "-n", ns, host).splitlines()
            if line.startswith("{")]
    assert any(line.get("baseKey") == topic["status"]["baseKey"] for line in logs), logs[:5]

    client = next(p for p in client_pods(cluster, name, ns) if pod_ready(p))["metadata"]["name"]
    resolv = cluster.kubectl("exec", "-n", ns, client, "--", "cat", "/etc/resolv.conf")
    assert "nameserver 10.0.0.10" in resolv, resolv
    resolve = ("require('dns').promises.resolve4(process.argv[1])"
               ".then(a => console.log(JSON.stringify(a)), e => { console.error(e.code); process.exit(1) })")
    dht = "swarm-dht-0.swarm-dht.default.svc.cluster.local"
    answer = json.loads(cluster.kubectl("exec", "-n", ns, client, "--", "node", "-e", resolve, dht))
    dht_ip = cluster.get_json("pod", "swarm-dht-0", "default")["status"]["podIP"]
    assert answer == [dht_ip]

    status = _via_port_forward(cluster, ns, host, STATUS_PORT, "/status")
    assert json.loads(status["payload"])["baseKey"] == topic["status"]["baseKey"]


def _via_port_forward(cluster: Cluster, ns: str, pod: str, port: int, path: str) -> dict[str, Any]:
    env = {"KUBECONFIG": cluster.kubeconfig} if cluster.kubeconfig else None
    proc = subprocess.Popen([kubectl_binary(), "port-forward", "-n", ns, f"pod/{pod}", f":{port}",
                             "--address", "127.0.0.1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "Forwarding from 127.0.0.1:PORT -> 8080"
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert match, f"port-forward said {line!r}; {proc.stderr.read() if proc.poll() is not None else ''}"
        with urllib.request.urlopen(f"http://127.0.0.1:{match.group(1)}{path}", timeout=10) as rsp:
            return json.loads(rsp.read())
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_operator_uses_in_cluster_config_through_the_kubernetes_service(cluster: Cluster) -> None:
    """The operator pods get the `kubernetes` Service's ClusterIP from the kubelet, that Service's
    endpoint is the API server (kept by its lease reconciler), kube-proxy carries the traffic, and
    the API server sees the operator's requests come from the pods' own addresses."""
    local = _local(cluster)
    from localcluster.controlplane import audit_events
    from localcluster.testing import OPERATOR_USER

    service = cluster.get_json("service", "kubernetes", "default")
    slices = cluster.get_json("endpointslices", namespace="default", selector="kubernetes.io/service-name=kubernetes")
    addresses = [a for s in slices["items"] for e in s["endpoints"] for a in e["addresses"]]
    assert addresses == ["10.244.0.1"], addresses  # the node's bridge, where the API server listens
    pods = wait_for("the operator pods Ready", lambda: [p for p in cluster.operator_pods() if pod_ready(p)])
    for pod in pods:
        env = cluster.kubectl("exec", "-n", cluster.operator_namespace, pod["metadata"]["name"], "--", "python3",
                              "-c", "import os; print(os.environ['KUBERNETES_SERVICE_HOST'])").strip()
        assert env == service["spec"]["clusterIP"], env
    ips = {p["status"]["podIP"] for p in pods}

    def seen() -> set[str]:
        return {ip for e in audit_events(local.plane.audit_log)
                if e.get("user", {}).get("username") == OPERATOR_USER for ip in e.get("sourceIPs", [])} & ips
    assert wait_for("the operator's requests from its pods' addresses", lambda: seen() == ips or None,
                    timeout=30)
