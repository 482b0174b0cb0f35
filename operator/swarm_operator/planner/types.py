"""The planner's vocabulary: what it is given (`Observed`), what one step decides (`Decision`), and
what `plan()` returns (`Plan`, made of `Write`s and `Event`s). A leaf module: the steps import it,
it imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from .. import conditions as c
from .. import names, owned
from ..children.common import topic_digest
from ..config import TopicNetwork
from ..hostreport import HostReport, HostReportError
from ..models import SwarmTopicSpec

Obj = dict[str, Any]


@dataclass(frozen=True)
class Target:
    """What a write is about: a kind of `owned.KINDS`, a namespace, a name (None: the collection)."""

    kind: str
    namespace: str
    name: str | None = None


@dataclass(frozen=True)
class Write:
    """One API call. `op`: create | apply (server-side) | repair (RFC 6902, for drift) | scale |
    patch (a merge patch) | delete | orphan (a delete leaving the object's dependents) | record-status.

    `uid`: the object's uid, a precondition of deletes (never delete what was not checked);
    `resource_version`: a precondition of applies and of the key's record.
    `joins`: it may be sent together with the writes before it (it neither refers to them nor
    needs them checked first): the reconciler sends such a run of writes at once, and a write
    that does not join only after every write before it was answered.
    """

    op: str
    target: Target
    body: Any
    what: str
    uid: str | None = None
    resource_version: str | None = None
    joins: bool = False


@dataclass(frozen=True)
class Event:
    type: str
    reason: str
    message: str
    about: str = ""  # the child it is about, if any: events are rate-limited per topic, reason, child


@dataclass
class Observed:
    """A topic and its world, as read (never written) by observe. `children` holds, by kind and
    name, the topic's children (`owned.children()`) and whatever holds the names it claims; a name
    absent from it is absent from the cluster."""

    topic: Obj
    spec: SwarmTopicSpec | None
    spec_error: str | None
    now: datetime
    peer_image: str
    network: TopicNetwork = field(default_factory=TopicNetwork)  # the operator's side of the topic's NetworkPolicy
    children: dict[str, dict[str, Obj]] = field(default_factory=dict)
    # Fresh random values (hex) for what does not exist yet: by Secret name, and by
    # `fresh_key(secret, key)` for a key a Secret lacks (a host's seed).
    fresh: dict[str, str] = field(default_factory=dict)
    fresh_seed_id: str = ""  # the id of a member seed being made
    # The hosts, by ordinal: their pods, their volumes (PersistentVolumeClaims, metadata), the
    # verified reports of the Ready ones, and why a Ready one's report could not be trusted.
    host_pods: dict[int, Obj] = field(default_factory=dict)
    volumes: dict[int, Obj] = field(default_factory=dict)
    reports: dict[int, HostReport] = field(default_factory=dict)
    report_errors: dict[int, HostReportError] = field(default_factory=dict)
    # Host 0's verified report read before its pod turned Ready (a host signs one only once its
    # announce has flushed): the key may be recorded from it (`reconciler/flushwait.py`).
    flushed: HostReport | None = None
    # The upgrade brake: whether this topic holds (or may take) a roll slot this pass.
    may_roll: bool = True
    # Indexer keys seen replaced on an earlier pass (their disks are gone): lost for good.
    lost_keys: frozenset[str] = frozenset()
    # The uids of the children the operator made, "Kind/name" -> uid, as it remembers them (the
    # status' childUIDs and what it made or saw since).
    known_uids: dict[str, str] = field(default_factory=dict)
    # `run --backup-check`: the CredentialsBackedUp condition (backupcheck.py).
    backup_check: bool = False

    @property
    def name(self) -> str:
        return str(self.topic["metadata"]["name"])

    @cached_property
    def digest(self) -> str:
        """A digest of the topic's identity and spec, once per pass (`children.common.topic_digest`)."""
        return topic_digest(self.topic)

    # Host 0: the one that creates the base and whose report records its key.
    @property
    def host_pod(self) -> Obj | None:
        return self.host_pods.get(0)

    @property
    def volume(self) -> Obj | None:
        return self.volumes.get(0)

    @property
    def report(self) -> HostReport | None:
        return self.reports.get(0)

    @property
    def report_error(self) -> HostReportError | None:
        return self.report_errors.get(0)

    def of(self, kind: owned.Kind) -> dict[str, Obj]:
        """The topic's objects of a child kind, by name (a live dict: what is put in it stays)."""
        return self.children.setdefault(kind.kind, {})

    def child(self, kind: owned.Kind, name: str) -> Obj | None:
        return self.of(kind).get(name)

    def set_child(self, kind: owned.Kind, name: str, obj: Obj | None) -> None:
        if obj is None:
            self.of(kind).pop(name, None)
        else:
            self.of(kind)[name] = obj

    # The children the steps name most, by their one name.
    @property
    def secrets(self) -> dict[str, Obj]:
        return self.of(owned.SECRET)

    @property
    def deployments(self) -> dict[str, Obj]:
        return self.of(owned.DEPLOYMENT)

    @property
    def configmap(self) -> Obj | None:
        return self.child(owned.CONFIGMAP, names.swarm_configmap(self.name))

    @property
    def service(self) -> Obj | None:
        return self.child(owned.SERVICE, names.host_service(self.name))

    @property
    def statefulset(self) -> Obj | None:
        return self.child(owned.STATEFULSET, names.host_statefulset(self.name))

    @property
    def host_count(self) -> int:
        """The hosts the topic has: spec.bootstrapHost.replicas, or more while a scale-down is refused."""
        running = int(((self.statefulset or {}).get("spec") or {}).get("replicas") or 0)
        return max(self.spec.bootstrapHost.replicas if self.spec else 1, running)

    @property
    def recorded_key(self) -> str | None:
        """The base key recorded in status, if any."""
        return (self.topic.get("status") or {}).get("baseKey") or None


@dataclass(frozen=True)
class Decision:
    """What one step decided: writes (in order), events, conditions, status fields, and how soon
    time alone may change its mind (`recheck`, seconds; None: only a change will)."""

    writes: tuple[Write, ...] = ()
    events: tuple[Event, ...] = ()
    conditions: tuple[c.Cond, ...] = ()
    fields: dict[str, Any] = field(default_factory=dict)
    recheck: float | None = None


@dataclass(frozen=True)
class Readiness(Decision):
    """The hosts' readiness: host 0's verified report when it is Ready (the key is recorded from
    it), whether the announce timeout was just reached, and with several hosts what the metrics
    say of them (`quorum`, `indexers`, `unconfirmed`)."""

    report: HostReport | None = None
    timeout_now: bool = False
    host_stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class Plan:
    writes: list[Write] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)  # the whole desired status
    events: list[Event] = field(default_factory=list)
    # The events of single actions (not of the state): said even when a later write of the pass
    # meets a 409, since the next pass may no longer see what they tell (a Secret made again).
    action_events: list[Event] = field(default_factory=list)
    old_status: dict[str, Any] = field(default_factory=dict)
    recorded_now: bool = False
    conflict_now: bool = False
    timeout_now: bool = False
    rollout_seconds: float | None = None  # set when the clients just became ready
    host_ready: bool = False
    host_stats: dict[str, Any] = field(default_factory=dict)  # several hosts: quorum, indexers, unconfirmed
    roll: str = "none"  # the upgrade brake: none | rolling | held (brake.py)
    recheck: float | None = None  # seconds until time alone may change this plan (no event will tell)

    @property
    def phase(self) -> str:
        return str(self.status.get("phase", "Pending"))


def target(kind: owned.Kind, topic: Obj, name: str | None = None) -> Target:
    return Target(kind.kind, topic["metadata"]["namespace"], name)


def write(op: str, kind: owned.Kind, topic: Obj, name: str | None, body: Any, what: str,
          joins: bool = False, **pre: str | None) -> Write:
    return Write(op, target(kind, topic, name), body, what, joins=joins, **pre)


def waves(writes: list[Write]) -> list[list[Write]]:
    """The writes in the order they go out: each run of writes that join the one before it, at once."""
    out: list[list[Write]] = []
    for w in writes:
        if w.joins and out:
            out[-1].append(w)
        else:
            out.append([w])
    return out


def fresh_key(secret: str, key: str) -> str:
    """The `Observed.fresh` entry of a key a Secret lacks."""
    return f"{secret}/{key}"


def earliest(*values: float | None) -> float | None:
    """The soonest of some rechecks (None: none)."""
    given = [v for v in values if v is not None]
    return min(given) if given else None
