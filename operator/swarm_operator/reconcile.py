"""One reconcile of one SwarmTopic: observe, plan (pure, `plan.py`), act.

Safe to interrupt anywhere and to run again: every write is derived from a fresh read, the key is
recorded with a resourceVersion precondition, and a pass with nothing to do writes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from pydantic import ValidationError

from . import manifests, metrics, names
from .events import post_event
from .hostclient import read_host_report
from .hostreport import HostReport, HostReportError
from .identity import new_seed, public_key_of
from .kube import ApiError, Kube, path
from .models import SwarmTopicSpec
from .plan import Observed, Plan, plan, pod_ready

log = logging.getLogger(__name__)


@dataclass
class Context:
    kube: Kube
    http: aiohttp.ClientSession
    peer_image: str
    # Per-process memory only (losing it on restart is harmless): topics whose identity Secret
    # this process has already confirmed, and whose first rollout it has already measured.
    identity_checked: set[str] = field(default_factory=set)
    rollout_measured: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Outcome:
    phase: str
    host_ready: bool
    paused: bool
    status: dict[str, Any] = field(default_factory=dict)


def format_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in ("spec", *err["loc"]))
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def parse_spec(topic: dict[str, Any]) -> tuple[SwarmTopicSpec | None, str | None]:
    raw = topic.get("spec")
    if not isinstance(raw, dict):
        return None, "spec: missing or not an object"
    try:
        return SwarmTopicSpec.model_validate(raw), None
    except ValidationError as exc:
        return None, format_validation_error(exc)


async def ensure_identity(ctx: Context, topic: dict[str, Any], configmap: dict[str, Any] | None,
                          host_pod: dict[str, Any] | None) -> tuple[str, bool]:
    """The host's public key, creating the identity Secret when it is missing.

    The operator never reads Secrets: a seed is known only when this process creates it, and its
    public key is recorded at once (ConfigMap and status). A 409 means the Secret is there.
    """
    meta = topic["metadata"]
    ns, uid = meta["namespace"], meta["uid"]
    known = ((configmap or {}).get("data") or {}).get(names.CM_HOST_PUBLIC_KEY) \
        or (topic.get("status") or {}).get("hostPublicKey")
    if known and uid in ctx.identity_checked and pod_ready(host_pod):
        return known, False
    secrets = path("v1", "secrets", ns)
    for _attempt in range(2):
        seed = new_seed()
        try:
            await ctx.kube.create(secrets, manifests.identity_secret(topic, seed))
        except ApiError as exc:
            if exc.status != 409:
                raise
            if known:
                ctx.identity_checked.add(uid)
                return known, False
            # A Secret whose key was never recorded (a crash between the two): start over.
            await ctx.kube.delete(f"{secrets}/{names.identity_secret(meta['name'])}")
            continue
        ctx.identity_checked.add(uid)
        public_key = public_key_of(seed)
        return public_key, bool(known and known != public_key)
    raise ApiError(409, "Conflict", "the identity Secret keeps reappearing")


async def observe(ctx: Context, topic: dict[str, Any], spec: SwarmTopicSpec) -> Observed:
    meta = topic["metadata"]
    name, ns = meta["name"], meta["namespace"]
    kube = ctx.kube
    configmap, service, statefulset, host_pod, deployments = await asyncio.gather(
        kube.get(path("v1", "configmaps", ns, names.swarm_configmap(name))),
        kube.get(path("v1", "services", ns, names.host_service(name))),
        kube.get(path("apps/v1", "statefulsets", ns, names.host_statefulset(name))),
        kube.get(path("v1", "pods", ns, names.host_pod(name))),
        kube.list(path("apps/v1", "deployments", ns),
                  {names.LABEL_TOPIC: name, names.LABEL_COMPONENT: names.COMPONENT_CLIENT}),
    )
    public_key, rotated = await ensure_identity(ctx, topic, configmap, host_pod)
    report: HostReport | None = None
    report_error: HostReportError | None = None
    if pod_ready(host_pod):
        assert host_pod is not None
        try:
            report = await read_host_report(ctx.http, host_pod, public_key, spec.topic_of(name))
        except HostReportError as exc:
            report_error = exc
    return Observed(
        topic=topic, spec=spec, spec_error=None, now=datetime.now(UTC), peer_image=ctx.peer_image,
        host_public_key=public_key, identity_rotated=rotated, configmap=configmap, service=service,
        statefulset=statefulset, host_pod=host_pod, report=report, report_error=report_error,
        deployments={d["metadata"]["name"]: d for d in deployments},
    )


async def act(ctx: Context, topic: dict[str, Any], the_plan: Plan) -> None:
    """Run the writes in order; the first failure stops the pass (the next one starts afresh)."""
    kube = ctx.kube
    for write in the_plan.writes:
        log.info("%s/%s: %s", topic["metadata"]["namespace"], topic["metadata"]["name"], write.what)
        if write.op == "create":
            try:
                await kube.create(write.url, write.body)
            except ApiError as exc:
                if exc.status != 409:  # created meanwhile: the next pass compares it
                    raise
        elif write.op == "json-patch":
            await kube.json_patch(write.url, write.body)
        elif write.op in ("merge-patch", "record-status"):
            await kube.merge_patch(write.url, write.body)
        elif write.op == "delete":
            await kube.delete(write.url)
        else:
            raise ValueError(f"unknown write {write.op}")
    current = topic.get("status") or {}
    if the_plan.status != current:
        await kube.merge_patch(
            path(names.API_VERSION, names.PLURAL, topic["metadata"]["namespace"], topic["metadata"]["name"],
                 "status"),
            {"status": the_plan.status})


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
    topic = await ctx.kube.get(path(names.API_VERSION, names.PLURAL, namespace, name))
    if topic is None or topic["metadata"].get("deletionTimestamp"):
        return None
    spec, error = parse_spec(topic)
    if spec is None or spec.paused:
        obs = Observed(topic=topic, spec=spec, spec_error=error, now=datetime.now(UTC),
                       peer_image=ctx.peer_image)
    else:
        obs = await observe(ctx, topic, spec)
    the_plan = plan(obs)
    await act(ctx, topic, the_plan)  # a 409 (stale view) propagates: the caller retries afresh
    for event in the_plan.events:
        await post_event(ctx.kube, topic, event.type, event.reason, event.message)
    record_metrics(ctx, topic, obs, the_plan)
    return Outcome(phase=the_plan.phase, host_ready=the_plan.host_ready,
                   paused=bool(spec and spec.paused), status=the_plan.status)
