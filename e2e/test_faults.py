"""Faults around the bootstrap: hosts, volumes, the operator, the DHT and a rogue peer."""

from __future__ import annotations

import json
import time
from typing import Any

from e2e_support import (
    EXAMPLES,
    Cluster,
    assert_clients_report,
    clients_ready,
    condition,
    host_reported_key,
    pod_ready,
    restricted,
    topic_manifest,
    wait_for,
    wait_ready,
)
from nacl.signing import SigningKey

TOPIC_PLURAL = "swarmtopics.swarm-operator.dev"


def host_pod(cluster: Cluster, name: str, ns: str) -> dict[str, Any] | None:
    return cluster.get_json("pods", f"{name}-host-0", ns)


def replaced_host_ready(cluster: Cluster, name: str, ns: str, old_uid: str) -> bool:
    pod = host_pod(cluster, name, ns)
    return bool(pod) and pod["metadata"]["uid"] != old_uid and pod_ready(pod)


def test_host_killed_mid_bootstrap(cluster: Cluster, ns: str) -> None:
    cluster.apply(topic_manifest("midhost", ns, clients=2))
    first = wait_for("the host pod", lambda: host_pod(cluster, "midhost", ns))
    assert not (cluster.topic("midhost", ns) or {}).get("status", {}).get("baseKey")
    cluster.delete("pod", "midhost-host-0", ns)
    topic = wait_ready(cluster, "midhost", ns)
    base_key = topic["status"]["baseKey"]
    assert host_pod(cluster, "midhost", ns)["metadata"]["uid"] != first["metadata"]["uid"]
    assert host_reported_key(cluster, "midhost", ns) == base_key
    wait_for("2 clients", lambda: clients_ready(cluster, "midhost", ns, 2))
    assert_clients_report(cluster, "midhost", ns, base_key, expected=2)


def test_host_killed_after_the_key_keeps_the_key(cluster: Cluster, ns: str) -> None:
    cluster.apply(topic_manifest("afterhost", ns, clients=2))
    base_key = wait_ready(cluster, "afterhost", ns)["status"]["baseKey"]
    old_uid = host_pod(cluster, "afterhost", ns)["metadata"]["uid"]
    cluster.delete("pod", "afterhost-host-0", ns)
    wait_for("a new host pod Ready", lambda: replaced_host_ready(cluster, "afterhost", ns, old_uid))
    assert host_reported_key(cluster, "afterhost", ns) == base_key
    wait_ready(cluster, "afterhost", ns)
    assert cluster.topic("afterhost", ns)["status"]["baseKey"] == base_key
    wait_for("2 clients", lambda: clients_ready(cluster, "afterhost", ns, 2))
    assert_clients_report(cluster, "afterhost", ns, base_key, expected=2)


def test_host_volume_wiped_rejoins_the_same_base(cluster: Cluster, ns: str) -> None:
    cluster.apply(topic_manifest("wiped", ns, clients=2))
    base_key = wait_ready(cluster, "wiped", ns)["status"]["baseKey"]
    wait_for("2 clients", lambda: clients_ready(cluster, "wiped", ns, 2))
    old_uid = host_pod(cluster, "wiped", ns)["metadata"]["uid"]
    # The PVC goes first (held by its protection finalizer on a real cluster until the pod is
    # gone), then the pod: the StatefulSet recreates both, the new volume empty.
    cluster.delete("pvc", "data-wiped-host-0", ns)
    cluster.delete("pod", "wiped-host-0", ns)
    wait_for("a new host pod Ready", lambda: replaced_host_ready(cluster, "wiped", ns, old_uid),
             timeout=180)
    assert host_reported_key(cluster, "wiped", ns) == base_key, "a wiped host created a new base"
    # The rejoined host replicates and announces the same base but lost its writer core: the
    # topic says so (HostWritable=False, phase Stuck) instead of a Ready that hides it.
    def not_writable() -> dict[str, Any] | None:
        topic = cluster.topic("wiped", ns)
        cond = condition(topic, "HostWritable")
        return topic if cond and cond["status"] == "False" else None
    topic = wait_for("HostWritable=False", not_writable, timeout=120)
    assert topic["status"]["baseKey"] == base_key
    assert topic["status"]["phase"] == "Stuck" and topic["status"]["reason"] == "HostNotWritable", topic["status"]
    degraded = condition(topic, "Degraded")
    assert degraded is None or degraded["status"] != "True", degraded
    # The clients lost their host for a moment: wait until both are Ready again on the same key.
    wait_for("2 clients again", lambda: clients_ready(cluster, "wiped", ns, 2), timeout=120)
    assert_clients_report(cluster, "wiped", ns, base_key, expected=2)


def test_operator_restarted_mid_bootstrap(cluster: Cluster, ns: str) -> None:
    cluster.apply(topic_manifest("oprestart", ns, clients=2))
    wait_for("the host StatefulSet", lambda: cluster.get_json("statefulsets", "oprestart-host", ns))
    cluster.restart_operator()
    topic = wait_ready(cluster, "oprestart", ns)
    base_key = topic["status"]["baseKey"]
    assert host_reported_key(cluster, "oprestart", ns) == base_key
    wait_for("2 clients", lambda: clients_ready(cluster, "oprestart", ns, 2))
    assert_clients_report(cluster, "oprestart", ns, base_key, expected=2)


def test_recreated_topic_over_retained_volume_keeps_the_key(cluster: Cluster, ns: str) -> None:
    cluster.apply(topic_manifest("again", ns, clients=1))
    base_key = wait_ready(cluster, "again", ns)["status"]["baseKey"]
    kept = cluster.get_json("secret", "again-encryption", ns)
    assert kept is not None
    cluster.kubectl("delete", TOPIC_PLURAL, "again", "-n", ns, "--wait=true", "--timeout=60s")
    wait_for("the host to be gone", lambda: host_pod(cluster, "again", ns) is None)
    assert cluster.get_json("pvc", "data-again-host-0", ns) is not None, "the volume was not kept"
    # The encryption key stays with the volume (its second owner); the topic's own reference is gone.
    left = wait_for("the key kept by the volume alone", lambda: (s := cluster.get_json(
        "secret", "again-encryption", ns)) and [r["kind"] for r in s["metadata"]["ownerReferences"]] == [
        "PersistentVolumeClaim"] and s)
    assert left["metadata"]["uid"] == kept["metadata"]["uid"]
    cluster.apply(topic_manifest("again", ns, clients=1))
    topic = wait_ready(cluster, "again", ns)
    assert topic["status"]["baseKey"] == base_key, "re-creating the topic made a second base"
    adopted = cluster.get_json("secret", "again-encryption", ns)
    assert adopted is not None and adopted["metadata"]["uid"] == kept["metadata"]["uid"], "the key was made anew"
    assert [(r["kind"], r.get("controller", False)) for r in adopted["metadata"]["ownerReferences"]] == [
        ("SwarmTopic", True), ("PersistentVolumeClaim", False)]
    wait_for("1 client", lambda: clients_ready(cluster, "again", ns, 1))
    assert_clients_report(cluster, "again", ns, base_key, expected=1)


def test_the_standby_takes_over_when_the_leader_dies_mid_bootstrap(cluster: Cluster, ns: str) -> None:
    """Two operator replicas (the chart's default): the leader's pod is killed without grace (as when
    its node dies) while a topic bootstraps; another replica (the standby, or the leader's
    replacement if it gets there first) takes the Lease and finishes: one key, recorded once, every
    client on it. (The integration test `test_leader.py` times the standby's takeover of a
    SIGKILLed leader exactly.)"""
    leader = wait_for("the operator leader", lambda: cluster.operator_leader(), timeout=60)
    standby = wait_for("a standby replica", lambda: [
        p for p in cluster.operator_pods() if p["metadata"]["name"] != leader and pod_ready(p)], timeout=60)
    print(f"leader {leader}, standby {[p['metadata']['name'] for p in standby]}")
    cluster.apply(topic_manifest("lead", ns, clients=2))
    wait_for("the host StatefulSet", lambda: cluster.get_json("statefulsets", "lead-host", ns))
    killed = time.time()
    cluster.kill_operator_pod(leader)
    new = wait_for("another leader", lambda: (holder := cluster.operator_leader()) != leader and holder,
                   timeout=60)
    took = time.time() - killed
    print(f"leader {leader} killed; {new} leads {took:.1f} s later")
    topic = wait_ready(cluster, "lead", ns)
    base_key = topic["status"]["baseKey"]
    assert host_reported_key(cluster, "lead", ns) == base_key
    wait_for("2 clients", lambda: clients_ready(cluster, "lead", ns, 2))
    assert_clients_report(cluster, "lead", ns, base_key, expected=2)
    recorded = [e for e in json.loads(cluster.kubectl("get", "events", "-n", ns, "-o", "json"))["items"]
                if e.get("reason") == "BaseKeyRecorded"]
    assert len(recorded) == 1, "the key was recorded twice"


def test_unreachable_dht_times_out_then_recovers(cluster: Cluster, ns: str) -> None:
    # A DHT of the case's own, so stopping it touches no other case.
    dht = (EXAMPLES / "dht.yaml").read_text().replace("namespace: default", f"namespace: {ns}")
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=dht)
    wait_for("the case's DHT node", lambda: pod_ready(cluster.get_json("pods", "swarm-dht-0", ns)))
    cluster.kubectl("scale", "statefulset", "swarm-dht", "-n", ns, "--replicas=0")
    wait_for("the DHT node gone", lambda: cluster.get_json("pods", "swarm-dht-0", ns) is None)

    manifest = topic_manifest("nodht", ns, clients=1, announce_timeout=8)
    manifest["spec"]["dht"] = {"bootstrap": [f"swarm-dht-0.swarm-dht.{ns}.svc.cluster.local:49737"]}
    cluster.apply(manifest)

    def timed_out() -> dict[str, Any] | None:
        cond = condition(cluster.topic("nodht", ns), "HostReady")
        return cond if cond and cond["reason"] == "AnnounceTimeout" else None
    cond = wait_for("HostReady=False/AnnounceTimeout", timed_out, timeout=90)
    assert cond["status"] == "False"
    assert not cluster.topic("nodht", ns)["status"].get("baseKey")
    assert cluster.get_json("pods", namespace=ns,
                            selector="swarm-operator.dev/topic=nodht,"
                                     "app.kubernetes.io/component=client")["items"] == []

    cluster.kubectl("scale", "statefulset", "swarm-dht", "-n", ns, "--replicas=1")
    topic = wait_ready(cluster, "nodht", ns, timeout=240)
    base_key = topic["status"]["baseKey"]
    wait_for("1 client", lambda: clients_ready(cluster, "nodht", ns, 1))
    assert_clients_report(cluster, "nodht", ns, base_key, expected=1)


def rogue_host(ns: str, topic: str, image: str, dht: list[str]) -> list[dict[str, Any]]:
    """A peer that claims the topic's bootstrap with a base of its own and its own identity."""
    seed = SigningKey.generate().encode().hex()
    labels = {"app": "rogue"}
    return [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "rogue-identity", "namespace": ns},
         "stringData": {"seed": seed}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "rogue", "namespace": ns},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
             "metadata": {"labels": labels},
             "spec": restricted({"containers": [{
                 "name": "swarm-peer", "image": image, "args": ["host"],
                 "ports": [{"name": "status", "containerPort": 8080}],
                 "readinessProbe": {"httpGet": {"path": "/readyz", "port": "status"}},
                 "env": [
                     {"name": "SWARM_TOPIC", "value": topic},
                     {"name": "SWARM_DATA_DIR", "value": "/data"},
                     {"name": "SWARM_IDENTITY_SEED_FILE", "value": "/identity/seed"},
                     {"name": "SWARM_DHT_BOOTSTRAP", "value": ",".join(dht)},
                     {"name": "SWARM_DHT_HOST",
                      "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                 ],
                 "volumeMounts": [{"name": "data", "mountPath": "/data"},
                                  {"name": "identity", "mountPath": "/identity"}],
             }], "volumes": [{"name": "data", "emptyDir": {}},
                             {"name": "identity", "secret": {"secretName": "rogue-identity"}}]}),
         }}},
    ]


def test_rogue_peer_on_the_bootstrap_topic_is_ignored(cluster: Cluster, ns: str) -> None:
    manifest = topic_manifest("guarded", ns, clients=3)
    client_image = manifest["spec"]["clients"][0]["template"]["spec"]["containers"][0]["image"]
    # The rogue announces first: it is what a cold client without pinning would find.
    for obj in rogue_host(ns, manifest["spec"].get("topic", "guarded"), client_image,
                          manifest["spec"]["dht"]["bootstrap"]):
        cluster.apply(obj)
    rogue = wait_for("the rogue host Ready", lambda: next(
        (p for p in cluster.pods(ns, "app=rogue") if pod_ready(p)), None))
    rogue_key = json.loads(cluster.peer_status(rogue)["payload"])["baseKey"]

    cluster.apply(manifest)
    topic = wait_ready(cluster, "guarded", ns)
    base_key = topic["status"]["baseKey"]
    assert base_key != rogue_key
    wait_for("3 clients", lambda: clients_ready(cluster, "guarded", ns, 3))
    assert_clients_report(cluster, "guarded", ns, base_key, expected=3)

