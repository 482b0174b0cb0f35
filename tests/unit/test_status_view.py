"""`swarm-operator status`: the formatting, from objects recorded from a simulated-cluster run
(tests/unit/data/status_view: a topic that became Ready, one stuck on AnnounceTimeout; each with
its host pod and its events as the API server returned them)."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from swarm_operator.cli.topic_status import (
    TopicReport,
    duration,
    format_status,
    next_steps,
    parse_time,
    timeline,
)

DATA = Path(__file__).resolve().parent / "data" / "status_view"


def recorded(name: str, after: float = 30.0) -> TopicReport:
    raw: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())
    created = parse_time(raw["topic"]["metadata"]["creationTimestamp"])
    assert created is not None
    return TopicReport(topic=raw["topic"], host_pod=raw["host_pod"], events=raw["events"],
                       now=created + timedelta(seconds=after))


def section(text: str, title: str) -> str:
    return next(part for part in text.split("\n\n") if part.startswith(title))


def test_the_timeline_of_a_clean_start() -> None:
    report = recorded("chat")
    steps = timeline(report)
    assert [s.name for s in steps] == ["created", "host scheduled", "announce flushed", "key recorded",
                                      "clients ready"]
    assert all(s.at is not None for s in steps)
    at = {s.name: s.at for s in steps}
    pod_ready = next(c for c in report.host_pod["status"]["conditions"] if c["type"] == "Ready")
    assert at["announce flushed"] == parse_time(pod_ready["lastTransitionTime"])  # = host pod Ready
    assert at["created"] <= at["host scheduled"] <= at["announce flushed"] <= at["key recorded"] \
        <= at["clients ready"]
    text = section(format_status(report), "Bootstrap timeline:")
    total = duration((at["clients ready"] - at["created"]).total_seconds())
    assert text.splitlines()[-1].split()[:2] == ["clients", "ready"] and f" {total}" in text.splitlines()[-1]
    assert "2/2" in text and report.topic["status"]["baseKeyShort"] in text
    assert "bootstrapSeconds" in text


def test_a_ready_topic_needs_nothing() -> None:
    text = format_status(recorded("chat"))
    assert text.startswith("SwarmTopic default/chat\n  phase Ready, clients 2/2")
    assert section(text, "Next steps:") == "Next steps:\n  nothing: the topic is Ready\n"


def test_a_stuck_topic_says_why_and_what_to_do() -> None:
    report = recorded("nodht")
    text = format_status(report)
    steps = {s.name: s for s in timeline(report)}
    assert steps["announce flushed"].at is None and steps["key recorded"].at is None
    assert "announce flushed  -" in section(text, "Bootstrap timeline:")
    conditions = section(text, "Conditions:")
    assert "HostReady       False   AnnounceTimeout" in conditions
    advice = next_steps(report)
    assert advice[0].startswith("  HostReady (AnnounceTimeout): check that spec.dht.bootstrap")
    assert "kubectl logs nodht-host-0 -n default" in advice[0]
    # The steps that only wait for the host say so instead of advising on their own.
    assert advice[1:] == ["  BaseKeyRecorded (WaitingForHost): follows from HostReady (AnnounceTimeout)",
                          "  ClientsReady (WaitingForBaseKey): follows from HostReady (AnnounceTimeout)"]
    assert not any(line.lstrip().startswith("Ready (") for line in advice)  # Ready repeats HostReady


def test_events_are_the_last_ones_oldest_first() -> None:
    report = recorded("chat")
    assert len(report.events) >= 4
    text = section(format_status(report, events=3), "Events (latest last):")
    rows = text.splitlines()[2:]
    assert len(rows) == 3
    newest = max(report.events, key=lambda e: e["lastTimestamp"])
    assert newest["reason"] in " ".join(rows)
    warnings = section(format_status(recorded("nodht")), "Events (latest last):")
    assert "Warning AnnounceTimeout" in warnings


@pytest.mark.parametrize(("ctype", "status", "reason", "expect"), [
    ("Degraded", "True", "BaseKeyConflict", "restore the right PVC (data-chat-host-0)"),
    ("HostReady", "False", "WrongIdentity", "re-creates the identity Secret"),
    ("HostReady", "False", "SomethingNew", "kubectl describe pod chat-host-0 -n default"),
])
def test_advice_per_condition(ctype: str, status: str, reason: str, expect: str) -> None:
    report = recorded("chat")
    topic = copy.deepcopy(report.topic)
    for cond in topic["status"]["conditions"]:
        if cond["type"] == ctype:
            cond.update(status=status, reason=reason)
        if cond["type"] == "Ready":
            cond.update(status="False", reason=reason)
    advice = next_steps(TopicReport(topic=topic, now=report.now))
    assert len(advice) == 1 and advice[0].startswith(f"  {ctype} ({reason}): ") and expect in advice[0]


def test_paused_and_not_yet_reconciled() -> None:
    report = recorded("chat")
    topic = copy.deepcopy(report.topic)
    topic["status"]["phase"] = "Paused"
    assert "kubectl patch st chat -n default" in next_steps(TopicReport(topic=topic))[-1]
    fresh = {"metadata": topic["metadata"], "spec": topic["spec"]}
    text = format_status(TopicReport(topic=fresh, now=report.now))
    assert "(none yet: the operator has not reconciled this topic)" in text
    assert "no host pod" in text and "(none: events expire" in text


def test_a_host_pod_restarted_after_the_key_is_flagged() -> None:
    report = recorded("chat")
    pod = copy.deepcopy(report.host_pod)
    for cond in pod["status"]["conditions"]:
        if cond["type"] == "Ready":
            cond["lastTransitionTime"] = (report.now - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = section(format_status(TopicReport(topic=report.topic, host_pod=pod, events=[], now=report.now)),
                   "Bootstrap timeline:")
    line = next(x for x in text.splitlines() if "key recorded" in x)
    assert line.endswith("(before the step above, which happened again later)"), line
    assert "which happened again" not in next(x for x in text.splitlines() if "announce flushed" in x)


def test_durations() -> None:
    assert [duration(x) for x in (0, 1, 2.5, 42, 61, 3600 + 120, 3 * 86400)] == \
        ["0s", "1s", "2.5s", "42s", "1m01s", "1h02m", "3d"]
    assert isinstance(parse_time("2026-11-25T04:29:29Z"), datetime) and parse_time("soon") is None
