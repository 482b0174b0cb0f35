"""What the topic says about its host: not a writer, a base nobody serves, stuck (kubectl get).

Each case reads the topic's conditions and `kubectl get swarmtopic` as a user would.
"""

from __future__ import annotations

import json
import os
from typing import Any

from e2e_support import (
    GROUP_PLURAL,
    Cluster,
    client_pods,
    clients_ready,
    condition,
    hold_for,
    pod_http,
    pod_ready,
    printed_columns,
    topic_manifest,
    wait_for,
    wait_ready,
)

STATUS_PORT = 8080


def condition_reason(cluster: Cluster, name: str, ns: str, ctype: str,
                     reason: str) -> dict[str, Any] | None:
    cond = condition(cluster.topic(name, ns), ctype)
    return cond if cond and cond["reason"] == reason else None


def printed_row(cluster: Cluster, name: str, ns: str) -> dict[str, str]:
    """The topic's row of `kubectl get swarmtopic` (the printer columns a user sees)."""
    rows = printed_columns(cluster.kubectl("get", GROUP_PLURAL, name, "-n", ns))
    assert len(rows) == 1, rows
    return rows[0]


def test_wiped_host_volume_shows_host_not_writable(cluster: Cluster, ns: str) -> None:
    cluster.apply(topic_manifest("wipedw", ns, clients=1))
    topic = wait_ready(cluster, "wipedw", ns)
    writable = condition(topic, "HostWritable")
    assert writable is not None and writable["status"] == "True", writable
    wait_for("1 client", lambda: clients_ready(cluster, "wipedw", ns, 1))
    old_uid = cluster.get_json("pods", "wipedw-host-0", ns)["metadata"]["uid"]
    # As in test_faults: the PVC first, then the pod; the StatefulSet recreates both, the volume
    # empty, and the host rejoins the recorded base by key with a new, non-writer local core.
    cluster.delete("pvc", "data-wipedw-host-0", ns)
    cluster.delete("pod", "wipedw-host-0", ns)

    def replaced() -> bool:
        pod = cluster.get_json("pods", "wipedw-host-0", ns)
        return bool(pod) and pod["metadata"]["uid"] != old_uid and pod_ready(pod)
    wait_for("a new host pod Ready", replaced, timeout=180)
    cond = wait_for("HostWritable=False/HostNotWritable", lambda: condition_reason(
        cluster, "wipedw", ns, "HostWritable", "HostNotWritable"), timeout=60)
    assert cond["status"] == "False"
    topic = cluster.topic("wipedw", ns)
    assert condition(topic, "Ready")["status"] == "False", "a host that cannot write is not Ready"
    row = printed_row(cluster, "wipedw", ns)
    assert (row["PHASE"], row["REASON"]) == ("Stuck", "HostNotWritable"), row


def test_adopted_base_nobody_serves_is_base_unreachable(cluster: Cluster, ns: str) -> None:
    nobodys = os.urandom(32).hex()  # a well-formed base key no peer anywhere has
    cluster.apply(topic_manifest("orphan", ns, clients=1, announce_timeout=60, baseKey=nobodys))
    wait_for("HostWritable=False/BaseUnreachable", lambda: condition_reason(
        cluster, "orphan", ns, "HostWritable", "BaseUnreachable"), timeout=120)
    # The topic's own client holds nothing of the base either: once it is connected to the host,
    # the base is still served by nobody, and the topic must still say so.
    wait_for("the client connected to the host", lambda: any(
        client_sees_host(p) for p in client_pods(cluster, "orphan", ns)), timeout=120)
    wait_for("the host to report a peer", lambda: host_peers(cluster, "orphan", ns) > 0, timeout=30)

    # A dozen of the operator's reconcile intervals (1 s in the suite): the condition stays.
    hold_for("HostWritable=False/BaseUnreachable with the client connected",
             lambda: condition(cluster.topic("orphan", ns), "HostWritable"),
             lambda cond: bool(cond) and (cond["status"], cond["reason"]) == ("False", "BaseUnreachable"),
             seconds=12)
    topic = cluster.topic("orphan", ns)
    cond = condition(topic, "HostWritable")
    assert nobodys in cond["message"], cond["message"]
    assert topic["status"].get("phase") != "RollingOut", topic["status"]
    row = printed_row(cluster, "orphan", ns)
    assert (row["PHASE"], row["REASON"]) == ("Stuck", "BaseUnreachable"), row


def client_sees_host(pod: dict[str, Any]) -> bool:
    if not pod["status"].get("podIP"):
        return False
    try:
        return bool(peer_report(pod).get("hostConnected"))
    except OSError:  # not listening yet
        return False


def peer_report(pod: dict[str, Any]) -> dict[str, Any]:
    code, body = pod_http(pod, STATUS_PORT, "/status")
    return body if code == 200 and body else {}


def host_peers(cluster: Cluster, name: str, ns: str) -> int:
    pod = cluster.get_json("pods", f"{name}-host-0", ns)
    return int(json.loads(cluster.peer_status(pod)["payload"])["peers"])


def test_unreachable_dht_prints_stuck_and_the_reason(cluster: Cluster, ns: str) -> None:
    # A bootstrap name that resolves nowhere (no such Service in this namespace): the host can
    # never announce, and no packet leaves for any address.
    manifest = topic_manifest("nodht", ns, clients=1, announce_timeout=5)
    manifest["spec"]["dht"] = {"bootstrap": [f"swarm-dht-0.swarm-dht.{ns}.svc.cluster.local:49737"]}
    cluster.apply(manifest)
    wait_for("HostReady=False/AnnounceTimeout", lambda: condition_reason(
        cluster, "nodht", ns, "HostReady", "AnnounceTimeout"), timeout=90)
    row = wait_for("kubectl get to print Stuck", lambda: (
        r if (r := printed_row(cluster, "nodht", ns))["PHASE"] == "Stuck" else None), timeout=30)
    assert row["REASON"] == "AnnounceTimeout", row
    assert row["BASE KEY"] == "" and row["CLIENTS"] in ("", "0/1"), row
