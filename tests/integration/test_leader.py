"""Two operator replicas, one leader (issue 13): the standby watches (warm caches) but writes
nothing; when the leader dies without a word mid-bootstrap (SIGKILL: its Lease is not released),
the standby takes the Lease once it expires and finishes the topic: one key, recorded once."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

from fakehost import FakeHost
from integration_support import Api, Operator, example_topic, wait_for
from localcluster.controlplane import ControlPlane, audit_events
from localcluster.testing import OPERATOR_NAMESPACE, OPERATOR_USER
from test_operator import KEY, NS, seed_of, start_host, wait_condition

LEASE = f"/apis/coordination.k8s.io/v1/namespaces/{OPERATOR_NAMESPACE}/leases/swarm-operator"
WRITES = ("create", "update", "patch", "delete")


def holder(api: Api) -> str | None:
    lease = api.get(LEASE)
    return ((lease or {}).get("spec") or {}).get("holderIdentity") or None


def stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def writes_of(plane: ControlPlane, identity: str) -> list[tuple[float, str]]:
    """The writes of one replica (its user agent names it), its Lease aside, and the question who it
    is (a SelfSubjectReview at start-up stores nothing)."""
    out = {}
    for e in audit_events(plane.audit_log):
        if e.get("user", {}).get("username") != OPERATOR_USER or f"({identity})" not in e.get("userAgent", ""):
            continue
        if e.get("verb") in WRITES and (e.get("objectRef") or {}).get("resource") not in ("leases",
                                                                                          "selfsubjectreviews"):
            out[e["auditID"]] = (stamp(e["requestReceivedTimestamp"]), f"{e['verb']} {e['requestURI']}")
    return sorted(out.values())


def events_of(api: Api, reason: str) -> list[dict[str, Any]]:
    return [e for e in api.items(f"/api/v1/namespaces/{NS}/events") if e.get("reason") == reason]


def test_the_standby_takes_over_a_dead_leader_mid_bootstrap(
        api: Api, api_server: ControlPlane, operator_kubeconfig_path: Path, tmp_path: Path) -> None:
    leader = Operator(str(operator_kubeconfig_path), tmp_path / "a.log", identity="replica-a")
    standby = Operator(str(operator_kubeconfig_path), tmp_path / "b.log", identity="replica-b")
    leader.start()
    try:
        wait_for("replica-a to lead", lambda: holder(api) == "replica-a" and "caches synced" in leader.log(), 30)
        standby.start()
        wait_for("replica-b's caches", lambda: "caches synced" in standby.log(), 30)
        api.create(api.topic_path(NS), example_topic("chat", clients=2))
        with FakeHost(seed_of(api, "chat"), "chat", KEY) as host:
            start_host(api, "chat", host, ready=False)
            wait_condition(api, "chat", "HostReady", "False", "WaitingForAnnounce")
            assert holder(api) == "replica-a"
            killed = time.time()
            leader.kill()  # mid-bootstrap, the Lease still held
            start_host(api, "chat", host, ready=True)
            wait_for("replica-b to lead", lambda: holder(api) == "replica-b", 30)
            took_over = stamp(api.get(LEASE)["spec"]["acquireTime"])  # type: ignore[index]
            wait_condition(api, "chat", "BaseKeyRecorded", "True", timeout=30)
            wait_for("2 client replicas wanted", lambda: [
                d for d in api.items(f"/apis/apps/v1/namespaces/{NS}/deployments") if d["spec"]["replicas"] == 2])
        print(f"takeover {took_over - killed:.1f} s after the leader's death (lease 10 s, retry 2 s)")
        assert api.topic(NS, "chat")["status"]["baseKey"] == KEY
        time.sleep(2.0)  # the audit log is written in batches of up to 1 s
        early = [w for t, w in writes_of(api_server, "replica-b") if t < took_over]
        assert early == [], f"the standby wrote before it led: {early}"
        late = [w for t, w in writes_of(api_server, "replica-a") if t > killed + 0.5]
        assert late == [], f"the dead leader wrote: {late}"
        assert writes_of(api_server, "replica-b"), "the new leader did nothing"
        assert len(events_of(api, "BaseKeyRecorded")) == 1, "the key's event was posted twice"
    finally:
        standby.stop()
        leader.stop()
        print("replica-b:", standby.log()[-2500:])


def test_a_leader_that_stops_cleanly_hands_over_at_once(
        api: Api, operator_kubeconfig_path: Path, tmp_path: Path) -> None:
    first = Operator(str(operator_kubeconfig_path), tmp_path / "a.log", identity="replica-a")
    second = Operator(str(operator_kubeconfig_path), tmp_path / "b.log", identity="replica-b")
    first.start()
    try:
        wait_for("replica-a to lead", lambda: holder(api) == "replica-a", 30)
        second.start()
        wait_for("replica-b's caches", lambda: "caches synced" in second.log(), 30)
        stopped = time.time()
        first.stop()  # SIGTERM: the Lease is released
        # Released, not expired: a Lease left to expire would take 8 s or more.
        wait_for("replica-b to lead", lambda: holder(api) == "replica-b", 6)
        print(f"handover {time.time() - stopped:.1f} s after a clean stop")
        assert "released the lease" in first.log()
    finally:
        second.stop()
        first.stop()
