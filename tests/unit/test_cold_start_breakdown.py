"""The cold-start benchmark's pure parts: where each second of apply -> all clients Ready went, from a
recorded timeline (bench/timeline.py), and the env the container floor gives its peers, resolved as
the kubelet resolves the operator's pod env (bench/container_floor.py)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
from swarm_operator import names
from swarm_operator.children.deployment import client_env
from swarm_operator.children.statefulset import host_env
from swarm_operator.models import SwarmTopicSpec

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from container_floor import resolve_env
from timeline import COARSE, CRITICAL_PATH, Timeline, critical_path, epoch, log_marks

# A recorded cold start (seconds on the bench's monotonic clock), two clients: c1 turns Ready last.
SEEN = {"applied": 100.0, "created": 100.3, "statefulset": 100.35, "host created": 100.5,
        "encryption": 100.55, "host scheduled": 100.9, "host container": 101.0, "host started": 101.6,
        "host announced": 102.6, "host ready": 103.3, "deployment": 103.5, "topic ready": 108.2,
        "converged": 108.25}
C1 = {"created": 103.6, "scheduled": 103.8, "container": 104.0, "started": 104.7, "replicated": 107.4}


def recorded() -> Timeline:
    t = Timeline(clients=2, wall_offset=0.0)
    t.seen.update(SEEN)
    t.pods = {"c0": {"created": 103.6, "scheduled": 103.7}, "c1": dict(C1)}
    t.client_ready = {"c0": 106.0, "c1": 108.1}
    return t


def test_the_segments_add_up_to_apply_to_all_clients_ready() -> None:
    b = recorded().breakdown()
    assert b["= total"] == pytest.approx(8.25)
    segments = [b[label] for label, _, _ in CRITICAL_PATH]
    assert sum(segments) == pytest.approx(b["= total"])
    assert b["host scheduled -> its key Secret"] == 0.0  # the Secret came first: nothing to wait for
    assert b["host: -> program's first log line"] == pytest.approx(0.7)  # from scheduled, not the Secret
    assert b["host: announced -> pod Ready"] == pytest.approx(0.7)
    assert b["host Ready (or its report) -> client Deployment"] == pytest.approx(0.2)
    assert b["client: first log -> replicated"] == pytest.approx(2.7)  # the LAST client's path
    assert b["client: replicated -> pod Ready"] == pytest.approx(0.7)
    assert b["= control plane"] == pytest.approx(0.3 + 0.15 + 0.4 + 0.1 + 0.2)
    assert b["= operator"] == pytest.approx(0.05 + 0.2 + 0.1)
    assert b["= node"] == pytest.approx(0.7 + 0.9)
    assert b["= peer"] == pytest.approx(1.0 + 2.7)
    assert b["= probe"] == pytest.approx(1.4)
    assert sum(b[f"= {c}"] for c in ("control plane", "operator", "node", "peer", "probe", "bench")) \
        == pytest.approx(b["= total"])
    # The coarse split of the node's time at the container's startedAt.
    assert b[f"{COARSE}host: scheduled -> container startedAt"] == pytest.approx(0.1)
    assert b[f"{COARSE}client: startedAt -> first log line"] == pytest.approx(0.7)


def test_a_milestone_not_seen_is_nan_and_the_next_segment_takes_its_time() -> None:
    milestones = {k: v for k, v in SEEN.items() if k != "host announced"}
    b = critical_path(milestones)
    assert math.isnan(b["host: first log -> announce flushed"])
    assert b["host: announced -> pod Ready"] == pytest.approx(1.7)
    assert Timeline(clients=3).last_client() is None  # not every client Ready: no client path


def test_the_operators_share_is_unchanged() -> None:
    share = recorded().share()
    assert share["operator"] == pytest.approx(0.05 + 0.0 + 0.2 + 0.1)
    assert share["total"] == pytest.approx(7.9)


def test_a_key_read_from_the_hosts_report_before_its_pod_is_ready_takes_the_probe_off_the_path() -> None:
    """The operator read the report as soon as the announce flushed: the Deployment came before the
    host pod's Ready, which is not on the way; the operator's step runs from the announce."""
    t = recorded()
    t.seen["deployment"] = 102.8  # 0.2 s after the announce, 0.5 s before the pod's Ready
    t.pods["c1"].update({"created": 102.9})
    b = t.breakdown()
    assert b["host: announced -> pod Ready"] == 0.0
    assert b["host Ready (or its report) -> client Deployment"] == pytest.approx(0.2)
    assert b["Deployment -> last client's pod"] == pytest.approx(0.1)
    assert b["= probe"] == pytest.approx(0.7)  # the client's probe alone
    assert sum(b[label] for label, _, _ in CRITICAL_PATH) == pytest.approx(b["= total"])
    share = t.share()
    assert share["host Ready (or its report)->client Deployment"] == pytest.approx(0.2)
    assert share["operator"] == pytest.approx(0.05 + 0.0 + 0.2 + 0.1)


def test_a_peers_log_gives_its_own_moments() -> None:
    log = "\n".join([
        '{"time":"2026-12-05T18:00:19.198Z","level":"info","msg":"status server listening"}',
        "not json",
        '{"time":"2026-12-05T18:00:20.500Z","level":"info","msg":"announced","announceSeconds":1.2}',
        '{"time":"2026-12-05T18:00:21.000Z","level":"info","msg":"announced"}',
    ])
    marks = log_marks(log, ("announced",))
    assert marks["announced"] - marks["started"] == pytest.approx(1.302)
    assert epoch("2026-12-05T18:00:19Z") == pytest.approx(marks["started"] - 0.198)


def test_the_container_floor_gives_each_peer_its_pods_env() -> None:
    spec = SwarmTopicSpec.model_validate({"topic": "chat", "dht": {"bootstrap": ["10.89.0.2:49737"]}})
    host = resolve_env(host_env("t", spec), "10.89.0.3", {})
    assert host[names.ENV_DHT_HOST] == "10.89.0.3" and host[names.ENV_TOPIC] == "chat"
    assert host[names.ENV_DHT_BOOTSTRAP] == "10.89.0.2:49737"
    assert names.ENV_BASE_KEY not in host  # optional and not recorded yet: left out, as the kubelet does
    keys = {names.CM_BASE_KEY: "ab" * 32, names.CM_HOST_PUBLIC_KEY: "cd" * 32}
    client = resolve_env(client_env("t", spec), "10.89.0.4", keys)
    assert client[names.ENV_BASE_KEY] == "ab" * 32 and client[names.ENV_HOST_PUBLIC_KEY] == "cd" * 32
    assert client[names.ENV_REQUIRE_BOOTSTRAP] == "true"
    with pytest.raises(ValueError, match=names.CM_BASE_KEY):
        resolve_env(client_env("t", spec), "10.89.0.4", {})  # a client cannot start without the key


def test_how_far_ahead_of_the_hosts_ready_the_clients_came() -> None:
    t = recorded()
    assert t.ahead_of_ready() == pytest.approx(-0.2)  # the Deployment after the pod's Ready
    t.seen["deployment"] = 102.8
    assert t.ahead_of_ready() == pytest.approx(0.5)
    del t.seen["host ready"]
    assert math.isnan(t.ahead_of_ready())
