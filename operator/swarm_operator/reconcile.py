"""One reconcile of one SwarmTopic: observe (reads only), plan (pure, `plan.py`), act.

Safe to interrupt anywhere and to run again: every write is derived from a fresh read, the key is
recorded with a resourceVersion precondition, and a pass with nothing to do writes nothing.
Status has one write path (`write_status`); API errors have one policy (`apipolicy.py`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets as random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from pydantic import ValidationError

from . import apipolicy, metrics, names, owned
from .events import EventLimiter, post_event
from .hostclient import read_host_report
from .hostreport import HostReport, HostReportError
from .identity import new_seed
from .kube import Kube
from .models import SwarmTopicSpec, TopicName
from .plan import Observed, Plan, Target, Write, plan
from .steps import controlled_by, known_public_key, pod_ready

log = logging.getLogger(__name__)


@dataclass
class Context:
    kube: Kube
    http: aiohttp.ClientSession
    peer_image: str
    # Per-process memory only (losing it on restart is harmless).
    rollout_measured: set[str] = field(default_factory=set)
    events: EventLimiter = field(default_factory=EventLimiter)


@dataclass(frozen=True)
class Outcome:
    phase: str
    host_ready: bool
    paused: bool
    status: dict[str, Any] = field(default_factory=dict)


def format_validation_error(exc: ValidationError, root: str = "spec") -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (root, *err["loc"]))
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _identity_volumes(template: dict[str, Any], secret: str) -> set[str]:
    """Names of the template's volumes that carry the Secret `secret` (plain or projected)."""
    out = set()
    for volume in (template.get("spec") or {}).get("volumes") or []:
        sources = [volume.get("secret") or {}] + [
            {"secretName": (src.get("secret") or {}).get("name")}
            for src in (volume.get("projected") or {}).get("sources") or []]
        if any(src.get("secretName") == secret for src in sources):
            out.add(str(volume.get("name")))
    return out


def _mounting(template: dict[str, Any], volumes: set[str]) -> list[str]:
    pod = template.get("spec") or {}
    return [f"{key}[{c.get('name')}]" for key in ("containers", "initContainers") for c in pod.get(key) or []
            if any(m.get("name") in volumes for m in c.get("volumeMounts") or [])]


def _identity_mounts(name: str, spec: SwarmTopicSpec) -> str | None:
    """The host identity stays the host's: no client and no added host container may mount it."""
    secret = names.identity_secret(name)
    for i, group in enumerate(spec.clients):
        if _identity_volumes(group.template, secret):
            return f"spec.clients.{i}.template: a volume carries the host identity Secret {secret}"
    host = spec.bootstrapHost.template
    if (where := _mounting(host, _identity_volumes(host, secret) | {names.IDENTITY_VOLUME})):
        return f"spec.bootstrapHost.template: {', '.join(where)} mounts the host identity Secret {secret}"
    return None


def parse_spec(topic: dict[str, Any]) -> tuple[SwarmTopicSpec | None, str | None]:
    raw = topic.get("spec")
    name = topic["metadata"]["name"]
    try:
        TopicName.model_validate({"name": name})
    except ValidationError as exc:
        return None, format_validation_error(exc, "metadata")
    if not isinstance(raw, dict):
        return None, "spec: missing or not an object"
    try:
        spec = SwarmTopicSpec.model_validate(raw)
    except ValidationError as exc:
        return None, format_validation_error(exc)
    if (error := _identity_mounts(name, spec)) is not None:
        return None, error
    return spec, None


def _path(t: Target, subresource: str | None = None) -> str:
    kind = owned.TOPIC if t.kind == names.KIND else owned.BY_KIND[t.kind]
    return owned.target_path(kind, t.namespace, t.name, subresource)


async def _deployments(kube: Kube, topic: dict[str, Any], spec: SwarmTopicSpec) -> dict[str, dict[str, Any]]:
    """The topic's own client Deployments (by label) and whatever holds the names it wants."""
    meta = topic["metadata"]
    ns = meta["namespace"]
    listed = await kube.list(owned.target_path(owned.DEPLOYMENT, ns),
                             {names.LABEL_TOPIC: meta["name"], names.LABEL_COMPONENT: names.COMPONENT_CLIENT})
    out = {d["metadata"]["name"]: d for d in listed if controlled_by(d, topic)}
    wanted = [names.client_deployment(meta["name"], g.name) for g in spec.clients]
    found = await asyncio.gather(*(kube.get(owned.target_path(owned.DEPLOYMENT, ns, n)) for n in wanted))
    out.update({n: d for n, d in zip(wanted, found, strict=True) if d is not None})
    return out


async def observe(ctx: Context, topic: dict[str, Any], spec: SwarmTopicSpec) -> Observed:
    """Read the topic's world. Never writes."""
    meta = topic["metadata"]
    name, ns = meta["name"], meta["namespace"]
    kube = ctx.kube
    secret_names = [names.identity_secret(name), names.member_secret(name), names.encryption_secret(name)]
    metas = await asyncio.gather(*(kube.get_metadata(owned.target_path(owned.SECRET, ns, s))
                                   for s in secret_names))
    configmap, service, statefulset, host_pod, deployments = await asyncio.gather(
        kube.get(owned.target_path(owned.CONFIGMAP, ns, names.swarm_configmap(name))),
        kube.get(owned.target_path(owned.SERVICE, ns, names.host_service(name))),
        kube.get(owned.target_path(owned.STATEFULSET, ns, names.host_statefulset(name))),
        kube.get(owned.target_path(owned.POD, ns, names.host_pod(name))),
        _deployments(kube, topic, spec),
    )
    obs = Observed(topic=topic, spec=spec, spec_error=None, now=datetime.now(UTC), peer_image=ctx.peer_image,
                   secrets=dict(zip(secret_names, metas, strict=True)), configmap=configmap, service=service,
                   statefulset=statefulset, host_pod=host_pod, deployments=deployments)
    obs.fresh = {s: (new_seed() if s == secret_names[0] else random.token_hex(32))
                 for s, m in obs.secrets.items() if m is None}
    identity = obs.secrets[secret_names[0]]
    public_key = known_public_key(topic, configmap)
    if pod_ready(host_pod) and identity is not None and controlled_by(identity, topic) and public_key:
        assert host_pod is not None
        obs.report, obs.report_error = await _read_report(ctx, host_pod, public_key, spec.topic_of(name))
    return obs


async def _read_report(ctx: Context, pod: dict[str, Any], public_key: str,
                       topic: str) -> tuple[HostReport | None, HostReportError | None]:
    try:
        return await read_host_report(ctx.http, pod, public_key, topic), None
    except HostReportError as exc:
        return None, exc


async def write_status(kube: Kube, topic: dict[str, Any], status: dict[str, Any],
                       resource_version: str | None = None) -> None:
    """The one path by which status is written (with a resourceVersion precondition when given)."""
    meta = topic["metadata"]
    body: dict[str, Any] = {"status": status}
    if resource_version:
        body["metadata"] = {"resourceVersion": resource_version}
    await kube.merge_patch(owned.target_path(owned.TOPIC, meta["namespace"], meta["name"], "status"), body)


async def _perform(kube: Kube, topic: dict[str, Any], write: Write) -> None:
    secret = write.target.kind == "Secret"
    if write.op == "create":
        await apipolicy.call(kube.create(_path(write.target), write.body), secret=secret)
    elif write.op == "apply":
        await apipolicy.call(kube.apply(_path(write.target), write.body), secret=secret)
    elif write.op == "repair":
        await apipolicy.call(kube.json_patch(_path(write.target), write.body))
    elif write.op == "scale":
        await apipolicy.call(kube.merge_patch(_path(write.target), write.body))
    elif write.op == "delete":
        # A uid precondition that fails (409) means the object was replaced: it is not ours.
        await apipolicy.call(kube.delete(_path(write.target), write.uid), continue_on_absence=True,
                             continue_on_conflict=True, secret=secret)
    elif write.op == "record-status":
        await apipolicy.call(write_status(kube, topic, write.body["status"], write.resource_version))
    else:
        raise ValueError(f"unknown write {write.op}")


async def act(ctx: Context, topic: dict[str, Any], the_plan: Plan) -> tuple[Plan, apipolicy.Rejected | None]:
    """Run the writes in order, then the status. A refused write ends the writes of this pass and
    turns into the status's Ready condition; other errors propagate (the controller retries)."""
    meta = topic["metadata"]
    written = topic.get("status") or {}
    for write in the_plan.writes:
        log.info("%s/%s: %s", meta["namespace"], meta["name"], write.what)
        try:
            await _perform(ctx.kube, topic, write)
        except apipolicy.Rejected as refused:
            log.warning("%s/%s: %s refused: %s", meta["namespace"], meta["name"], write.what, refused)
            the_plan = the_plan.rejected(write, refused.reason, refused.message, datetime.now(UTC))
            if the_plan.status != written:
                await write_status(ctx.kube, topic, the_plan.status)
            return the_plan, refused
        if write.op == "record-status":
            written = write.body["status"]
    if the_plan.status != written:
        await write_status(ctx.kube, topic, the_plan.status)
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
    topic = await ctx.kube.get(owned.target_path(owned.TOPIC, namespace, name))
    if topic is None or topic["metadata"].get("deletionTimestamp"):
        return None
    spec, error = parse_spec(topic)
    if spec is None:
        obs = Observed(topic=topic, spec=None, spec_error=error, now=datetime.now(UTC), peer_image=ctx.peer_image)
    else:
        obs = await observe(ctx, topic, spec)
    the_plan, refused = await act(ctx, topic, plan(obs))  # 409s propagate: the caller re-reads
    for event in the_plan.events:
        if ctx.events.allow(topic["metadata"]["uid"], event.reason, event.about):
            await post_event(ctx.kube, topic, event.type, event.reason, event.message)
    record_metrics(ctx, topic, obs, the_plan)
    if refused is not None:
        raise refused  # the controller retries with backoff
    return Outcome(phase=the_plan.phase, host_ready=the_plan.host_ready,
                   paused=bool(spec and spec.paused), status=the_plan.status)
