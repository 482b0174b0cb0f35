"""One pass over one SwarmTopic: observe (from the caches, never writing), plan (pure, `planner`),
act (the writes, then the status), then the pass's events and measurements.

Safe to interrupt anywhere and to run again: writes carry the cached resourceVersion, a 409 reads
the object again and retries; the key is recorded with a resourceVersion precondition.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .. import metrics, owned
from ..api.errors import ApiError
from ..hostreport import HostReport
from ..planner import Event, Observed, Plan, plan
from ..validation import parse_spec
from .act import act
from .context import Memory, Wiring
from .events import post_event
from .observe import observe

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What the controller needs of a pass: the new status, whether the host is Ready and the
    topic paused (its metrics), and how soon time alone may change things."""

    host_ready: bool
    paused: bool
    status: dict[str, Any] = field(default_factory=dict)
    host_stats: dict[str, Any] = field(default_factory=dict)  # several hosts: quorum, indexers, unconfirmed
    recheck: float | None = None  # seconds until time alone may change the outcome


def _measure(memory: Memory, topic: dict[str, Any], report: HostReport | None, the_plan: Plan) -> None:
    if the_plan.recorded_now:
        metrics.bootstrap_duration.observe(the_plan.status.get("bootstrapSeconds") or 0.0)
        if report is not None:
            metrics.host_announce_duration.observe(report.announce_seconds)
    if the_plan.conflict_now:
        metrics.base_key_conflicts.inc()
    if the_plan.timeout_now:
        metrics.announce_timeouts.inc()
    uid = topic["metadata"]["uid"]
    if the_plan.rollout_seconds is not None and uid not in memory.rollout_measured:
        memory.rollout_measured.add(uid)
        metrics.client_rollout_duration.observe(the_plan.rollout_seconds)


async def _post(wiring: Wiring, memory: Memory, topic: dict[str, Any], events: list[Event]) -> None:
    """Post events, at most one per topic, reason and child per limiter period."""
    for event in events:
        if memory.events.allow(topic["metadata"]["uid"], event.reason, event.about):
            await post_event(wiring.kube, topic, event.type, event.reason, event.message)


async def reconcile(wiring: Wiring, memory: Memory, namespace: str, name: str) -> Outcome | None:
    """Bring one SwarmTopic one step closer to its spec. None: it is gone. A refused write is
    raised after the pass's status and events are out (the controller backs off)."""
    started = time.monotonic()
    topic = wiring.caches.get(owned.TOPIC, namespace, name)
    if topic is None or topic["metadata"].get("deletionTimestamp"):
        memory.forget((namespace, name))
        if wiring.flushes is not None:
            wiring.flushes.forget((namespace, name))
        return None
    spec, error = memory.spec_of(topic, lambda: parse_spec(topic, wiring.rules))
    if spec is None:
        obs = Observed(topic=topic, spec=None, spec_error=error, now=datetime.now(UTC), peer_image=wiring.peer_image,
                       backup_check=wiring.backup_check)
    else:
        obs = await observe(wiring, memory, topic, spec)
    planned = time.monotonic()
    made = plan(obs)
    try:
        the_plan, refused = await act(wiring, memory, topic, made)  # 409s propagate: the caller retries
    except ApiError:  # a 409 or a failure after some writes: what was decided is told even so
        await _post(wiring, memory, topic, made.action_events)
        raise
    memory.uids.setdefault((namespace, name), {}).update(the_plan.status.get("childUIDs") or {})
    if the_plan.recorded_now:
        log.info("%s/%s: base key recorded: observed in %.1f ms, written in %.1f ms", namespace, name,
                 1000 * (planned - started), 1000 * (time.monotonic() - planned))
    await _post(wiring, memory, topic, the_plan.events)
    memory.rolls.settle((namespace, name), the_plan.roll)
    if the_plan.host_stats.get("lost"):
        memory.lost_keys[(namespace, name)] = frozenset(the_plan.host_stats["lost"])
    _measure(memory, topic, obs.report or obs.flushed, the_plan)
    if refused is not None:
        raise refused
    return Outcome(host_ready=the_plan.host_ready, paused=bool(spec and spec.paused), status=the_plan.status,
                   host_stats=the_plan.host_stats, recheck=the_plan.recheck)
