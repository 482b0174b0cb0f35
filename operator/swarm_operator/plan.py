"""From what was observed to what to do: the ordering invariant as pure functions.

`plan()` takes a snapshot of a SwarmTopic and its children (read by `reconcile.py`, which never
writes while reading) and returns the writes, in order, plus the whole desired status and the
events. No I/O here, and no URLs: a `Write` names its target (kind, namespace, name) and the
acting layer turns it into a request. The steps, each a function of `steps.py`:

1. trust: every existing child must carry this topic's controller ownerReference, or nothing is
   written at all (`NameConflict`); the Secrets are created once;
2. the host side (ConfigMap, Service, StatefulSet), repaired by content when it drifted;
3. host readiness: a Ready pod whose fresh, signed report verifies;
4. the base key: recorded once, with a resourceVersion precondition, never overwritten;
5. the clients: created only once a key is recorded, held at 0 before;
6. the summary (`summary.py`): conditions, phase, reason, and one event per state transition.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from . import backupcheck, steps, summary
from . import conditions as c
from .hostreport import HostReport, HostReportError
from .models import SwarmTopicSpec

CONFLICT_RECHECK = 30.0  # seconds between looks at a name held by a foreign object


@dataclass(frozen=True)
class Target:
    """What a write is about: a kind of `owned.KINDS`, a namespace, a name (None: the collection)."""

    kind: str
    namespace: str
    name: str | None = None


@dataclass(frozen=True)
class Write:
    """One API call. `op`: create | apply (server-side) | repair (RFC 6902, for drift) | scale |
    patch (a merge patch of metadata) | delete | record-status.

    `uid`: the object's uid, a precondition of deletes (never delete what was not checked);
    `resource_version`: a precondition of applies and of the key's record.
    """

    op: str
    target: Target
    body: Any
    what: str
    uid: str | None = None
    resource_version: str | None = None


@dataclass(frozen=True)
class Event:
    type: str
    reason: str
    message: str
    about: str = ""  # the child it is about, if any: events are rate-limited per topic, reason, child


@dataclass
class Observed:
    topic: dict[str, Any]
    spec: SwarmTopicSpec | None
    spec_error: str | None
    now: datetime
    peer_image: str
    # Metadata (never the data) of the topic's Secrets, by Secret name; None: absent.
    secrets: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    # Fresh random values (hex) for Secrets that do not exist yet, by Secret name.
    fresh: dict[str, str] = field(default_factory=dict)
    configmap: dict[str, Any] | None = None
    service: dict[str, Any] | None = None
    statefulset: dict[str, Any] | None = None
    host_pod: dict[str, Any] | None = None
    volume: dict[str, Any] | None = None  # the host's PersistentVolumeClaim (metadata)
    report: HostReport | None = None
    report_error: HostReportError | None = None
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    backup_check: bool = False  # `run --backup-check`: the CredentialsBackedUp condition (backupcheck.py)


@dataclass
class Plan:
    writes: list[Write] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)  # the whole desired status
    events: list[Event] = field(default_factory=list)
    old_status: dict[str, Any] = field(default_factory=dict)
    recorded_now: bool = False
    conflict_now: bool = False
    timeout_now: bool = False
    rollout_seconds: float | None = None  # set when the clients just became ready
    host_ready: bool = False
    recheck: float | None = None  # seconds until time alone may change this plan (no event will tell)

    def recheck_within(self, seconds: float) -> None:
        self.recheck = seconds if self.recheck is None else min(self.recheck, seconds)

    @property
    def phase(self) -> str:
        return str(self.status.get("phase", "Pending"))

    def rejected(self, write: Write, reason: str, message: str, now: datetime) -> Plan:
        """This plan after `write` was refused by the API server: the rest did not happen."""
        done = self.writes[: self.writes.index(write)]
        status = summary.override_ready(self.status, reason, f"{write.what}: {message}", now)
        return replace(self, writes=done, status=status,
                       events=[*_non_state(self.events), *summary.state_events(self.old_status, status)])


def _non_state(events: list[Event]) -> list[Event]:
    return [e for e in events if e.reason in summary.SIDE_REASONS]


def plan(obs: Observed) -> Plan:
    out = Plan(old_status=dict(obs.topic.get("status") or {}))
    if obs.spec is None:
        return summary.finish(obs, out, [c.Cond(c.READY, False, "InvalidSpec", obs.spec_error or "invalid")], {})
    conflicts = steps.foreign_children(obs)
    if conflicts:
        message = "; ".join(conflicts) + ": not controlled by this SwarmTopic, left alone (nothing is " \
            "read from, written to or deleted); delete or rename it, or rename the SwarmTopic"
        # A foreign object's removal may reach no watch of this topic (another topic's label, or none).
        out.recheck_within(CONFLICT_RECHECK)
        return summary.finish(obs, out, [c.Cond(c.READY, False, "NameConflict", message)], {})
    trust = steps.secrets_and_identity(obs, out)
    steps.encryption_owners(obs, out)
    extra = steps.identity_status(obs, trust)
    if trust.public_key is None:  # the identity Secret is being replaced: nothing else this pass
        return summary.finish(obs, out, [c.Cond(c.HOST_READY, False, "IdentityPending",
                                                "the host identity is being created")], extra)
    steps.host_side(obs, out, trust.public_key)
    conds = steps.host_readiness(obs, out, trust.public_key)
    recorded = steps.base_key(obs, out, trust.public_key, conds, extra)
    steps.clients(obs, out, trust.public_key, recorded, conds, extra)
    backupcheck.check(obs, out, conds)
    if obs.spec.paused:  # observe and report, write no child
        out.writes = [w for w in out.writes if w.op == "record-status"]
    return summary.finish(obs, out, conds, extra)


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
