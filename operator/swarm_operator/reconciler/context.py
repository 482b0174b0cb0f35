"""What a reconcile works with: the process's wiring (`Wiring`: the API client, the host-report
session, the caches, the configured peer image) and the per-topic memories a pass keeps between
passes (`Memory`: losing them on a restart costs reads, nothing else)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ..api.client import Kube
from ..config import DEFAULTS, TopicNetwork
from ..hostreport import HostReport
from ..models import SwarmTopicSpec
from ..podpolicy import TopicRules
from .caches import Caches
from .events import EventLimiter
from .flushwait import FlushWaits
from .rolls import Rolls

Key = tuple[str, str]  # (namespace, name) of a SwarmTopic
ReportKey = tuple[str, str, int]
Parsed = tuple[SwarmTopicSpec | None, str | None]  # a spec, or None and why  # (namespace, name, host ordinal)


@dataclass(frozen=True)
class Wiring:
    kube: Kube
    http: aiohttp.ClientSession  # the hosts' status ports
    caches: Caches
    peer_image: str
    report_ttl: float = 10.0  # a verified report is read again after this long (the re-check interval)
    rules: TopicRules = field(default_factory=TopicRules)  # where topics may be, what their pod templates may do
    backup_check: bool = False  # `run --backup-check`
    network: TopicNetwork = field(default_factory=TopicNetwork)  # the operator's side of the topics' NetworkPolicies
    # Host 0's report read as soon as its announce flushes (`flushwait.py`); None: at its pod's Ready only.
    flushes: FlushWaits | None = None


@dataclass(frozen=True)
class ReportMemo:
    """The last report read from a host pod, and what the host was then (`hostclient.host_of`)."""

    host: tuple[Any, ...]
    at: float  # time.monotonic()
    report: HostReport


@dataclass
class Memory:
    rollout_measured: set[str] = field(default_factory=set)  # topic uids whose rollout was measured
    events: EventLimiter = field(default_factory=EventLimiter)
    # Each topic's hosts' last reports, by ordinal (per topic: a pass touches its own alone).
    reports: dict[Key, dict[int, ReportMemo]] = field(default_factory=dict)
    direct: dict[Key, set[tuple[str, str]]] = field(default_factory=dict)  # (kind, name) read past the caches
    held: dict[Key, float] = field(default_factory=dict)  # since when a progress-only status waits
    # A status whose only change is the clients' ready counts is written at most this often per
    # topic (counts that move together are written together); a transition is written at once.
    # The controller takes such a topic's pass as late (`Config.closing_delay`: one number).
    progress_wait: float = DEFAULTS.closing_delay
    rolls: Rolls = field(default_factory=Rolls)  # the upgrade brake's slots
    lost_keys: dict[Key, frozenset[str]] = field(default_factory=dict)  # indexer keys seen replaced
    # The uid of each child made or seen controlled, "Kind/name" -> uid (status.childUIDs keeps
    # them across restarts, written along with the next status write).
    uids: dict[Key, dict[str, str]] = field(default_factory=dict)
    # The spec as last parsed, by what it was parsed from (`spec_of`).
    specs: dict[Key, tuple[tuple[Any, ...], Parsed]] = field(default_factory=dict)

    def spec_of(self, topic: dict[str, Any], parse: Callable[[], Parsed]) -> Parsed:
        """`parse()`d once per spec (its generation), name and recorded key: a pass's validation is
        not repeated on every pass while none of them changes."""
        meta = topic["metadata"]
        if meta.get("generation") is None:
            return parse()
        key = (meta["namespace"], meta["name"])
        inputs = (meta.get("uid"), meta["generation"], (topic.get("status") or {}).get("baseKey"))
        memo = self.specs.get(key)
        if memo is None or memo[0] != inputs:
            memo = self.specs[key] = (inputs, parse())
        return memo[1]

    def forget(self, key: Key) -> None:
        self.rolls.forget(key)
        self.lost_keys.pop(key, None)
        self.reports.pop(key, None)
        self.direct.pop(key, None)
        self.held.pop(key, None)
        self.uids.pop(key, None)
        self.specs.pop(key, None)

    def hold(self, key: Key) -> float:
        """Seconds a progress-only status may still wait to be written (0: write it now)."""
        since = self.held.setdefault(key, time.monotonic())
        return max(0.0, self.progress_wait - (time.monotonic() - since))
