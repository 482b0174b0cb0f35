"""A user's own app as a topic's client group (issue 11): examples/kv-app ("autokv").

The SwarmTopic of examples/kv-app/topic.yaml comes up Ready, every replica is on the recorded
base, a put on one replica is read on another, and the replicas keep replicating with each other
(and stay Ready) while the host is down. Read and written through each replica's own HTTP API.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

import yaml
from e2e_support import (
    EXAMPLES,
    GROUP_PLURAL,
    Cluster,
    assert_clients_report,
    client_pods,
    clients_ready,
    hold_for,
    open_app_api,
    pod_http,
    pod_ready,
    wait_for,
    wait_ready,
)

APP_PORT = 8081  # autokv's API (SWARM_APP_PORT's default)
STATUS_PORT = 8080
NAME = "autokv"


def autokv_topic(ns: str) -> dict[str, Any]:
    manifest = yaml.safe_load((EXAMPLES / "kv-app" / "topic.yaml").read_text())
    manifest["metadata"]["namespace"] = ns
    open_app_api(manifest["spec"]["clients"][0], APP_PORT)
    return manifest


def put(pod: dict[str, Any], key: str, value: Any) -> None:
    code, body = pod_http(pod, APP_PORT, "/put", {"key": key, "value": value})
    assert code == 200, (pod["metadata"]["name"], code, body)


def get(pod: dict[str, Any], key: str) -> Any:
    code, body = pod_http(pod, APP_PORT, "/get?key=" + urllib.parse.quote(key))
    return body.get("value") if code == 200 and body else None


def read_everywhere(pods: list[dict[str, Any]], key: str, value: Any, timeout: float) -> float:
    """Wait until every pod reads `value` under `key`; the seconds it took."""
    started = time.monotonic()
    wait_for(f"{key}={value!r} on {[p['metadata']['name'] for p in pods]}",
             lambda: all(get(p, key) == value for p in pods), timeout=timeout)
    return round(time.monotonic() - started, 2)


def writable(pod: dict[str, Any]) -> bool:
    code, body = pod_http(pod, STATUS_PORT, "/status")
    return code == 200 and bool(body.get("writable"))


def readyz(pod: dict[str, Any]) -> int:
    return pod_http(pod, STATUS_PORT, "/readyz")[0]


def test_autokv_replicas_share_one_base_and_mesh_without_the_host(cluster: Cluster, ns: str) -> None:
    manifest = autokv_topic(ns)
    replicas = manifest["spec"]["clients"][0]["replicas"]
    cluster.apply(manifest)
    base_key = wait_ready(cluster, NAME, ns, timeout=240)["status"]["baseKey"]
    wait_for(f"{replicas} autokv replicas", lambda: clients_ready(cluster, NAME, ns, replicas),
             timeout=180)
    assert_clients_report(cluster, NAME, ns, base_key, expected=replicas)
    pods = client_pods(cluster, NAME, ns)
    wait_for("every replica a writer", lambda: all(writable(p) for p in pods), timeout=90)
    a, others = pods[0], pods[1:]
    put(a, "colour", "blue")
    print(f"\nput on one replica, read on the others in {read_everywhere(others, 'colour', 'blue', 30)} s")

    # The host goes away: pause the topic (the operator leaves its children alone), scale the
    # host's StatefulSet to 0. The replicas must keep replicating with each other.
    cluster.kubectl("patch", GROUP_PLURAL, NAME, "-n", ns, "--type=merge",
                    "-p", json.dumps({"spec": {"paused": True}}))

    def paused() -> bool:
        topic = cluster.topic(NAME, ns) or {}
        return (topic.get("status", {}).get("phase") == "Paused"
                and topic["status"].get("observedGeneration") == topic["metadata"]["generation"])
    wait_for("the operator to observe the pause", paused, timeout=60)
    cluster.kubectl("scale", "statefulset", f"{NAME}-host", "-n", ns, "--replicas=0")
    wait_for("the host pod gone", lambda: cluster.get_json("pods", f"{NAME}-host-0", ns) is None,
             timeout=90)

    put(a, "while-host-down", "still-flowing")
    took = read_everywhere(others, "while-host-down", "still-flowing", 30)
    print(f"host down: put on one replica, read on the others in {took} s")
    put(others[-1], "reply", "heard")
    read_everywhere([a], "reply", "heard", 30)

    def every_replica_ready() -> list[tuple[str, bool, int]]:
        now = client_pods(cluster, NAME, ns)
        return [(p["metadata"]["name"], pod_ready(p), readyz(p)) for p in now]
    hold_for("every replica Ready with the host down", every_replica_ready,
             lambda seen: len(seen) == replicas and all(ok and code == 200 for _, ok, code in seen),
             seconds=10, interval=2)
