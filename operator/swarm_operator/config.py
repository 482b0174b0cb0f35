"""The operator's configuration, with every default in one place (crate-operator's `Config`): the
command line (`swarm-operator run`) takes its defaults from here, and the chart's values document
the same ones."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from . import __version__

DEFAULT_PEER_IMAGE = f"ghcr.io/swarm-operator/swarm-peer:{__version__}"

# The bootstrap host container's cpu and memory, each where spec.bootstrapHost.resources names it in
# neither requests nor limits: the host (it holds the base) is Burstable, never BestEffort. Chosen
# from `python bench/host_footprint.py` (docs/operations.md#resources-of-the-host): a host uses ~20m
# with its clients connected, ~100m under a steady 18 appends/s; 75Mi at start, ~200Mi after 11,000
# entries (peak 224Mi). The memory request covers that; the limit leaves twice the peak.
HOST_RESOURCES: dict[str, dict[str, str]] = {"requests": {"cpu": "50m", "memory": "256Mi"},
                                             "limits": {"memory": "512Mi"}}

# The DHT's own nodes in the cluster: the pods of examples/dht.yaml (`swarm-peer dht-bootstrap`),
# in any namespace. Chart: topicNetworkPolicy.dhtPeers.
DHT_NODES: dict[str, Any] = {"namespaceSelector": {},
                             "podSelector": {"matchLabels": {"app.kubernetes.io/component": "dht-bootstrap"}}}


@dataclass(frozen=True)
class TopicNetwork:
    """The operator's side of the topics' NetworkPolicies (docs/network-policy.md). Hashable: the
    NetworkPolicyPeers are kept as JSON text (a list each)."""

    enabled: bool = False  # a topic's policy when its spec.networkPolicy.enabled is unset (chart: true)
    operator_namespace: str | None = None  # whose pods read the hosts' status port (None: only the node's)
    operator_labels: tuple[tuple[str, str], ...] = ()  # the operator pods' labels there (none: every pod)
    status_from: str = "[]"  # NetworkPolicyPeers that may also reach port `status` (e.g. Prometheus)
    dht_peers: str = json.dumps([DHT_NODES])  # the DHT's nodes in the cluster (UDP, both ways)

    def peers(self, which: str) -> list[dict[str, Any]]:
        """`status_from` or `dht_peers`, parsed."""
        return list(json.loads(getattr(self, which)))


@dataclass(frozen=True)
class Config:
    peer_image: str = DEFAULT_PEER_IMAGE  # the host image of topics that name none
    reconcile_interval: float = 300.0  # seconds between re-checks of every topic from the caches
    workers: int = 32  # at most this many topics reconciled at once (fewer while the API server's answers slow)
    # Seconds from a change of a topic or its children to its pass (host pods turning Ready, new
    # topics and topics whose clients are all Ready: at once): a step's run of changes is one pass.
    change_delay: float = 0.5
    # ... and while a topic's clients come up (their Deployment's count short of all Ready); also
    # how long such a count may wait to be written to status (`Memory.progress_wait`).
    closing_delay: float = 1.0
    api_qps: float = 200.0  # client-side rate limit of API requests per second (0: none beyond the server's)
    api_burst: int = 400  # requests that may start at once above that rate
    max_rolling_topics: int = 5  # topics whose hosts roll onto a new template at once (the upgrade brake)
    namespaces: tuple[str, ...] = ()  # watched namespaces; empty: every namespace
    metrics_port: int = 9090  # Prometheus /metrics; 0: off
    liveness_port: int = 8081  # kopf's /healthz; 0: off
    leader_election: bool = True  # one replica reconciles, the others stand by
    lease_name: str = "swarm-operator"  # the leader Lease, in the operator's own namespace
    lease_namespace: str | None = None  # None: $POD_NAMESPACE, else the ServiceAccount's, else default
    identity: str | None = None  # this replica's name; None: $POD_NAME, else host name + random
    # Whose rights a topic's pods may not take (docs/security.md): the operator's namespace is
    # topic_network's; its ServiceAccount, None: as the API server says who the operator is (a
    # SelfSubjectReview at start-up).
    service_account: str | None = None
    allow_operator_namespace: bool = False  # SwarmTopics in the operator's own namespace
    pod_security_exempt: tuple[str, ...] = ()  # namespaces not held to the restricted Pod Security profile
    backup_check: bool = False  # CredentialsBackedUp on every topic with a key (planner/backupcheck.py)
    topic_network: TopicNetwork = field(default_factory=TopicNetwork)  # the topics' NetworkPolicies

    @property
    def report_ttl(self) -> float:
        """A verified host report is read again after this long (within one re-check interval)."""
        return self.reconcile_interval * 0.8


DEFAULTS = Config()  # every default, for the command line and the controller
