"""One reconcile of one SwarmTopic: observe (from the caches, never writing), plan (pure,
`plan.py`), act (the writes, then the status).

Observe reads the watch-fed caches (`caches.py`), so a pass with nothing to do sends nothing to the
API server. Two things are read past them: the host's signed `/status` (when its pod changed or
the last verified report is older than the re-check interval), and same-named objects no cache
can see (they carry none of the operator's labels: a create met 409 with one of them), each read
directly on every pass until it is gone.

Safe to interrupt anywhere and to run again: writes carry the cached resourceVersion, a 409 reads
the object again (into the cache, or onto the topic's direct reads) and retries; the key is
recorded with a resourceVersion precondition. Status has one write path (`write_status`); API
errors have one policy (`apipolicy.py`).
"""

from __future__ import annotations

import logging
import secrets as random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from . import apipolicy, metrics, names, owned, summary
from .caches import Caches, in_scope
from .events import EventLimiter, post_event
from .hostclient import read_host_report
from .hostreport import HostReport, HostReportError
from .identity import new_seed
from .kube import ApiError, Kube
from .models import SwarmTopicSpec
from .plan import Observed, Plan, Target, Write, plan
from .steps import controlled_by, known_public_key, pod_ready
from .validation import parse_spec

log = logging.getLogger(__name__)
Key = tuple[str, str]  # (namespace, name) of a SwarmTopic
# A status whose only change is the clients' ready counts is written at most this often per topic
# (counts that move together are written together); a transition is written at once.
PROGRESS_WAIT = 1.0


@dataclass(frozen=True)
class ReportMemo:
    """The last report read from a host pod, and what the host was then (`host_of`)."""

    host: tuple[Any, ...]
    at: float  # time.monotonic()
    report: HostReport


def host_of(pod: dict[str, Any]) -> tuple[Any, ...]:
    """What makes the host another one, or a restarted one: the pod, its IP, when it last turned
    Ready, its containers' restarts (not its every status update)."""
    status = pod.get("status") or {}
    ready = next((c.get("lastTransitionTime") for c in status.get("conditions") or [] if c.get("type") == "Ready"),
                 None)
    restarts = tuple(c.get("restartCount", 0) for c in status.get("containerStatuses") or [])
    return pod["metadata"].get("uid"), status.get("podIP"), ready, restarts


@dataclass
class Context:
    kube: Kube
    http: aiohttp.ClientSession
    peer_image: str
    caches: Caches
    report_ttl: float = 10.0  # a verified report is read again after this long (the re-check interval)
    backup_check: bool = False  # `run --backup-check`
    # Per-process memory only (losing it on restart costs reads, nothing else).
    rollout_measured: set[str] = field(default_factory=set)
    events: EventLimiter = field(default_factory=EventLimiter)
    reports: dict[Key, ReportMemo] = field(default_factory=dict)
    direct: dict[Key, set[tuple[str, str]]] = field(default_factory=dict)  # (kind, name) read past the caches
    held: dict[Key, float] = field(default_factory=dict)  # since when a progress-only status waits

    def forget(self, key: Key) -> None:
        self.reports.pop(key, None)
        self.direct.pop(key, None)
        self.held.pop(key, None)

    def hold(self, key: Key) -> float:
        """Seconds a progress-only status may still wait to be written (0: write it now)."""
        since = self.held.setdefault(key, time.monotonic())
        return max(0.0, PROGRESS_WAIT - (time.monotonic() - since))


@dataclass(frozen=True)
class Outcome:
    phase: str
    host_ready: bool
    paused: bool
    status: dict[str, Any] = field(default_factory=dict)
    recheck: float | None = None  # seconds until time alone may change the outcome


def _wanted(topic: dict[str, Any], spec: SwarmTopicSpec) -> list[tuple[owned.Kind, str]]:
    """The children the topic's names claim, by kind."""
    name = topic["metadata"]["name"]
    return [(owned.SECRET, names.identity_secret(name)), (owned.SECRET, names.member_secret(name)),
            (owned.SECRET, names.encryption_secret(name)), (owned.CONFIGMAP, names.swarm_configmap(name)),
            (owned.SERVICE, names.host_service(name)), (owned.STATEFULSET, names.host_statefulset(name)),
            *((owned.DEPLOYMENT, names.client_deployment(name, g.name)) for g in spec.clients)]


async def _read_past_caches(ctx: Context, key: Key, found: dict[tuple[str, str], dict[str, Any] | None]) -> None:
    """Same-named objects no cache sees, read directly; forgotten once gone."""
    pending = ctx.direct.get(key) or set()
    for kind_name, name in sorted(pending):
        kind = owned.BY_KIND[kind_name]
        obj = await ctx.kube.get(owned.target_path(kind, key[0], name), metadata_only=kind.metadata_only)
        if obj is None:
            pending.discard((kind_name, name))
        else:
            found[(kind_name, name)] = {"metadata": obj.get("metadata") or {}} if kind.metadata_only else obj
    if not pending:
        ctx.direct.pop(key, None)


async def observe(ctx: Context, topic: dict[str, Any], spec: SwarmTopicSpec) -> Observed:
    """The topic's world, from the caches. Never writes."""
    meta = topic["metadata"]
    name, ns = meta["name"], meta["namespace"]
    caches = ctx.caches
    found = {(kind.kind, n): caches.get(kind, ns, n) for kind, n in _wanted(topic, spec)}
    await _read_past_caches(ctx, (ns, name), found)
    # Its own Deployments of groups no longer in the spec (to delete), and whatever holds the names
    # the spec wants.
    deployments = {d["metadata"]["name"]: d for d in caches.of_topic(owned.DEPLOYMENT, ns, name)
                   if controlled_by(d, topic)}
    deployments.update({n: d for (k, n), d in found.items() if k == owned.DEPLOYMENT.kind and d is not None})
    secret_names = [names.identity_secret(name), names.member_secret(name), names.encryption_secret(name)]
    configmap = found[(owned.CONFIGMAP.kind, names.swarm_configmap(name))]
    host_pod = caches.get(owned.POD, ns, names.host_pod(name))
    obs = Observed(topic=topic, spec=spec, spec_error=None, now=datetime.now(UTC), peer_image=ctx.peer_image,
                   secrets={s: found[(owned.SECRET.kind, s)] for s in secret_names}, configmap=configmap,
                   service=found[(owned.SERVICE.kind, names.host_service(name))],
                   statefulset=found[(owned.STATEFULSET.kind, names.host_statefulset(name))],
                   host_pod=host_pod, volume=caches.get(owned.PVC, ns, names.host_pvc(name)),
                   deployments=deployments, backup_check=ctx.backup_check)
    obs.fresh = {s: (new_seed() if s == secret_names[0] else random.token_hex(32))
                 for s, m in obs.secrets.items() if m is None}
    identity = obs.secrets[secret_names[0]]
    public_key = known_public_key(topic, configmap, identity)
    if pod_ready(host_pod) and identity is not None and controlled_by(identity, topic) and public_key:
        assert host_pod is not None
        obs.report, obs.report_error = await _report(ctx, (ns, name), host_pod, public_key, spec.topic_of(name))
    else:
        ctx.reports.pop((ns, name), None)
    return obs


async def _report(ctx: Context, key: Key, pod: dict[str, Any], public_key: str,
                  topic: str) -> tuple[HostReport | None, HostReportError | None]:
    """The host's verified report: read again when the host changed or the last one is old."""
    pod_id = host_of(pod)
    memo = ctx.reports.get(key)
    if memo is not None and memo.host == pod_id and time.monotonic() - memo.at < ctx.report_ttl:
        return memo.report, None
    try:
        report = await read_host_report(ctx.http, pod, public_key, topic)
    except HostReportError as exc:
        ctx.reports.pop(key, None)
        return None, exc
    ctx.reports[key] = ReportMemo(pod_id, time.monotonic(), report)
    return report, None


async def write_status(kube: Kube, topic: dict[str, Any], status: dict[str, Any],
                       resource_version: str | None = None) -> dict[str, Any]:
    """The one path by which status is written (with a resourceVersion precondition when given).

    A merge patch keeps what it does not name: a field the new status drops is sent as null."""
    meta = topic["metadata"]
    gone = {key: None for key in topic.get("status") or {} if key not in status}
    body: dict[str, Any] = {"status": {**status, **gone}}
    if resource_version:
        body["metadata"] = {"resourceVersion": resource_version}
    return await kube.merge_patch(owned.target_path(owned.TOPIC, meta["namespace"], meta["name"], "status"), body)


def _kind(target: Target) -> owned.Kind:
    return owned.BY_KIND[target.kind]


async def _perform(kube: Kube, topic: dict[str, Any], write: Write) -> dict[str, Any] | None:
    """One write; the server's answer (the object as it is now), when there is one."""
    kind = _kind(write.target)
    path = owned.target_path(kind, write.target.namespace, write.target.name)
    secret = kind is owned.SECRET
    if write.op == "create":
        return await apipolicy.call(kube.create(owned.target_path(kind, write.target.namespace), write.body),
                                    secret=secret)
    if write.op == "apply":
        return await apipolicy.call(kube.apply(path, write.body), secret=secret)
    if write.op == "repair":
        return await apipolicy.call(kube.json_patch(path, write.body), secret=secret)
    if write.op in ("scale", "patch"):
        return await apipolicy.call(kube.merge_patch(path, write.body), secret=secret)
    if write.op == "delete":
        # A uid precondition that fails (409) means the object was replaced: it is not ours.
        await apipolicy.call(kube.delete(path, write.uid), continue_on_absence=True, continue_on_conflict=True,
                             secret=secret)
        return None
    if write.op == "record-status":
        return await apipolicy.call(write_status(kube, topic, write.body["status"], write.resource_version))
    raise ValueError(f"unknown write {write.op}")


async def reread(ctx: Context, topic: dict[str, Any], write: Write) -> None:
    """After a 409: read the object again. One the caches hold goes into them; one they cannot
    see (none of the operator's labels) is read directly by this topic's passes from now on."""
    kind = _kind(write.target)
    name = write.target.name or (write.body or {}).get("metadata", {}).get("name")
    if not name:
        return
    obj = await ctx.kube.get(owned.target_path(kind, write.target.namespace, name), metadata_only=kind.metadata_only)
    if obj is None:
        return
    if kind is owned.TOPIC or in_scope(kind, obj):
        ctx.caches.put(kind, obj)
    else:
        ctx.direct.setdefault((write.target.namespace, topic["metadata"]["name"]), set()).add((kind.kind, name))


async def act(ctx: Context, topic: dict[str, Any], the_plan: Plan) -> tuple[Plan, apipolicy.Rejected | None]:
    """Run the writes in order, then the status. A refused write ends the writes of this pass and
    turns into the status's Ready condition; a 409 reads the object again and propagates (the
    controller retries at once); other errors propagate (the controller retries with backoff)."""
    meta = topic["metadata"]
    written = topic.get("status") or {}
    for write in the_plan.writes:
        log.info("%s/%s: %s", meta["namespace"], meta["name"], write.what)
        try:
            answer = await _perform(ctx.kube, topic, write)
        except apipolicy.Rejected as refused:
            log.warning("%s/%s: %s refused: %s", meta["namespace"], meta["name"], write.what, refused)
            the_plan = the_plan.rejected(write, refused.reason, refused.message, datetime.now(UTC))
            if the_plan.status != written:
                ctx.caches.put(owned.TOPIC, await write_status(ctx.kube, topic, the_plan.status))
            return the_plan, refused
        except ApiError as exc:
            if exc.status == 409:
                await reread(ctx, topic, write)
            raise
        if answer is not None:
            ctx.caches.put(_kind(write.target), answer)
        if write.op == "record-status":
            written = write.body["status"]
    key = (meta["namespace"], meta["name"])
    if the_plan.status != written:
        wait = ctx.hold(key) if summary.progress_only(written, the_plan.status) else 0.0
        if wait > 0:
            the_plan.recheck_within(wait)
            return the_plan, None
        log.info("%s/%s: status %s", meta["namespace"], meta["name"], summary.describe_change(written, the_plan.status))
        ctx.caches.put(owned.TOPIC, await write_status(ctx.kube, topic, the_plan.status))
    ctx.held.pop(key, None)
    return the_plan, None


def record_metrics(ctx: Context, topic: dict[str, Any], obs: Observed, the_plan: Plan) -> None:
    if the_plan.recorded_now:
        metrics.bootstrap_duration.observe(the_plan.status.get("bootstrapSeconds") or 0.0)
        if obs.report is not None:
            metrics.host_announce_duration.observe(obs.report.announce_seconds)
    if the_plan.conflict_now:
        metrics.base_key_conflicts.inc()
    if the_plan.timeout_now:
        metrics.announce_timeouts.inc()
    uid = topic["metadata"]["uid"]
    if the_plan.rollout_seconds is not None and uid not in ctx.rollout_measured:
        ctx.rollout_measured.add(uid)
        metrics.client_rollout_duration.observe(the_plan.rollout_seconds)


async def reconcile(ctx: Context, namespace: str, name: str) -> Outcome | None:
    """Bring one SwarmTopic one step closer to its spec. None: it is gone."""
    started = time.monotonic()
    topic = ctx.caches.get(owned.TOPIC, namespace, name)
    if topic is None or topic["metadata"].get("deletionTimestamp"):
        ctx.forget((namespace, name))
        return None
    spec, error = parse_spec(topic)
    if spec is None:
        obs = Observed(topic=topic, spec=None, spec_error=error, now=datetime.now(UTC), peer_image=ctx.peer_image,
                       backup_check=ctx.backup_check)
    else:
        obs = await observe(ctx, topic, spec)
    planned = time.monotonic()
    the_plan, refused = await act(ctx, topic, plan(obs))  # 409s propagate: the caller retries
    if the_plan.recorded_now:
        log.info("%s/%s: base key recorded: observed in %.1f ms, written in %.1f ms", namespace, name,
                 1000 * (planned - started), 1000 * (time.monotonic() - planned))
    for event in the_plan.events:
        if ctx.events.allow(topic["metadata"]["uid"], event.reason, event.about):
            await post_event(ctx.kube, topic, event.type, event.reason, event.message)
    record_metrics(ctx, topic, obs, the_plan)
    if refused is not None:
        raise refused  # the controller retries with backoff
    return Outcome(phase=the_plan.phase, host_ready=the_plan.host_ready, paused=bool(spec and spec.paused),
                   status=the_plan.status, recheck=the_plan.recheck)
