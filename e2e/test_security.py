"""Issue 23 on a cluster with real pods: a SwarmTopic grants no more than its author has, and a
topic's secrets are never silently replaced. Each case reads the pods' own endpoints (their signed
/status, their app API) and the API server, never the operator's internals. (The same bullets on
the real API server with a stand-in host: tests/integration/test_authors_rights.py,
test_secrets_kept.py, test_record_trust.py, test_holes.py.)"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from e2e_support import (
    Cluster,
    assert_clients_report,
    client_pods,
    clients_ready,
    condition,
    hold_for,
    host_reported_key,
    open_app_api,
    pod_http,
    pod_ready,
    topic_manifest,
    wait_for,
    wait_ready,
)

APP_PORT = 8081
STATUS_PORT = 8080
OTHER = "e7" * 32


def reason(cluster: Cluster, name: str, ns: str) -> str | None:
    return ((cluster.topic(name, ns) or {}).get("status") or {}).get("reason")


def events(cluster: Cluster, ns: str, why: str) -> list[dict[str, Any]]:
    listing = json.loads(cluster.kubectl("get", "events", "-n", ns, "-o", "json"))
    return [e for e in listing["items"] if e.get("reason") == why]


def test_the_admission_policy_refuses_what_the_author_may_not_do(cluster: Cluster, ns: str) -> None:
    privileged = topic_manifest("root", ns, clients=1)
    privileged["spec"]["clients"][0]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"] = {
        "drop": ["ALL"], "add": ["SYS_ADMIN"]}
    loot = topic_manifest("loot", ns, clients=1)
    loot["spec"]["clients"][0]["template"]["spec"]["volumes"].append(
        {"name": "loot", "secret": {"secretName": "other-encryption"}})
    for manifest, field in ((privileged, "containers[peer].securityContext.capabilities.add"),
                            (loot, "volumes[loot].secret.secretName")):
        with pytest.raises(subprocess.CalledProcessError) as refused:
            cluster.apply(manifest)
        assert field in refused.value.stderr and "ValidatingAdmissionPolicy" in refused.value.stderr
    assert cluster.topic("root", ns) is None and cluster.topic("loot", ns) is None


def test_a_lost_encryption_key_is_never_made_again(cluster: Cluster, ns: str) -> None:
    cluster.apply(topic_manifest("keep", ns, clients=2))
    base_key = wait_ready(cluster, "keep", ns)["status"]["baseKey"]
    kept = cluster.get_json("secrets", "keep-encryption", ns)
    assert kept is not None
    cluster.kubectl("delete", "secret", "keep-encryption", "-n", ns)
    wait_for("EncryptionKeyLost", lambda: reason(cluster, "keep", ns) == "EncryptionKeyLost", timeout=60)
    hold_for("no new key", lambda: cluster.get_json("secrets", "keep-encryption", ns),
             lambda secret: secret is None, seconds=10)
    assert host_reported_key(cluster, "keep", ns) == base_key  # the host runs on the key in its store
    assert len(events(cluster, ns, "EncryptionKeyLost")) == 1
    # Put back (as `swarm-operator restore` does): the same key, the topic its controller.
    meta = kept["metadata"]
    cluster.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "immutable": True, "data": kept["data"],
                   "metadata": {"name": "keep-encryption", "namespace": ns, "labels": meta["labels"],
                                "ownerReferences": [r for r in meta["ownerReferences"] if r["kind"] == "SwarmTopic"]}})
    wait_ready(cluster, "keep", ns)
    cluster.kubectl("rollout", "restart", "deployment/keep-kv", "-n", ns)  # new pods read the restored key
    wait_for("2 clients", lambda: clients_ready(cluster, "keep", ns, 2), timeout=120)
    assert_clients_report(cluster, "keep", ns, base_key, expected=2)


def _serving(pod: dict[str, Any]) -> bool:
    try:
        return pod_http(pod, STATUS_PORT, "/healthz")[0] == 200
    except OSError:
        return False


def _seed_pod(ns: str, public: dict[str, str], image: str, seed_secret: str) -> dict[str, Any]:
    """The reference client of a member holding the seed in `seed_secret` (a plain Pod, no topic)."""
    env = [{"name": "SWARM_TOPIC", "value": public["topic"]}, {"name": "SWARM_BASE_KEY", "value": public["baseKey"]},
           {"name": "SWARM_HOST_PUBLIC_KEY", "value": public["hostPublicKey"]},
           {"name": "SWARM_DHT_BOOTSTRAP", "value": public["dhtBootstrap"]},
           {"name": "SWARM_DHT_HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
           {"name": "SWARM_REQUIRE_BOOTSTRAP", "value": "true"}, {"name": "SWARM_DATA_DIR", "value": "/data"},
           {"name": "SWARM_WRITERS_POLICY", "value": "Clients"},
           {"name": "SWARM_MEMBER_SEED_FILE", "value": "/seed/invite-seed"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "old-seed", "namespace": ns,
                                                             "labels": {"app": "old-seed"}},
            "spec": {"securityContext": {"runAsNonRoot": True, "runAsUser": 10001,
                                         "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [{"name": "peer", "image": image, "args": ["client"], "env": env,
                                     "securityContext": {"allowPrivilegeEscalation": False,
                                                         "capabilities": {"drop": ["ALL"]}},
                                     "ports": [{"name": "status", "containerPort": STATUS_PORT}],
                                     "volumeMounts": [{"name": "data", "mountPath": "/data"},
                                                      {"name": "seed", "mountPath": "/seed"}]}],
                     "volumes": [{"name": "data", "emptyDir": {}},
                                 {"name": "seed", "secret": {"secretName": seed_secret}}]}}


def test_a_replaced_member_seed_takes_effect_on_the_host_at_once(cluster: Cluster, ns: str) -> None:
    manifest = topic_manifest("seeds", ns, clients=1)
    open_app_api(manifest["spec"]["clients"][0], APP_PORT)
    cluster.apply(manifest)
    wait_ready(cluster, "seeds", ns)
    old = cluster.get_json("secrets", "seeds-member", ns)
    assert old is not None
    host = cluster.get_json("pods", "seeds-host-0", ns)
    assert host is not None
    cluster.kubectl("delete", "secret", "seeds-member", "-n", ns)  # the way to rotate it
    wait_for("a MemberSeedReplaced event", lambda: events(cluster, ns, "MemberSeedReplaced"), timeout=60)
    wait_for("the host restarted on the new seed", lambda: (pod := cluster.get_json("pods", "seeds-host-0", ns)) and
             pod["metadata"]["uid"] != host["metadata"]["uid"] and pod_ready(pod), timeout=180)
    wait_ready(cluster, "seeds", ns)
    # A member still holding the old seed (kept by the test under a name of its own) is refused.
    cluster.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "kept-seed", "namespace": ns},
                   "data": old["data"]})
    public = cluster.get_json("configmaps", "seeds-swarm", ns)["data"]  # type: ignore[index]
    image = manifest["spec"]["clients"][0]["template"]["spec"]["containers"][0]["image"]
    cluster.apply(_seed_pod(ns, public, image, "kept-seed"))
    stale = wait_for("the old seed's member up", lambda: next((p for p in cluster.pods(ns, "app=old-seed")
                                                               if pod_ready(p)), None), timeout=120)
    # The plain pod has no readiness probe: Ready as its container starts, before the program serves.
    wait_for("the old seed's member serving", lambda: _serving(stale), timeout=60)
    hold_for("the old seed admits no writer", lambda: pod_http(stale, STATUS_PORT, "/status")[1] or {},
             lambda status: not status.get("writable"), seconds=40, interval=2)
    # The topic's own clients, rolled onto the new seed, write.
    wait_for("a client of the new seed writable", lambda: [
        p for p in client_pods(cluster, "seeds", ns) if pod_ready(p) and
        (pod_http(p, STATUS_PORT, "/status")[1] or {}).get("writable")], timeout=120)


def test_a_topic_string_outside_the_basic_multilingual_plane(cluster: Cluster, ns: str) -> None:
    manifest = topic_manifest("emoji", ns, clients=2, topic="чат-🔥-話題")
    cluster.apply(manifest)
    base_key = wait_ready(cluster, "emoji", ns)["status"]["baseKey"]
    wait_for("2 clients", lambda: clients_ready(cluster, "emoji", ns, 2), timeout=120)
    assert_clients_report(cluster, "emoji", ns, base_key, expected=2)
    pod = cluster.get_json("pods", "emoji-host-0", ns)
    assert json.loads(cluster.peer_status(pod)["payload"])["topic"] == "чат-🔥-話題"  # type: ignore[arg-type]


def test_a_base_key_written_by_someone_else_never_reaches_the_clients(cluster: Cluster, ns: str) -> None:
    cluster.apply(topic_manifest("record", ns, clients=2))
    base_key = wait_ready(cluster, "record", ns)["status"]["baseKey"]
    wait_for("2 clients", lambda: clients_ready(cluster, "record", ns, 2), timeout=120)
    cluster.kubectl("patch", "swarmtopics.swarm-operator.dev", "record", "-n", ns, "--subresource=status",
                    "--type=merge", "-p", json.dumps({"status": {"baseKey": OTHER}}))
    wait_for("UntrustedRecord", lambda: (cond := condition(cluster.topic("record", ns), "Degraded")) and
             cond["reason"] == "UntrustedRecord", timeout=60)
    hold_for("the ConfigMap keeps the key the host signs", lambda: cluster.get_json("configmaps", "record-swarm", ns),
             lambda cm: (cm or {}).get("data", {}).get("baseKey") == base_key, seconds=10)
    assert host_reported_key(cluster, "record", ns) == base_key
    assert_clients_report(cluster, "record", ns, base_key, expected=2)
