"""The base key: recorded once, from the verified report of a Ready host, with the topic's
resourceVersion as a precondition; never overwritten. A host reporting another key is a conflict
(`Degraded`), and the recorded key stays the clients' key."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .. import conditions as c
from .. import owned
from ..children import configmap
from ..conditions import parse_time
from ..reasons import R
from . import record as record_check
from .host import Readiness, inputs
from .types import Decision, Observed, Write, write


@dataclass(frozen=True)
class Key(Decision):
    recorded: str | None = None  # the topic's base key, recorded before or now (None: not yet)
    recorded_now: bool = False  # this pass records it: the status write carries it, before anything else
    conflict_now: bool = False  # a conflict just began


def record(obs: Observed, public_key: str, ready: Readiness) -> Key:
    """Record the key once, then give it to the ConfigMap (the writes after the status' record)."""
    assert obs.spec is not None
    recorded, adopted, report = obs.recorded_key, obs.spec.adopted_base_key(), ready.report
    degraded = c.Cond(c.DEGRADED, False, R.AS_EXPECTED, "")
    conds: list[c.Cond] = []
    fields: dict[str, object] = {}
    writes: tuple[Write, ...] = ()
    if recorded:
        conds.append(c.Cond(c.BASE_KEY_RECORDED, True, R.RECORDED, f"base key {recorded}"))
        given = record_check.given(obs)
        if given.untrusted is not None:
            degraded = given.untrusted
        elif report is not None and report.base_key != recorded:
            degraded = c.Cond(c.DEGRADED, True, R.BASE_KEY_CONFLICT,
                              f"the host reports base key {report.base_key}, status.baseKey is {recorded}: the "
                              f"record is kept, never overwritten, and the clients stay on the key they have "
                              f"({given.key or 'none yet'})")
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
        cm = configmap.swarm_configmap(replace(inputs(obs, public_key), base_key=recorded))
        writes = (write("apply", owned.CONFIGMAP, obs.topic, cm["metadata"]["name"], cm,
                        f"write base key to ConfigMap {cm['metadata']['name']}"),)
    else:
        conds.append(c.Cond(c.BASE_KEY_RECORDED, False, R.WAITING_FOR_HOST,
                            "the base key is recorded once the host is Ready and its report verifies"))
    conds.append(degraded)
    old = c.find((obs.topic.get("status") or {}).get("conditions") or [], c.DEGRADED) or {}
    return Key(writes=writes, conditions=tuple(conds), fields=fields, recorded=recorded,
               recorded_now=bool(fields), conflict_now=degraded.status is True and old.get("status") != "True")
