"""A SwarmTopic's life on a cluster: cold start, scaling, pause, bad input."""

from __future__ import annotations

import json

from e2e_support import (
    Cluster,
    assert_clients_report,
    clients_ready,
    condition,
    host_reported_key,
    topic_manifest,
    wait_for,
    wait_ready,
)
from history import Recorder, assert_ordering


def test_cold_start_with_ten_clients_keeps_the_order(cluster: Cluster, ns: str) -> None:
    with Recorder(cluster, ns) as history:
        cluster.apply(topic_manifest("chat", ns, clients=10))
        topic = wait_ready(cluster, "chat", ns)
        wait_for("10 clients ready", lambda: clients_ready(cluster, "chat", ns, 10))
    base_key = topic["status"]["baseKey"]
    assert host_reported_key(cluster, "chat", ns) == base_key
    assert_ordering(history, "chat")
    assert_clients_report(cluster, "chat", ns, base_key, expected=10)
    configmap = cluster.get_json("configmaps", "chat-swarm", ns)
    assert configmap is not None and configmap["data"]["baseKey"] == base_key


def test_clients_scale_up_and_down_on_the_same_key(cluster: Cluster, ns: str) -> None:
    cluster.apply(topic_manifest("scale", ns, clients=2))
    base_key = wait_ready(cluster, "scale", ns)["status"]["baseKey"]
    for replicas in (5, 1):
        cluster.kubectl("patch", "swarmtopics.swarm-operator.dev", "scale", "-n", ns,
                        "--type=json", "-p",
                        json.dumps([{"op": "replace", "path": "/spec/clients/0/replicas",
                                     "value": replicas}]))
        wait_for(f"{replicas} clients ready", lambda r=replicas: clients_ready(cluster, "scale", ns, r))
        assert_clients_report(cluster, "scale", ns, base_key, expected=replicas)
    assert cluster.topic("scale", ns)["status"]["baseKey"] == base_key


def test_pause_freezes_children_until_resumed(cluster: Cluster, ns: str) -> None:
    cluster.apply(topic_manifest("paused", ns, clients=2))
    base_key = wait_ready(cluster, "paused", ns)["status"]["baseKey"]
    patch = {"spec": {"paused": True, "clients": [{**topic_manifest("paused", ns)["spec"]["clients"][0],
                                                  "replicas": 4}]}}
    cluster.kubectl("patch", "swarmtopics.swarm-operator.dev", "paused", "-n", ns, "--type=merge",
                    "-p", json.dumps(patch))

    def paused_and_observed() -> bool:
        topic = cluster.topic("paused", ns) or {}
        status = topic.get("status", {})
        return (status.get("phase") == "Paused"
                and status.get("observedGeneration") == topic["metadata"].get("generation"))
    wait_for("the operator to observe the pause", paused_and_observed)
    deployment = cluster.get_json("deployments", "paused-kv", ns)
    assert deployment is not None and deployment["spec"]["replicas"] == 2, "paused children changed"

    cluster.kubectl("patch", "swarmtopics.swarm-operator.dev", "paused", "-n", ns, "--type=merge",
                    "-p", json.dumps({"spec": {"paused": False}}))
    wait_for("4 clients after resuming", lambda: clients_ready(cluster, "paused", ns, 4))
    assert_clients_report(cluster, "paused", ns, base_key, expected=4)


def test_invalid_spec_gets_a_condition_and_no_children(cluster: Cluster, ns: str) -> None:
    # What neither the CRD's schema nor the chart's admission policy says, so the API server accepts
    # it and the operator must refuse it: a client template without a container.
    bad = topic_manifest("bad", ns, clients=1)
    bad["spec"]["clients"][0]["template"]["spec"]["containers"] = []
    cluster.apply(bad)

    def invalid() -> dict | None:
        cond = condition(cluster.topic("bad", ns), "Ready")
        return cond if cond and cond["reason"] == "InvalidSpec" else None
    cond = wait_for("Ready=False/InvalidSpec", invalid)
    assert cond["status"] == "False"
    assert "spec.clients.0.template" in cond["message"] and "container" in cond["message"], cond["message"]
    assert cluster.get_json("secrets", "bad-identity", ns) is None
    for kind in ("statefulsets", "deployments", "services", "configmaps"):
        listing = cluster.get_json(kind, namespace=ns, selector="swarm-operator.dev/topic=bad")
        assert listing is not None and listing["items"] == [], f"an invalid spec created {kind}"
    events = cluster.kubectl("get", "events", "-n", ns, "-o", "json")
    assert any(e.get("reason") == "InvalidSpec" and e.get("type") == "Warning"
               for e in json.loads(events)["items"]), "no Warning event for the invalid spec"
