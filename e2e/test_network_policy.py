"""A topic's NetworkPolicy is ENFORCED where the cluster's network plugin enforces policies: a pod of
another topic cannot reach the host's status port, the topic's own pods can, and the topic still
reaches Ready and stays Ready under it (the operator reads the host's signed report through it, the
peers find each other on the DHT and replicate through it). Switched off, the other topic's pod gets
in: the block was the policy's.

Runs on a cluster whose network plugin enforces NetworkPolicies: the local cluster's real node with
its policy controller (kube-router: `E2E_LOCAL_NETWORK_POLICY=1 pytest e2e/test_network_policy.py`
starts the local cluster with it), or any cluster with E2E_NETWORK_POLICY=1. Needs `kubectl exec`
(the probe runs inside the other topic's pod).
Elsewhere it is skipped, saying why."""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

import pytest
from e2e_support import Cluster, client_pods, pod_ready, topic_manifest, wait_for, wait_ready

STATUS_PORT = 8080
# Run in a peer's own container (the swarm-peer image has node): the answer's status, or "blocked".
FETCH = ("fetch('http://' + process.argv[1] + ':8080/readyz', {signal: AbortSignal.timeout(3000)})"
         ".then(r => console.log('reachable ' + r.status), () => console.log('blocked'))")


def enforces_network_policies(cluster: Cluster) -> bool:
    """The cluster says it enforces NetworkPolicies: the local cluster's node runs its policy
    controller, or the environment says so for another cluster."""
    if os.environ.get("E2E_NETWORK_POLICY", "").lower() in ("1", "true", "yes"):
        return True
    nodes = getattr(cluster, "nodes", None)  # the local cluster's real node (localcluster.cluster.NodeCluster)
    return getattr(nodes, "policy", None) is not None


@pytest.fixture
def enforcing(cluster: Cluster) -> Cluster:
    if not enforces_network_policies(cluster):
        pytest.skip("the cluster enforces no NetworkPolicies: the local cluster's node without its policy "
                    "controller (run E2E_LOCAL_NETWORK_POLICY=1 pytest e2e/test_network_policy.py), or another "
                    "cluster without E2E_NETWORK_POLICY=1")
    return cluster


def probe(cluster: Cluster, ns: str, pod: str, ip: str) -> str:
    """From inside `pod`: GET the status port of `ip` ("reachable 200", "reachable 503" or "blocked")."""
    try:
        return cluster.kubectl("exec", "-n", ns, pod, "--", "node", "-e", FETCH, ip).strip()
    except subprocess.CalledProcessError as exc:
        if "not supported" in (exc.stderr or "") or "upgrade" in (exc.stderr or "").lower():
            pytest.skip(f"this node has no kubectl exec: {exc.stderr.strip()[:200]}")
        raise


def eventually(cluster: Cluster, ns: str, pod: str, ip: str, want: str, seconds: float = 90) -> str:
    """The plugin applies a policy within its sync: poll until the answer starts with `want`."""
    deadline, answer = time.monotonic() + seconds, ""
    while time.monotonic() < deadline:
        answer = probe(cluster, ns, pod, ip)
        if answer.startswith(want):
            break
        time.sleep(2)
    return answer


def ready_client(cluster: Cluster, name: str, ns: str) -> str:
    pods = wait_for(f"a Ready client of {name}", lambda: [p for p in client_pods(cluster, name, ns) if pod_ready(p)],
                    timeout=120)
    return str(pods[0]["metadata"]["name"])


def host_ip(cluster: Cluster, name: str, ns: str) -> str:
    pod: dict[str, Any] | None = cluster.get_json("pod", f"{name}-host-0", ns)
    assert pod is not None and pod["status"].get("podIP"), f"{name}-host-0 has no address"
    return str(pod["status"]["podIP"])


def test_another_topic_cannot_reach_the_host_s_status_port(enforcing: Cluster, ns: str) -> None:
    cluster = enforcing
    cluster.apply(topic_manifest("guarded", ns, clients=1, networkPolicy={"enabled": True}))
    # The other topic has no policy of its own: a block can only be the guarded topic's ingress rule.
    cluster.apply(topic_manifest("other", ns, clients=1, networkPolicy={"enabled": False}))
    wait_ready(cluster, "guarded", ns, timeout=300)  # DHT, replication and the operator's reads, under the policy
    wait_ready(cluster, "other", ns, timeout=300)
    assert cluster.get_json("networkpolicy", "guarded-peers", ns) is not None
    assert cluster.get_json("networkpolicy", "other-peers", ns) is None
    guarded, other = host_ip(cluster, "guarded", ns), host_ip(cluster, "other", ns)
    stranger, member = ready_client(cluster, "other", ns), ready_client(cluster, "guarded", ns)

    assert eventually(cluster, ns, stranger, guarded, "blocked") == "blocked", \
        "a pod of another topic reached the guarded host's status port"
    assert probe(cluster, ns, stranger, other).startswith("reachable"), "the probe reaches no status port at all"
    assert probe(cluster, ns, member, guarded).startswith("reachable"), "the topic's own pod is kept out"

    # Still Ready with the policy enforced: the operator re-reads the host's report (every re-check)
    # through the policy, from its own pods.
    time.sleep(10)
    topic = wait_ready(cluster, "guarded", ns, timeout=30)
    host_ready = next(c for c in topic["status"]["conditions"] if c["type"] == "HostReady")
    assert host_ready["status"] == "True", host_ready

    # Off: the same pod gets in. The block was the policy's, and it goes with it.
    cluster.kubectl("patch", "swarmtopics.swarm-operator.dev", "guarded", "-n", ns, "--type=merge",
                    "-p", '{"spec": {"networkPolicy": {"enabled": false}}}')
    wait_for("the policy deleted", lambda: cluster.get_json("networkpolicy", "guarded-peers", ns) is None, timeout=60)
    assert eventually(cluster, ns, stranger, guarded, "reachable").startswith("reachable"), \
        "the host stayed unreachable once its policy was gone"
