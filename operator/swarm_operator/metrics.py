"""The operator's Prometheus metrics (SPEC section 6) and the per-topic series.

Names are prefixed `swarm_operator_`, durations are in seconds with explicit buckets: cold-start
discovery takes from tens of milliseconds to minutes, far past the client library's 10 s default.
No label carries a key or a pod name.

Per-topic series follow kube-state-metrics: labels `namespace` and `topic`, one series per topic
(per phase / condition status for the state sets), gone when the topic goes. The controller hands
over one `TopicSample` per reconcile outcome (`topic_metrics.set`, a dict assignment: O(1)) and
`topic_metrics.forget` when a topic is deleted; the series, and the per-phase totals, are built at
scrape time from that table. Cardinality: at most 6 + 3 x conditions + 10 series per topic.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .reasons import Phase

DURATION_BUCKETS = (
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
)
PHASES = tuple(str(p) for p in Phase)
CONDITION_STATUSES = ("True", "False", "Unknown")

REGISTRY = CollectorRegistry(auto_describe=True)


def _seconds(name: str, text: str) -> Histogram:
    return Histogram(f"swarm_operator_{name}_seconds", text, buckets=DURATION_BUCKETS, registry=REGISTRY)


def _counter(name: str, text: str) -> Counter:
    """A counter, exposed as `swarm_operator_<name>_total`."""
    return Counter(f"swarm_operator_{name}", text, registry=REGISTRY)


bootstrap_duration = _seconds("bootstrap_duration", "Time from a SwarmTopic first seen to its base key recorded.")
host_announce_duration = _seconds("host_announce_duration",
                                  "Announce-flush time of the bootstrap host, as the host reports it.")
client_rollout_duration = _seconds("client_rollout_duration",
                                   "Time from the base key recorded to all client replicas ready.")
reconcile_duration = _seconds("reconcile_duration", "Duration of one reconcile of one SwarmTopic.")
reconcile_errors = _counter("reconcile_errors", "Reconciles that ended in an error.")
base_key_conflicts = _counter("base_key_conflicts", "Times a host reported a base key other than the recorded one.")
# Beyond SPEC section 6, for the chart's alerts (a stuck bootstrap, no ready host).
announce_timeouts = _counter("announce_timeouts", "Times a bootstrap host was not ready within announceTimeoutSeconds.")


leader = Gauge(
    "swarm_operator_leader",
    "1 while this replica holds the leader Lease and reconciles, 0 while it stands by.",
    registry=REGISTRY,
)


@dataclass(frozen=True)
class TopicSample:
    """What the per-topic series say about one SwarmTopic, as last reconciled."""

    phase: str
    host_ready: bool = False
    paused: bool = False
    bootstrap_seconds: float | None = None  # None: no key recorded yet (no series)
    clients_ready: int | None = None
    clients_desired: int | None = None
    conditions: tuple[tuple[str, str], ...] = ()  # (type, status) in status order
    reason: str = ""  # why the topic is not Ready ("" when it is)
    hosts_ready: int = 0
    hosts_desired: int = 1
    # Several hosts (None with one): whether a majority of indexers is up, how many indexers the
    # base has, and the most entries any host holds unconfirmed.
    quorum: bool | None = None
    indexers: int | None = None
    unconfirmed: int | None = None

    @classmethod
    def from_status(cls, status: Mapping[str, Any], *, host_ready: bool, paused: bool,
                    host_stats: Mapping[str, Any] | None = None) -> TopicSample:
        """The sample of a topic's `status` (the one the reconcile just wrote) and of its hosts'
        reports (`host_stats`: quorum, indexers, unconfirmed)."""
        phase = str(status.get("phase") or "Pending")
        conditions = [c for c in status.get("conditions") or [] if isinstance(c, Mapping)]
        groups = [g for g in status.get("clients") or [] if isinstance(g, Mapping)]
        seconds = status.get("bootstrapSeconds")
        return cls(
            phase=phase, host_ready=host_ready, paused=paused,
            bootstrap_seconds=float(seconds) if isinstance(seconds, (int, float)) else None,
            clients_ready=sum(min(int(g.get("readyReplicas") or 0), int(g.get("replicas") or 0))
                              for g in groups) if "clients" in status else None,
            clients_desired=sum(int(g.get("replicas") or 0) for g in groups) if "clients" in status else None,
            conditions=tuple((str(c.get("type")), str(c.get("status"))) for c in conditions),
            reason=not_ready_reason(status),
            **_hosts(status, host_ready, host_stats or {}),
        )


def _hosts(status: Mapping[str, Any], host_ready: bool, stats: Mapping[str, Any]) -> dict[str, Any]:
    hosts = [h for h in status.get("hosts") or [] if isinstance(h, Mapping)]
    if not hosts:  # one host
        return {"hosts_ready": int(host_ready), "hosts_desired": 1}
    return {"hosts_ready": sum(1 for h in hosts if h.get("ready")), "hosts_desired": len(hosts),
            "quorum": stats.get("quorum"), "indexers": stats.get("indexers"), "unconfirmed": stats.get("unconfirmed")}


def not_ready_reason(status: Mapping[str, Any]) -> str:
    """The REASON of a topic that is not Ready: `status.reason` when the operator writes one,
    else the Ready condition's reason; "" for a Ready topic."""
    phase = status.get("phase") or "Pending"
    if phase == "Ready":
        return ""
    if isinstance(status.get("reason"), str) and status["reason"]:
        return str(status["reason"])
    if phase == "Paused":
        return "Paused"
    for cond in status.get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == "Ready" and cond.get("status") != "True":
            return str(cond.get("reason") or phase)
    return str(phase)


TOPIC_LABELS = ("namespace", "topic")


class TopicMetrics(Collector):
    """The per-topic series (and the per-phase totals), built at scrape time from the last sample
    of every topic. `set` and `forget` are O(1); a scrape is O(topics)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # scrapes run on the HTTP server's thread
        self._samples: dict[tuple[str, str], TopicSample] = {}

    def set(self, namespace: str, name: str, sample: TopicSample) -> None:
        with self._lock:
            self._samples[(namespace, name)] = sample

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            self._samples.pop((namespace, name), None)

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return list(_families())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            samples = sorted(self._samples.items())
        families = _families()
        phase, seconds, ready, desired, condition, reason, totals, no_host, *hosts = families
        counts = dict.fromkeys(PHASES, 0)
        without_host = 0
        for (ns, name), s in samples:
            for value in (*PHASES, *(() if s.phase in PHASES else (s.phase,))):
                phase.add_metric([ns, name, value], float(s.phase == value))
            counts[s.phase] = counts.get(s.phase, 0) + 1
            without_host += int(not s.paused and not s.host_ready)
            if s.bootstrap_seconds is not None:
                seconds.add_metric([ns, name], s.bootstrap_seconds)
            if s.clients_desired is not None and s.clients_ready is not None:
                ready.add_metric([ns, name], s.clients_ready)
                desired.add_metric([ns, name], s.clients_desired)
            for ctype, cstatus in s.conditions:
                for value in CONDITION_STATUSES:
                    condition.add_metric([ns, name, ctype, value], float(cstatus == value))
            if s.reason:
                reason.add_metric([ns, name, s.reason], 1.0)
            _add_hosts(hosts, [ns, name], s)
        for value, count in counts.items():
            totals.add_metric([value], count)
        no_host.add_metric([], without_host)
        yield from families


def _add_hosts(families: list[GaugeMetricFamily], labels: list[str], s: TopicSample) -> None:
    hosts_ready, hosts_desired, quorum, indexers, unconfirmed = families
    hosts_ready.add_metric(labels, s.hosts_ready)
    hosts_desired.add_metric(labels, s.hosts_desired)
    for family, value in ((quorum, s.quorum), (indexers, s.indexers), (unconfirmed, s.unconfirmed)):
        if value is not None:
            family.add_metric(labels, float(value))


def _families() -> tuple[GaugeMetricFamily, ...]:
    return (
        GaugeMetricFamily("swarm_operator_topic_phase",
                          "1 for the SwarmTopic's current phase, 0 for the others.",
                          labels=[*TOPIC_LABELS, "phase"]),
        GaugeMetricFamily("swarm_operator_topic_bootstrap_seconds",
                          "Seconds from the SwarmTopic's creation to its base key recorded "
                          "(status.bootstrapSeconds); absent until recorded.", labels=TOPIC_LABELS),
        GaugeMetricFamily("swarm_operator_topic_clients_ready",
                          "Ready client replicas of the SwarmTopic (at most the desired ones per group).",
                          labels=TOPIC_LABELS),
        GaugeMetricFamily("swarm_operator_topic_clients_desired",
                          "Desired client replicas of the SwarmTopic (all its client groups).",
                          labels=TOPIC_LABELS),
        GaugeMetricFamily("swarm_operator_topic_condition",
                          "1 for the condition's current status (True, False, Unknown), 0 for the others.",
                          labels=[*TOPIC_LABELS, "condition", "status"]),
        GaugeMetricFamily("swarm_operator_topic_reason",
                          "1 with the reason a SwarmTopic is not Ready (its REASON column); absent when Ready.",
                          labels=[*TOPIC_LABELS, "reason"]),
        GaugeMetricFamily("swarm_operator_topics", "SwarmTopics by phase.", labels=["phase"]),
        GaugeMetricFamily("swarm_operator_topics_without_ready_host",
                          "Unpaused SwarmTopics whose bootstrap host pod is not Ready."),
        GaugeMetricFamily("swarm_operator_topic_hosts_ready",
                          "Host pods of the SwarmTopic that are Ready and verified.", labels=TOPIC_LABELS),
        GaugeMetricFamily("swarm_operator_topic_hosts_desired",
                          "Hosts the SwarmTopic runs (spec.bootstrapHost.replicas, or more while a scale-down is "
                          "refused).", labels=TOPIC_LABELS),
        GaugeMetricFamily("swarm_operator_topic_quorum",
                          "1 while a majority of the base's indexers is up (several hosts only).",
                          labels=TOPIC_LABELS),
        GaugeMetricFamily("swarm_operator_topic_indexers",
                          "Indexers of the SwarmTopic's base, as its hosts report (several hosts only).",
                          labels=TOPIC_LABELS),
        GaugeMetricFamily("swarm_operator_topic_unconfirmed_entries",
                          "Entries a host of the SwarmTopic holds that wait for confirmation (the most of any host; "
                          "several hosts only).", labels=TOPIC_LABELS),
    )


topic_metrics = TopicMetrics()
REGISTRY.register(topic_metrics)


class ApiStats(Collector):
    """The API client's throttle (`api/throttle.py`), read at scrape time: `source` gives the window
    of requests in flight, the 429s answered so far and the requests waiting (set at start-up)."""

    def __init__(self) -> None:
        self.source: Callable[[], tuple[float, int, int]] | None = None

    def describe(self) -> Iterator[Metric]:
        """Its families, so that a scrape asking only for them (`?name[]=...`) builds nothing else."""
        return self._families(None)

    def collect(self) -> Iterator[Metric]:
        if self.source is None:
            return iter(())
        return self._families(self.source())

    @staticmethod
    def _families(values: tuple[float, int, int] | None) -> Iterator[Metric]:
        window, throttled, waiting = values or (None, None, None)
        yield GaugeMetricFamily("swarm_operator_api_window",
                                "Requests the operator may have in flight, as learnt from the API server's answers.",
                                value=window)
        yield CounterMetricFamily("swarm_operator_api_throttled",
                                  "API answers 429 (priority and fairness turning a request away; each sent again "
                                  "after its Retry-After).", value=throttled)
        yield GaugeMetricFamily("swarm_operator_api_waiting_requests",
                                "Requests waiting in the operator for the window or the --api-qps limit.",
                                value=waiting)


api_stats = ApiStats()
REGISTRY.register(api_stats)
