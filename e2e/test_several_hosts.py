"""A topic of three indexer hosts outlives the loss of any one (issue 18), on the local cluster's
real node, with members writing all along through their app API:

1. host 1's pod killed: members' writes are confirmed while it is down, and a new client pod is
   admitted as a writer;
2. host 1's volume and pod deleted (a lost disk): a fresh host 1 is promoted and its old key
   replaced with no human step; Ready again with 3/3 indexers on the same base key;
3. the same for host 0, the base's creator;
4. two volumes lost for good: QuorumLost, and nothing is ever made anew on another base;
and, on a topic of its own, one host to three on a live topic.

Every entry a member acknowledged before a fault is found in every member's view after it. The
figures (seconds from each fault to what it asks) are printed, never asserted.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

import pytest
from e2e_support import (
    APP_PORT,
    HOSTS,
    Cluster,
    client_pods,
    condition,
    every_view_holds,
    hosts_ready,
    open_app_api,
    pod_http,
    pod_ready,
    topic_manifest,
    wait_for,
    wait_ready,
)


def ha_topic(name: str, ns: str, clients: int = 2, hosts: int = 3) -> dict[str, Any]:
    manifest = topic_manifest(name, ns, clients=clients, hosts=hosts)
    open_app_api(manifest["spec"]["clients"][0], APP_PORT)
    return manifest


class Writers:
    """Appends an entry every 0.3 s through the client pods' app APIs (round robin) and keeps every
    acknowledged one; `confirmed_after(t)` is when the first entry written after `t` was confirmed
    (the writer's view's signed length passed it)."""

    def __init__(self, cluster: Cluster, name: str, ns: str) -> None:
        self.cluster, self.name, self.ns = cluster, name, ns
        self.acked: list[tuple[str, float, str]] = []  # (id, written at, by which pod)
        self.confirmations: list[tuple[float, float]] = []  # (written at, confirmed at)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ids = itertools.count()

    def __enter__(self) -> Writers:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        pending: list[tuple[dict[str, Any], float, int]] = []
        while not self._stop.is_set():
            pods = [p for p in client_pods(self.cluster, self.name, self.ns) if pod_ready(p)]
            for pod in pods:
                entry = f"e{next(self._ids)}"
                try:
                    code, body = pod_http(pod, APP_PORT, "/append", {"key": entry, "value": entry}, timeout=3)
                except OSError:
                    continue
                if code == 200:
                    at = time.monotonic()
                    self.acked.append((entry, at, pod["metadata"]["name"]))
                    pending.append((pod, at, int(body["viewLength"])))
            pending = self._confirm(pending)
            time.sleep(0.3)

    def _confirm(self, pending: list[tuple[dict[str, Any], float, int]]) -> list[tuple[dict[str, Any], float, int]]:
        left = []
        for pod, at, length in pending:
            try:
                code, log = pod_http(pod, APP_PORT, "/log?start=999999999", timeout=3)
            except OSError:
                code, log = 0, None
            if code == 200 and int(log.get("signedLength") or 0) >= length:
                self.confirmations.append((at, time.monotonic()))
            elif time.monotonic() - at < 120:
                left.append((pod, at, length))
        return left

    def confirmed_after(self, since: float, timeout: float = 60) -> float:
        found = wait_for("a member write confirmed", lambda: next(
            (c - since for w, c in self.confirmations if w >= since), None), timeout=timeout)
        return round(found, 2)


def lose_disks(cluster: Cluster, name: str, ns: str, *ordinals: int) -> None:
    """Delete hosts' volumes and then, at once and with no grace (their nodes are gone), their pods:
    the StatefulSet makes both again, empty."""
    for ordinal in ordinals:
        cluster.kubectl("delete", "pvc", f"data-{name}-host-{ordinal}", "-n", ns, "--wait=false")
    cluster.kubectl("delete", "pod", *(f"{name}-host-{o}" for o in ordinals), "-n", ns, "--wait=false",
                    "--grace-period=0", "--force")


def host_writer_key(cluster: Cluster, name: str, ns: str, ordinal: int) -> str | None:
    pod = cluster.get_json("pods", f"{name}-host-{ordinal}", ns)
    if not pod or not pod.get("status", {}).get("podIP"):
        return None
    try:
        return json.loads(cluster.peer_status(pod)["payload"])["writerKey"]
    except (OSError, KeyError, AssertionError):
        return None


@pytest.mark.timeout(900)
def test_three_hosts_outlive_the_loss_of_any_one_and_say_when_a_majority_is_gone(cluster: Cluster, ns: str) -> None:
    name = "ha"
    cluster.apply(ha_topic(name, ns))
    topic = wait_ready(cluster, name, ns, timeout=240)
    key = topic["status"]["baseKey"]
    wait_for("3/3 indexers", lambda: hosts_ready(cluster, name, ns, 3), timeout=180)
    figures: dict[str, Any] = {}
    with Writers(cluster, name, ns) as writers:
        wait_for("a first write confirmed", lambda: writers.confirmations, timeout=60)
        # 1. Host 1 killed: writes confirmed meanwhile; a new member admitted meanwhile.
        killed = time.monotonic()
        cluster.kubectl("delete", "pod", f"{name}-host-1", "-n", ns, "--grace-period=0", "--force")
        figures["hostKilledToWriteConfirmedSeconds"] = writers.confirmed_after(killed)
        members = {p["metadata"]["name"] for p in client_pods(cluster, name, ns)}
        admitted = time.monotonic()
        cluster.kubectl("patch", "swarmtopic", name, "-n", ns, "--type=json", "-p",
                        json.dumps([{"op": "replace", "path": "/spec/clients/0/replicas", "value": 3}]))
        wait_for("a new member's write acknowledged", lambda: any(
            by not in members for _, at, by in writers.acked if at > admitted), timeout=120)
        figures["newMemberWritesWithHostDownSeconds"] = round(time.monotonic() - admitted, 2)
        wait_for("3/3 indexers after the kill", lambda: hosts_ready(cluster, name, ns, 3), timeout=180)
        before = [w for w, _, _ in writers.acked]
        # 2. and 3. A lost disk, of host 1 then of host 0 (the creator): healed with no human step.
        for ordinal in (1, 0):
            old = host_writer_key(cluster, name, ns, ordinal)
            lost = time.monotonic()
            lose_disks(cluster, name, ns, ordinal)
            wait_for(f"host {ordinal} on a new key", lambda o=ordinal, k=old: (
                (w := host_writer_key(cluster, name, ns, o)) is not None and w != k), timeout=180)
            wait_for(f"3/3 indexers after host {ordinal}'s disk", lambda: hosts_ready(cluster, name, ns, 3),
                     timeout=180)
            figures[f"host{ordinal}DiskLostTo3of3Seconds"] = round(time.monotonic() - lost, 2)
            assert wait_ready(cluster, name, ns)["status"]["baseKey"] == key
        time.sleep(2)
    missing = every_view_holds(cluster, name, ns, before)
    figures.update(acknowledged=len(before), missingPerMember=missing)
    print("several hosts:", json.dumps(figures))
    assert set(missing.values()) == {0}, missing
    # 4. Two disks lost for good: the quorum cannot come back, and nothing is made anew.
    olds = {o: host_writer_key(cluster, name, ns, o) for o in (1, 2)}
    lose_disks(cluster, name, ns, 1, 2)  # together: neither is there to promote the other
    for o, k in olds.items():  # the disks are really new (the StatefulSet waits for a PVC being deleted)
        wait_for(f"host {o} on a new key", lambda o=o, k=k: (
            (w := host_writer_key(cluster, name, ns, o)) is not None and w != k), timeout=180)

    def quorum() -> dict[str, Any] | None:
        topic = cluster.topic(name, ns) or {}
        print("  quorum:", condition(topic, "Quorum"), (topic.get("status") or {}).get("hosts"))
        found = condition(topic, "Quorum")
        return found if found and found["reason"] == "QuorumLost" else None

    lost = wait_for("QuorumLost", quorum, timeout=240, interval=10)
    assert "lost their disks" in lost["message"]
    topic = cluster.topic(name, ns)
    assert topic["status"]["phase"] == "Stuck" and topic["status"]["baseKey"] == key
    keys = {json.loads(cluster.peer_status(p)["payload"])["baseKey"]
            for p in cluster.pods(ns, f"swarm-operator.dev/topic={name},{HOSTS}") if p.get("status", {}).get("podIP")}
    assert keys == {key}, keys  # every host, old or new, on the one base


@pytest.mark.timeout(600)
def test_one_host_to_three_on_a_live_topic(cluster: Cluster, ns: str) -> None:
    name = "grow"
    cluster.apply(ha_topic(name, ns, clients=1, hosts=1))
    key = wait_ready(cluster, name, ns, timeout=240)["status"]["baseKey"]
    cluster.kubectl("patch", "swarmtopic", name, "-n", ns, "--type=merge", "-p",
                    json.dumps({"spec": {"bootstrapHost": {"replicas": 3}}}))

    def three() -> bool:
        sts = cluster.get_json("statefulset", f"{name}-host", ns) or {}
        pods = cluster.pods(ns, f"swarm-operator.dev/topic={name},{HOSTS}")
        print("  grow:", (sts.get("spec") or {}).get("replicas"), (sts.get("spec") or {}).get("updateStrategy"),
              {k: v for k, v in (sts.get("status") or {}).items() if "evision" in k or "eplicas" in k},
              [(p["metadata"]["name"], pod_ready(p), p["metadata"]["labels"].get("controller-revision-hash"))
               for p in pods], ((cluster.topic(name, ns) or {}).get("status") or {}).get("hosts"))
        return hosts_ready(cluster, name, ns, 3)

    wait_for("3/3 indexers", three, timeout=300, interval=15)
    topic = wait_ready(cluster, name, ns)
    assert topic["status"]["baseKey"] == key and condition(topic, "Quorum")["reason"] == "QuorumHeld"
