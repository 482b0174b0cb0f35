"""The per-topic series (kube-state-metrics style), read back through prometheus_client's own
registry and text exposition."""

from __future__ import annotations

import re
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from swarm_operator import metrics
from swarm_operator.metrics import PHASES, TopicMetrics, TopicSample

KEY = "ab" * 32


def recorded_status(phase: str = "RollingOut", ready: int = 2) -> dict[str, Any]:
    return {
        "phase": phase,
        "baseKey": KEY,
        "hostPublicKey": "cd" * 32,
        "bootstrapSeconds": 4.25,
        "clients": [{"name": "kv", "replicas": 3, "readyReplicas": ready},
                    {"name": "web", "replicas": 2, "readyReplicas": 5}],
        "conditions": [
            {"type": "HostReady", "status": "True", "reason": "AnnounceFlushed"},
            {"type": "BaseKeyRecorded", "status": "True", "reason": "Recorded"},
            {"type": "ClientsReady", "status": "False", "reason": "RollingOut"},
            {"type": "Ready", "status": "False", "reason": "RollingOut"},
        ],
    }


def fresh() -> tuple[CollectorRegistry, TopicMetrics]:
    registry = CollectorRegistry()
    collector = TopicMetrics()
    registry.register(collector)
    return registry, collector


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def series(registry: CollectorRegistry, name: str) -> list[dict[str, str]]:
    return [s.labels for fam in registry.collect() for s in fam.samples if s.name == name]


def test_one_topic_gives_kube_state_metrics_style_series() -> None:
    registry, collector = fresh()
    sample = TopicSample.from_status(recorded_status(), host_ready=True, paused=False)
    collector.set("apps", "chat", sample)
    topic = {"namespace": "apps", "topic": "chat"}
    for phase in PHASES:  # a state set: one series per phase, 1 for the current one
        assert value(registry, "swarm_operator_topic_phase", **topic, phase=phase) == (phase == "RollingOut")
    assert value(registry, "swarm_operator_topic_bootstrap_seconds", **topic) == 4.25
    assert value(registry, "swarm_operator_topic_clients_ready", **topic) == 4  # 2 of 3 + 2 of 2
    assert value(registry, "swarm_operator_topic_clients_desired", **topic) == 5
    for status in ("True", "False", "Unknown"):
        assert value(registry, "swarm_operator_topic_condition", **topic, condition="HostReady",
                     status=status) == (status == "True")
        assert value(registry, "swarm_operator_topic_condition", **topic, condition="ClientsReady",
                     status=status) == (status == "False")
    assert series(registry, "swarm_operator_topic_reason") == [{**topic, "reason": "RollingOut"}]


def test_a_topic_without_a_key_has_no_bootstrap_series_and_says_why() -> None:
    registry, collector = fresh()
    status = {"phase": "Stuck", "conditions": [
        {"type": "HostReady", "status": "False", "reason": "AnnounceTimeout"},
        {"type": "Ready", "status": "False", "reason": "AnnounceTimeout"}]}
    collector.set("apps", "nodht", TopicSample.from_status(status, host_ready=False, paused=False))
    assert series(registry, "swarm_operator_topic_bootstrap_seconds") == []
    assert series(registry, "swarm_operator_topic_clients_ready") == []
    assert series(registry, "swarm_operator_topic_reason") == [
        {"namespace": "apps", "topic": "nodht", "reason": "AnnounceTimeout"}]
    assert value(registry, "swarm_operator_topics_without_ready_host") == 1
    # An explicit status.reason (the REASON printer column) wins over the Ready condition's.
    status["reason"] = "NameConflict"
    collector.set("apps", "nodht", TopicSample.from_status(status, host_ready=False, paused=False))
    assert series(registry, "swarm_operator_topic_reason")[0]["reason"] == "NameConflict"


def test_a_ready_topic_has_no_reason_series() -> None:
    registry, collector = fresh()
    status = recorded_status("Ready", ready=3)
    status["conditions"][-1] = {"type": "Ready", "status": "True", "reason": "Ready"}
    collector.set("apps", "chat", TopicSample.from_status(status, host_ready=True, paused=False))
    assert series(registry, "swarm_operator_topic_reason") == []
    assert value(registry, "swarm_operator_topic_clients_ready", namespace="apps", topic="chat") == 5


def test_series_go_with_their_topic_and_totals_count_phases() -> None:
    registry, collector = fresh()
    collector.set("apps", "a", TopicSample(phase="Ready", host_ready=True))
    collector.set("apps", "b", TopicSample(phase="Paused", paused=True))
    collector.set("other", "a", TopicSample(phase="Bootstrapping"))
    collector.set("other", "a", TopicSample(phase="RollingOut", host_ready=True))  # replaced, not added
    assert value(registry, "swarm_operator_topics", phase="Ready") == 1
    assert value(registry, "swarm_operator_topics", phase="RollingOut") == 1
    assert value(registry, "swarm_operator_topics", phase="Bootstrapping") == 0
    assert value(registry, "swarm_operator_topics_without_ready_host") == 0  # paused is not counted
    assert len(series(registry, "swarm_operator_topic_phase")) == 3 * len(PHASES)
    collector.forget("apps", "a")
    collector.forget("apps", "gone-already")  # forgetting an unknown topic is harmless
    topics = {(s["namespace"], s["topic"]) for s in series(registry, "swarm_operator_topic_phase")}
    assert topics == {("apps", "b"), ("other", "a")}
    assert value(registry, "swarm_operator_topics", phase="Ready") == 0


def test_an_unexpected_phase_is_shown_not_dropped() -> None:
    registry, collector = fresh()
    collector.set("apps", "old", TopicSample(phase="Degraded"))
    assert value(registry, "swarm_operator_topic_phase", namespace="apps", topic="old", phase="Degraded") == 1
    assert value(registry, "swarm_operator_topics", phase="Degraded") == 1


def test_the_operator_registry_exposes_them_as_valid_text() -> None:
    metrics.topic_metrics.set("apps", "chat", TopicSample.from_status(recorded_status(), host_ready=True,
                                                                      paused=False))
    try:
        text = generate_latest(metrics.REGISTRY).decode()
    finally:
        metrics.topic_metrics.forget("apps", "chat")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in ("swarm_operator_topic_phase", "swarm_operator_topic_bootstrap_seconds",
                 "swarm_operator_topic_clients_ready", "swarm_operator_topic_clients_desired",
                 "swarm_operator_topic_condition", "swarm_operator_topic_reason",
                 "swarm_operator_topics", "swarm_operator_topics_without_ready_host"):
        assert families[name].type == "gauge", name
    assert not re.search(r'="[0-9a-f]{64}"', text), "a key became a label value"
    assert 'swarm_operator_topic_phase{namespace="apps",phase="RollingOut",topic="chat"} 1.0' in text \
        or 'swarm_operator_topic_phase{namespace="apps",topic="chat",phase="RollingOut"} 1.0' in text


def test_the_api_clients_window_and_429s_are_exported() -> None:
    from prometheus_client import generate_latest
    from swarm_operator import metrics
    from swarm_operator.api.throttle import Throttle

    throttle = Throttle()
    throttle.answered("POST secrets", 0.01, retry_after=1.0)  # a 429: the window halves
    metrics.api_stats.source = lambda: (throttle.window.limit, 1, throttle.waiting)
    try:
        text = generate_latest(metrics.REGISTRY).decode()
    finally:
        metrics.api_stats.source = None
    assert "swarm_operator_api_window 4.0" in text and "swarm_operator_api_throttled_total 1.0" in text
    assert "swarm_operator_api_waiting_requests 0.0" in text
