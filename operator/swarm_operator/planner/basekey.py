"""The base key: recorded once, from host 0's verified report (of a Ready host, or read as soon as
its announce flushed: a host signs no report before), with the topic's resourceVersion as a
precondition; never overwritten. A host reporting another key is a conflict
(`Degraded`), and the recorded key stays the clients' key."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .. import conditions as c
from .. import owned
from ..children import configmap
from ..conditions import parse_time
from ..reasons import R
from . import record as record_check
from .host import inputs, rolled
from .types import Decision, Observed, Readiness, Write, write


@dataclass(frozen=True)
class Key(Decision):
    recorded: str | None = None  # the topic's base key, recorded before or now (None: not yet)
    recorded_now: bool = False  # this pass records it: the status write carries it, before anything else
    conflict_now: bool = False  # a conflict just began


def _other_key(obs: Observed, ready: Readiness, key: str) -> str | None:
    """What a host reports that is not `key`: host 0's verified report of a Ready pod, or any other
    host's report (several hosts)."""
    reports = [(0, ready.report)] if ready.report is not None else []
    reports += sorted((n, r) for n, r in obs.reports.items() if n > 0)
    return next((f"host {n} reports base key {r.base_key}" if n else f"the host reports base key {r.base_key}"
                 for n, r in reports if r is not None and r.base_key != key), None)


def _scale_after_key(obs: Observed, public_keys: tuple[str, ...], recorded: str) -> tuple[Write, ...]:
    """Several hosts: the others start once the key is in the ConfigMap (they join the base by it)."""
    assert obs.spec is not None
    replicas = obs.spec.bootstrapHost.replicas
    if replicas == 1 or not rolled(obs.statefulset):
        return ()  # one host; or host 0 still rolls: the host side scales once it is done
    assert obs.statefulset is not None
    name = obs.statefulset["metadata"]["name"]
    return (write("scale", owned.STATEFULSET, obs.topic, name, {"spec": {"replicas": replicas}},
                  f"scale StatefulSet {name} to {replicas} hosts (the key is in the ConfigMap)"),)


def record(obs: Observed, public_keys: tuple[str, ...], ready: Readiness) -> Key:
    """Record the key once, then give it to the ConfigMap (the writes after the status' record)."""
    assert obs.spec is not None
    recorded, adopted, report = obs.recorded_key, obs.spec.adopted_base_key(), ready.report or obs.flushed
    degraded = c.Cond(c.DEGRADED, False, R.AS_EXPECTED, "")
    conds: list[c.Cond] = []
    fields: dict[str, object] = {}
    writes: tuple[Write, ...] = ()
    if recorded:
        conds.append(c.Cond(c.BASE_KEY_RECORDED, True, R.RECORDED, f"base key {recorded}"))
        given = record_check.given(obs)
        if given.untrusted is not None:
            degraded = given.untrusted
        elif (other := _other_key(obs, ready, recorded)) is not None:
            degraded = c.Cond(c.DEGRADED, True, R.BASE_KEY_CONFLICT,
                              f"{other}, status.baseKey is {recorded}: the record is kept, never overwritten, and "
                              f"the clients stay on the key they have ({given.key or 'none yet'})")
    elif report is not None and adopted and report.base_key != adopted:
        degraded = c.Cond(c.DEGRADED, True, R.BASE_KEY_CONFLICT,
                          f"the host reports base key {report.base_key}, spec.baseKey is {adopted}; nothing recorded")
        conds.append(c.Cond(c.BASE_KEY_RECORDED, False, R.BASE_KEY_CONFLICT, degraded.message))
    elif report is not None:
        recorded = report.base_key
        started = parse_time(obs.topic["metadata"].get("creationTimestamp")) or obs.now
        fields = {"baseKey": recorded, "baseKeyShort": recorded[:12], "writerKey": report.writer_key,
                  "announcedAt": report.announced_at,
                  "bootstrapSeconds": round(max(0.0, (obs.now - started).total_seconds()), 3)}
        conds.append(c.Cond(c.BASE_KEY_RECORDED, True, R.RECORDED, f"base key {recorded}"))
        cm = configmap.swarm_configmap(replace(inputs(obs, public_keys), base_key=recorded))
        writes = (write("apply", owned.CONFIGMAP, obs.topic, cm["metadata"]["name"], cm,
                        f"write base key to ConfigMap {cm['metadata']['name']}"),
                  *_scale_after_key(obs, public_keys, recorded))
    else:
        conds.append(c.Cond(c.BASE_KEY_RECORDED, False, R.WAITING_FOR_HOST,
                            "the base key is recorded once the host's announce has flushed and its report verifies"))
    conds.append(degraded)
    old = c.find((obs.topic.get("status") or {}).get("conditions") or [], c.DEGRADED) or {}
    return Key(writes=writes, conditions=tuple(conds), fields=fields, recorded=recorded,
               recorded_now=bool(fields), conflict_now=degraded.status is True and old.get("status") != "True")
