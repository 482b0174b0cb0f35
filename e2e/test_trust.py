"""Who writes into a topic's base (issue 8), as the pods themselves report it.

The topic's clients are members: under the default policy (`Clients`) each becomes a writer.
Outsiders in the same namespace, holding only what is public (the ConfigMap's topic, base key
and host public key, the DHT bootstrap), never do, and nothing they append reaches any view.
Under `HostOnly` no client writes, but every client replicates the host's entries.

Everything is read from the pods' own HTTP endpoints (status port, app API), never from the
operator's internals.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from typing import Any

from e2e_support import (
    Cluster,
    client_pods,
    clients_ready,
    hold_for,
    open_app_api,
    pod_http,
    pod_ready,
    restricted,
    topic_manifest,
    wait_for,
    wait_ready,
)

APP_PORT = 8081  # the peers' app API (SWARM_APP_PORT's default)
STATUS_PORT = 8080
OUTSIDER_WAIT = 30  # seconds an outsider is watched (the issue's bound)


def member_topic(name: str, ns: str, clients: int, policy: str | None = None) -> dict[str, Any]:
    manifest = topic_manifest(name, ns, clients=clients)
    if policy:
        manifest["spec"]["writers"] = {"policy": policy}
    open_app_api(manifest["spec"]["clients"][0], APP_PORT)
    return manifest


def peer_status(pod: dict[str, Any]) -> dict[str, Any]:
    code, body = pod_http(pod, STATUS_PORT, "/status")
    assert code == 200, (pod["metadata"]["name"], code, body)
    return body


def host_payload(cluster: Cluster, name: str, ns: str) -> dict[str, Any]:
    pod = cluster.get_json("pods", f"{name}-host-0", ns)
    assert pod is not None, "the host pod is gone"
    return json.loads(cluster.peer_status(pod)["payload"])


def outsiders(ns: str, public: dict[str, str], image: str) -> list[dict[str, Any]]:
    """Two `swarm-peer client` pods outside the topic's Deployments, with only the public env.

    `asker` claims policy `Open` for itself, so it asks the host to be added (`writer-request`);
    `forger` holds a member seed of its own making, so it sends a blind-pairing request for an
    invite the host does not know. Neither gets the topic's member or encryption Secret.
    """
    env = [
        {"name": "SWARM_TOPIC", "value": public["topic"]},
        {"name": "SWARM_BASE_KEY", "value": public["baseKey"]},
        {"name": "SWARM_HOST_PUBLIC_KEY", "value": public["hostPublicKey"]},
        {"name": "SWARM_DHT_BOOTSTRAP", "value": public["dhtBootstrap"]},
        {"name": "SWARM_DHT_HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "SWARM_REQUIRE_BOOTSTRAP", "value": "true"},
        {"name": "SWARM_DATA_DIR", "value": "/data"},
        # The test appends through the outsider's own app API from outside its pod.
        {"name": "SWARM_APP_HOST", "value": "0.0.0.0"},
    ]
    forged = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "forged-member", "namespace": ns},
              "stringData": {"invite-seed": os.urandom(32).hex()}}
    extra = {
        "asker": ([{"name": "SWARM_WRITERS_POLICY", "value": "Open"}], [], []),
        "forger": ([{"name": "SWARM_WRITERS_POLICY", "value": "Clients"},
                    {"name": "SWARM_MEMBER_SEED_FILE", "value": "/forged/invite-seed"}],
                   [{"name": "forged", "mountPath": "/forged"}],
                   [{"name": "forged", "secret": {"secretName": "forged-member"}}]),
    }
    pods: list[dict[str, Any]] = [forged]
    for role, (more_env, mounts, volumes) in extra.items():
        pods.append({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": f"outsider-{role}", "namespace": ns, "labels": {"app": "outsider"}},
                     "spec": restricted({"containers": [{
                         "name": "peer", "image": image, "args": ["client"], "env": env + more_env,
                         "ports": [{"name": "status", "containerPort": STATUS_PORT},
                                   {"name": "app", "containerPort": APP_PORT}],
                         "volumeMounts": [{"name": "data", "mountPath": "/data"}, *mounts]}],
                         "volumes": [{"name": "data", "emptyDir": {}}, *volumes]})})
    return pods


def started_at(pod: dict[str, Any]) -> float:
    state = pod["status"]["containerStatuses"][0]["state"]["running"]
    return datetime.fromisoformat(state["startedAt"].replace("Z", "+00:00")).timestamp()


def time_to_writable(cluster: Cluster, name: str, ns: str, expected: int) -> dict[str, float]:
    """Seconds from each member's container start until its own /status says writable."""
    seen: dict[str, float] = {}

    def all_writable() -> bool:
        for pod in client_pods(cluster, name, ns):
            pod_name = pod["metadata"]["name"]
            if pod_name not in seen and pod_ready(pod) and peer_status(pod)["writable"]:
                seen[pod_name] = round(time.time() - started_at(pod), 1)
        return len(seen) == expected
    wait_for(f"{expected} members writable", all_writable, timeout=90)
    return seen


def log_of(pod: dict[str, Any]) -> list[dict[str, Any]]:
    code, body = pod_http(pod, APP_PORT, "/log")
    assert code == 200, (pod["metadata"]["name"], code, body)
    return body["entries"]


def test_members_write_and_outsiders_never_do(cluster: Cluster, ns: str) -> None:
    manifest = member_topic("trust", ns, clients=2)
    cluster.apply(manifest)
    base_key = wait_ready(cluster, "trust", ns)["status"]["baseKey"]
    wait_for("2 clients", lambda: clients_ready(cluster, "trust", ns, 2))
    to_writable = time_to_writable(cluster, "trust", ns, expected=2)
    print(f"\nmembers writable (s from container start): {to_writable}")

    public = cluster.get_json("configmaps", "trust-swarm", ns)["data"]
    assert public["baseKey"] == base_key
    image = manifest["spec"]["clients"][0]["template"]["spec"]["containers"][0]["image"]
    for obj in outsiders(ns, public, image):
        cluster.apply(obj)

    def on_the_base(pod: dict[str, Any]) -> bool:
        try:
            code, status = pod_http(pod, STATUS_PORT, "/status")
        except OSError:  # not listening yet
            return False
        # While its base opens, a member's /status answers 200 without the base's fields
        # (`discoveryKey` null, `viewLength` 0; it used to answer 500, fixed in cbf3d21, see
        # images/swarm-peer/test/status.test.js): on the base means a writer key and the host.
        return code == 200 and bool(status.get("writerKey")) and bool(status.get("hostConnected"))

    def opened() -> list[dict[str, Any]] | None:
        # On the base and connected to the host: asking it is all that is left.
        ok = [p for p in cluster.pods(ns, "app=outsider") if p["status"].get("podIP") and on_the_base(p)]
        return ok if len(ok) == 2 else None
    rogue = wait_for("both outsiders on the base, connected to the host", opened, timeout=120)
    rogue_keys = {peer_status(p)["writerKey"] for p in rogue}
    assert all(peer_status(p)["baseKey"] == base_key for p in rogue)

    writes = {"attempts": 0, "accepted": 0}

    def outsiders_stay_out() -> list[tuple[str, bool, int]]:
        seen = []
        for pod in rogue:
            code, _ = pod_http(pod, APP_PORT, "/append", {"marker": "outsider"})
            writes["attempts"] += 1
            writes["accepted"] += code == 200
            seen.append((pod["metadata"]["name"], peer_status(pod)["writable"], code))
        return seen
    hold_for("no outsider writable, every outsider append refused", outsiders_stay_out,
             lambda seen: not any(writable or code == 200 for _, writable, code in seen),
             seconds=OUTSIDER_WAIT, interval=2)
    print(f"outsider appends: {writes['attempts']} tried, {writes['accepted']} accepted")

    members = client_pods(cluster, "trust", ns)
    for i, pod in enumerate(members):
        code, body = pod_http(pod, APP_PORT, "/append", {"marker": f"member-{i}"})
        assert code == 200, (pod["metadata"]["name"], code, body)
    markers = {f"member-{i}" for i in range(len(members))}

    def every_log_has_the_members() -> bool:
        return all(markers <= {e.get("marker") for e in log_of(p)} for p in members)
    wait_for("each member's log to hold every member's entry", every_log_has_the_members, timeout=60)
    host = host_payload(cluster, "trust", ns)
    for pod in members:
        entries = log_of(pod)
        assert not [e for e in entries if e.get("marker") == "outsider" or e.get("by") in rogue_keys], entries
        # The host's view holds exactly what the members hold: genesis + one entry per member.
        assert host["viewLength"] == len(entries) == 1 + len(members), (host, entries)
    assert host["writers"] == 1 + len(members), f"the host counts {host['writers']} writers"
    # Without the encryption key an outsider replicates ciphertext only: its view reads nothing.
    for pod in rogue:
        assert not [e for e in log_of(pod) if e.get("marker", "").startswith("member-")], pod["metadata"]["name"]


def test_host_only_clients_read_but_never_write(cluster: Cluster, ns: str) -> None:
    cluster.apply(member_topic("readers", ns, clients=2, policy="HostOnly"))
    wait_ready(cluster, "readers", ns)
    wait_for("2 clients", lambda: clients_ready(cluster, "readers", ns, 2))
    host = host_payload(cluster, "readers", ns)
    assert host["writersPolicy"] == "HostOnly" and host["writable"] is True, host
    assert host["viewLength"] >= 1, host  # the host's genesis entry
    clients = client_pods(cluster, "readers", ns)

    def refused() -> list[tuple[str, bool, int]]:
        return [(p["metadata"]["name"], peer_status(p)["writable"],
                 pod_http(p, APP_PORT, "/append", {"marker": "reader"})[0]) for p in clients]
    hold_for("no HostOnly client writable, every client append refused", refused,
             lambda seen: not any(writable or code == 200 for _, writable, code in seen),
             seconds=15, interval=2)
    for pod in clients:
        status = peer_status(pod)
        assert status["writersPolicy"] == "HostOnly" and status["replicated"], status
        entries = log_of(pod)
        # Replicated from the host: its entries (the genesis), and nothing else.
        assert len(entries) == host_payload(cluster, "readers", ns)["viewLength"], entries
        assert entries[0].get("type") == "genesis", entries
        assert not [e for e in entries if e.get("marker") == "reader"], entries
    assert host_payload(cluster, "readers", ns)["writers"] == 1
