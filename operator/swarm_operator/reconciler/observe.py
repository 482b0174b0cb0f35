"""Observe: a topic's world, read from the watch-fed caches, never written.

Two things are read past the caches: the host's signed `/status` (when its pod changed or the last
verified report is older than the re-check interval), and same-named objects no cache can see
(they carry none of the operator's labels: a create met 409 with one of them), each read directly
on every pass until it is gone. Observe also draws the random values of Secrets that do not exist
yet (the planner has no randomness of its own).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from .. import names, owned
from ..hostreport import HostReport, HostReportError
from ..identity import known_public_key, new_seed
from ..models import SwarmTopicSpec
from ..objects import controlled_by, pod_ready
from ..planner import Observed
from .context import Key, Memory, ReportMemo, Wiring
from .hostclient import read_host_report


def host_of(pod: dict[str, Any]) -> tuple[Any, ...]:
    """What makes the host another one, or a restarted one: the pod, its IP, when it last turned
    Ready, its containers' restarts (not its every status update)."""
    status = pod.get("status") or {}
    ready = next((c.get("lastTransitionTime") for c in status.get("conditions") or [] if c.get("type") == "Ready"),
                 None)
    restarts = tuple(c.get("restartCount", 0) for c in status.get("containerStatuses") or [])
    return pod["metadata"].get("uid"), status.get("podIP"), ready, restarts


def claims(topic: dict[str, Any], spec: SwarmTopicSpec) -> list[tuple[owned.Kind, str]]:
    """The children the topic's names claim, by kind, in the owned table's order."""
    name = topic["metadata"]["name"]
    return [(kind, n) for kind in owned.children() for n in kind.claimed(name, spec)]


async def read_past_caches(wiring: Wiring, memory: Memory, key: Key,
                           found: dict[tuple[str, str], dict[str, Any] | None]) -> None:
    """Same-named objects no cache sees, read directly (those met before, and every name of a kind
    `checked_first` that no cache holds: before anything is created); kept on the topic's direct
    reads while they exist, forgotten once gone."""
    pending = memory.direct.setdefault(key, set())
    absent = {(k, n) for (k, n), obj in found.items() if obj is None and owned.BY_KIND[k].checked_first}
    asked = sorted(pending | absent)
    answers = await asyncio.gather(*(wiring.kube.get(owned.BY_KIND[k].path(key[0], n),
                                                     metadata_only=owned.BY_KIND[k].metadata_only) for k, n in asked))
    for (kind_name, name), obj in zip(asked, answers, strict=True):
        if obj is None:
            pending.discard((kind_name, name))
        else:
            pending.add((kind_name, name))
            metadata_only = owned.BY_KIND[kind_name].metadata_only
            found[(kind_name, name)] = {"metadata": obj.get("metadata") or {}} if metadata_only else obj
    if not pending:
        memory.direct.pop(key, None)


async def observe(wiring: Wiring, memory: Memory, topic: dict[str, Any], spec: SwarmTopicSpec) -> Observed:
    """The topic's world, from the caches. Never writes."""
    meta = topic["metadata"]
    name, ns = meta["name"], meta["namespace"]
    caches = wiring.caches
    found = {(kind.kind, n): caches.get(kind, ns, n) for kind, n in claims(topic, spec)}
    await read_past_caches(wiring, memory, (ns, name), found)
    obs = Observed(topic=topic, spec=spec, spec_error=None, now=datetime.now(UTC), peer_image=wiring.peer_image,
                   host_pod=caches.get(owned.POD, ns, names.host_pod(name)),
                   volume=caches.get(owned.PVC, ns, names.host_pvc(name)))
    # Its own Deployments of groups no longer in the spec (to delete), then whatever holds the names
    # the spec claims.
    for dep in caches.of_topic(owned.DEPLOYMENT, ns, name):
        if controlled_by(dep, topic):
            obs.set_child(owned.DEPLOYMENT, dep["metadata"]["name"], dep)
    for (kind_name, child), obj in found.items():
        obs.set_child(owned.BY_KIND[kind_name], child, obj)
    obs.known_uids = {**((topic.get("status") or {}).get("childUIDs") or {}), **memory.uids.get((ns, name), {})}
    obs.fresh = {s: (new_seed() if s == names.identity_secret(name) else secrets.token_hex(32))
                 for s in owned.SECRET.claimed(name, spec) if obs.secrets.get(s) is None}
    obs.fresh_seed_id = secrets.token_hex(8)
    identity = obs.secrets.get(names.identity_secret(name))
    public_key = known_public_key(topic, obs.configmap, identity)
    if pod_ready(obs.host_pod) and identity is not None and controlled_by(identity, topic) and public_key:
        assert obs.host_pod is not None
        obs.report, obs.report_error = await _report(wiring, memory, (ns, name), obs.host_pod, public_key,
                                                     spec.topic_of(name))
    else:
        memory.reports.pop((ns, name), None)
    return obs


async def _report(wiring: Wiring, memory: Memory, key: Key, pod: dict[str, Any], public_key: str,
                  topic: str) -> tuple[HostReport | None, HostReportError | None]:
    """The host's verified report: read again when the host changed or the last one is old."""
    pod_id = host_of(pod)
    memo = memory.reports.get(key)
    if memo is not None and memo.host == pod_id and time.monotonic() - memo.at < wiring.report_ttl:
        return memo.report, None
    try:
        report = await read_host_report(wiring.http, pod, public_key, topic)
    except HostReportError as exc:
        memory.reports.pop(key, None)
        return None, exc
    memory.reports[key] = ReportMemo(pod_id, time.monotonic(), report)
    return report, None
