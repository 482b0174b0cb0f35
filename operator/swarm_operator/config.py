"""The operator's configuration, with every default in one place (crate-operator's `Config`): the
command line (`swarm-operator run`) takes its defaults from here, and the chart's values document
the same ones."""

from __future__ import annotations

from dataclasses import dataclass

from . import __version__

DEFAULT_PEER_IMAGE = f"ghcr.io/swarm-operator/swarm-peer:{__version__}"


@dataclass(frozen=True)
class Config:
    peer_image: str = DEFAULT_PEER_IMAGE  # the host image of topics that name none
    reconcile_interval: float = 300.0  # seconds between re-checks of every topic from the caches
    workers: int = 32  # at most this many topics reconciled at once (fewer while the API server's answers slow)
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

    @property
    def report_ttl(self) -> float:
        """A verified host report is read again after this long (within one re-check interval)."""
        return self.reconcile_interval * 0.8
