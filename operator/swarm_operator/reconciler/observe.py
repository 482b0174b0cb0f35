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
from ..identity import known_host_key, known_public_key, new_seed
from ..models import HOST_REPLICAS, SwarmTopicSpec
from ..objects import controlled_by, pod_ready
from ..planner import Observed
from ..planner.types import fresh_key
from .context import Key, Memory, ReportKey, ReportMemo, Wiring
from .hostclient import host_of, read_host_report

NOT_READY_TTL = 5.0  # seconds a report of a host that is not Ready is used before it is read again


def _by_ordinal(objs: list[dict[str, Any]], zero: str) -> dict[int, dict[str, Any]]:
    """The hosts' pods (or volumes), by ordinal: named like host 0's (`zero`) but for the number."""
    stem = zero[:-1]
    out: dict[int, dict[str, Any]] = {}
    for obj in objs:
        suffix = obj["metadata"]["name"].removeprefix(stem)
        if obj["metadata"]["name"].startswith(stem) and suffix.isdigit():
            out[int(suffix)] = obj
    return out


def claims(topic: dict[str, Any], spec: SwarmTopicSpec) -> list[tuple[owned.Kind, str]]:
    """The children the topic's names claim, by kind, in the owned table's order."""
    name = topic["metadata"]["name"]
    return [(kind, n) for kind in owned.children() for n in kind.claimed(name, spec)]


def checked_first(caches: Any, topic: dict[str, Any], spec: SwarmTopicSpec) -> set[tuple[str, str]]:
    """The names checked before anything is created: every name of a kind `checked_first` that the
    topic's children take, the hosts' Secret and disruption budget only with several hosts (with
    one they are never made, and would be read on every pass)."""
    name, ns = topic["metadata"]["name"], topic["metadata"]["namespace"]
    running = int(((caches.get(owned.STATEFULSET, ns, names.host_statefulset(name)) or {}).get("spec") or {}).get(
        "replicas") or 0)
    several = max(spec.bootstrapHost.replicas, running) > 1
    only_several = {(owned.SECRET.kind, names.hosts_secret(name)),
                    (owned.DISRUPTION_BUDGET.kind, names.host_disruption_budget(name))}
    return {(kind.kind, n) for kind, n in claims(topic, spec)
            if kind.checked_first and (several or (kind.kind, n) not in only_several)}


async def read_past_caches(wiring: Wiring, memory: Memory, key: Key,
                           found: dict[tuple[str, str], dict[str, Any] | None],
                           checked: set[tuple[str, str]] | None = None, as_of: str | None = None) -> None:
    """Same-named objects no cache sees, read directly (those met before, and every `checked` name
    that no cache holds, before anything is created, unless its kind's name index knows it free as
    of `as_of`, the topic's resourceVersion); kept on the topic's direct reads while they exist,
    forgotten once gone."""
    pending = memory.direct.setdefault(key, set())
    absent = {(k, n) for (k, n), obj in found.items() if obj is None and (k, n) in (checked or set())
              and not wiring.caches.free(owned.BY_KIND[k], key[0], n, as_of)}
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
    await read_past_caches(wiring, memory, (ns, name), found, checked_first(caches, topic, spec),
                           meta.get("resourceVersion"))
    obs = Observed(topic=topic, spec=spec, spec_error=None, now=datetime.now(UTC), peer_image=wiring.peer_image,
                   network=wiring.network, may_roll=memory.rolls.may_roll((ns, name)), backup_check=wiring.backup_check,
                   host_pods=_by_ordinal(caches.of_topic(owned.POD, ns, name), names.host_pod(name, 0)),
                   volumes=_by_ordinal(caches.of_topic(owned.PVC, ns, name), names.host_pvc(name, 0)))
    # Its own Deployments of groups no longer in the spec (to delete), then whatever holds the names
    # the spec claims.
    for dep in caches.of_topic(owned.DEPLOYMENT, ns, name):
        if controlled_by(dep, topic):
            obs.set_child(owned.DEPLOYMENT, dep["metadata"]["name"], dep)
    for (kind_name, child), obj in found.items():
        obs.set_child(owned.BY_KIND[kind_name], child, obj)
    obs.known_uids = {**((topic.get("status") or {}).get("childUIDs") or {}), **memory.uids.get((ns, name), {})}
    obs.fresh = _fresh(obs, spec)
    obs.fresh_seed_id = secrets.token_hex(8)
    identity = obs.secrets.get(names.identity_secret(name))
    if identity is not None and controlled_by(identity, topic):
        # A list: with no host pod yet, max() of one number alone would fail.
        keys = _public_keys(topic, obs.configmap, identity, max([obs.host_count, *(n + 1 for n in obs.host_pods)]))
        hosts = [(n, pod, keys[n]) for n, pod in sorted(obs.host_pods.items()) if n in keys and _running(pod, n)]
        answers = await asyncio.gather(*(_report(wiring, memory, (ns, name, n), pod, key, spec.topic_of(name))
                                         for n, pod, key in hosts))
        for (n, pod, _), (report, error) in zip(hosts, answers, strict=True):
            if report is not None:
                obs.reports[n] = report
            elif error is not None and pod_ready(pod):
                obs.report_errors[n] = error
        obs.flushed = _flushed(wiring, (ns, name), topic, obs.host_pod, keys.get(0), spec.topic_of(name))
    elif wiring.flushes is not None:
        wiring.flushes.forget((ns, name))
    memos = memory.reports.get((ns, name))
    if memos is not None:
        for gone in [n for n in memos if n not in obs.reports]:
            del memos[gone]
        if not memos:
            del memory.reports[(ns, name)]
    return obs


def _flushed(wiring: Wiring, key: Key, topic: dict[str, Any], pod: dict[str, Any] | None, public_key: str | None,
             swarm_topic: str) -> HostReport | None:
    """Host 0's report read as soon as its announce flushed, before its pod is Ready (`flushwait.py`):
    waited on while no key is recorded and the pod runs with an address; forgotten otherwise."""
    if wiring.flushes is None:
        return None
    status = (pod or {}).get("status") or {}
    if (pod is None or public_key is None or (topic.get("status") or {}).get("baseKey") or pod_ready(pod)
            or pod["metadata"].get("deletionTimestamp") or status.get("phase") != "Running" or not status.get("podIP")):
        wiring.flushes.forget(key)
        return None
    return wiring.flushes.report(key, pod, public_key, swarm_topic)


def _fresh(obs: Observed, spec: SwarmTopicSpec) -> dict[str, str]:
    """Random values for the Secrets the topic lacks, and for the seeds of hosts its identity Secret
    lacks (the planner has no randomness of its own)."""
    name = obs.name
    identity = names.identity_secret(name)
    fresh = {s: (new_seed() if s == identity else secrets.token_hex(32))
             for s in owned.SECRET.claimed(name, spec) if obs.secrets.get(s) is None}
    annotations = ((obs.secrets.get(identity) or {}).get("metadata") or {}).get("annotations") or {}
    more = range(1, max(HOST_REPLICAS)) if identity in fresh else range(1, obs.host_count)
    fresh.update({fresh_key(identity, names.identity_seed_key(n)): new_seed()
                  for n in more if not annotations.get(names.host_public_key_annotation(n))})
    return fresh


def _public_keys(topic: dict[str, Any], configmap: dict[str, Any] | None, identity: dict[str, Any],
                 hosts: int) -> dict[int, str]:
    """Each host's public key, pinned as recorded in status (else as its identity Secret says)."""
    keys = {n: key for n in range(1, hosts) if (key := known_host_key(topic, identity, n))}
    zero = known_public_key(topic, configmap, identity)
    return {0: zero, **keys} if zero else keys


def _running(pod: dict[str, Any], ordinal: int) -> bool:
    """A host whose report is read: host 0 once Ready (its announce has flushed: the key is recorded
    from it); another once running with an address (a host that cannot become an indexer, having
    lost its disk with the quorum, is never Ready, and its report is what tells the loss)."""
    if ordinal == 0 or pod_ready(pod):
        return pod_ready(pod)
    status = pod.get("status") or {}
    return not pod["metadata"].get("deletionTimestamp") and status.get("phase") == "Running" \
        and bool(status.get("podIP"))


async def _report(wiring: Wiring, memory: Memory, key: ReportKey, pod: dict[str, Any], public_key: str,
                  topic: str) -> tuple[HostReport | None, HostReportError | None]:
    """The host's verified report: read again when the host changed or the last one is old (a host
    that is not Ready: after a few seconds, as its report changes without its pod)."""
    pod_id = host_of(pod)
    memos = memory.reports.setdefault(key[:2], {})
    memo = memos.get(key[2])
    ttl = wiring.report_ttl if pod_ready(pod) else NOT_READY_TTL
    if memo is not None and memo.host == pod_id and time.monotonic() - memo.at < ttl:
        return memo.report, None
    try:
        report = await read_host_report(wiring.http, pod, public_key, topic)
    except HostReportError as exc:
        memos.pop(key[2], None)
        return None, exc
    memos[key[2]] = ReportMemo(pod_id, time.monotonic(), report)
    return report, None
