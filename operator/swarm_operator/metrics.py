"""The operator's Prometheus metrics (SPEC section 6).

Names are prefixed `swarm_operator_`, durations are in seconds with explicit buckets: cold-start
discovery takes from tens of milliseconds to minutes, far past the client library's 10 s default.
No label carries a key, a pod or a topic name (high cardinality).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

DURATION_BUCKETS = (
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
)
PHASES = ("Pending", "Bootstrapping", "Ready", "Degraded", "Paused")

REGISTRY = CollectorRegistry(auto_describe=True)

bootstrap_duration = Histogram(
    "swarm_operator_bootstrap_duration_seconds",
    "Time from a SwarmTopic first seen to its base key recorded.",
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
host_announce_duration = Histogram(
    "swarm_operator_host_announce_duration_seconds",
    "Announce-flush time of the bootstrap host, as the host reports it.",
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
client_rollout_duration = Histogram(
    "swarm_operator_client_rollout_duration_seconds",
    "Time from the base key recorded to all client replicas ready.",
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
reconcile_duration = Histogram(
    "swarm_operator_reconcile_duration_seconds",
    "Duration of one reconcile of one SwarmTopic.",
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
topics = Gauge(
    "swarm_operator_topics",
    "SwarmTopics by phase.",
    ["phase"],
    registry=REGISTRY,
)
reconcile_errors = Counter(
    "swarm_operator_reconcile_errors",  # exposed as swarm_operator_reconcile_errors_total
    "Reconciles that ended in an error.",
    registry=REGISTRY,
)
base_key_conflicts = Counter(
    "swarm_operator_base_key_conflicts",  # exposed as swarm_operator_base_key_conflicts_total
    "Times a host reported a base key other than the recorded one.",
    registry=REGISTRY,
)
# Beyond SPEC section 6, for the chart's alerts (a stuck bootstrap, no ready host).
announce_timeouts = Counter(
    "swarm_operator_announce_timeouts",  # exposed as swarm_operator_announce_timeouts_total
    "Times a bootstrap host was not ready within announceTimeoutSeconds.",
    registry=REGISTRY,
)
topics_without_ready_host = Gauge(
    "swarm_operator_topics_without_ready_host",
    "Unpaused SwarmTopics whose bootstrap host pod is not Ready.",
    registry=REGISTRY,
)

for _phase in PHASES:
    topics.labels(phase=_phase).set(0)
