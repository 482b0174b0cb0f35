"""Several hosts (`spec.bootstrapHost.replicas` 3 or 5): how many are Ready (`HostsReady`, said but
not part of Ready), whether a majority of the base's indexers is up (`Quorum`), and `status.hosts`.

The indexers are the base's, as the hosts report them (the most confirmed report's list). A
majority of them up keeps the topic confirming writes and admitting members. An indexer key is
lost for good when the host of its seat runs on another key (its disk was replaced): once lost
keys leave no majority, nothing can confirm again (`QuorumLost`, Stuck); otherwise fewer than a
majority up is `QuorumDown`, which clears when the hosts come back.

A host that is still starting counts as up for `STARTING_GRACE` seconds: its pod made less than
that ago and not being deleted, or (no pod yet) the key recorded less than that ago, which is when
the StatefulSet is given all N. Such a host is promoted and turns active with its first ack, a
moment the operator sees only at the host's next readiness probe; without the grace, every cold
start of several hosts (host 1 promoted before its pod is Ready) and every topic made again over
retained volumes (its indexers known before hosts 1.. exist) would say QuorumDown, Stuck, with a
Warning, for a few seconds of plain progress. Past the grace a host not Ready counts as down.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from .. import conditions as c
from ..conditions import parse_time
from ..hostreport import HostReport
from ..objects import pod_ready
from ..reasons import R
from .types import Observed, Readiness

RECHECK = 10.0  # seconds between looks while hosts are missing (their reports change without an event)
STARTING_GRACE = 60.0  # seconds a host that is starting counts as up (the module's docstring)


def _ready_reports(obs: Observed) -> dict[int, HostReport]:
    return {n: r for n, r in obs.reports.items() if pod_ready(obs.host_pods.get(n))}


def _hosts(obs: Observed, public_keys: tuple[str, ...], ready: dict[int, HostReport]) -> list[dict[str, Any]]:
    """`status.hosts`: each host's ordinal, public key, Ready, and whether it is an indexer."""
    assert obs.spec is not None
    count = max(obs.host_count, len(public_keys), *(n + 1 for n in obs.host_pods))
    out = []
    for n in range(count):
        report = obs.reports.get(n)
        entry: dict[str, Any] = {"ordinal": n, "ready": n in ready}
        if n < len(public_keys):
            entry["publicKey"] = public_keys[n]
        if report is not None and report.indexer is not None:
            entry["indexer"] = report.indexer
        out.append(entry)
    return out


def _started_at(obs: Observed, n: int) -> datetime | None:
    """When host `n` began to start: its pod's making, or (no pod yet) the key's record."""
    pod = obs.host_pods.get(n)
    if pod is None:
        recorded = c.find((obs.topic.get("status") or {}).get("conditions") or [], c.BASE_KEY_RECORDED) or {}
        return parse_time(recorded.get("lastTransitionTime")) if recorded.get("status") == "True" else None
    if pod["metadata"].get("deletionTimestamp"):
        return None
    return parse_time(pod["metadata"].get("creationTimestamp"))


def _starting(obs: Observed, keys: set[str], owner: dict[str, int]) -> list[int]:
    """The hosts of `keys` (indexers not up) that are still starting (the module's docstring)."""
    out = []
    for key in keys:
        n = owner.get(key)
        if n is None or n >= obs.host_count or pod_ready(obs.host_pods.get(n)):
            continue
        since = _started_at(obs, n)
        if since is not None and (obs.now - since).total_seconds() < STARTING_GRACE:
            out.append(n)
    return sorted(out)


def quorum(obs: Observed, ready: dict[int, HostReport]) -> tuple[c.Cond, dict[str, Any]]:
    """The Quorum condition, and what the metrics say of it."""
    if not obs.reports:
        return c.Cond(c.QUORUM, False, R.QUORUM_DOWN, "no host reports: nothing is confirmed and no member is "
                      "admitted until a majority of the indexer hosts is back"), {"quorum": False}
    # The base's state as an active indexer sees it (a host still catching up may see an older one).
    informed = [r for r in obs.reports.values() if r.indexer] or list(obs.reports.values())
    latest = max(informed, key=lambda r: r.signed_length or 0)
    indexers = set(latest.indexer_keys)
    need = len(indexers) // 2 + 1
    up = {r.writer_key for r in ready.values() if r.indexer and r.writer_key in indexers}
    seat_of = {key: n for n, key in latest.host_slots}
    # An indexer key no host runs, while every host answers on a key of its own, has no disk left
    # (the seats may already name the new keys: host 0 adds them optimistically, and they stay
    # unconfirmed when too many went at once).
    answered = all(n in obs.reports for n in range(obs.host_count))
    unseated = {key for key in indexers if key not in {r.writer_key for r in obs.reports.values()}} \
        if answered else set()
    # A key once seen replaced stays lost (its disk is gone), whether or not its host answers now.
    lost = sorted((indexers & obs.lost_keys) | unseated | {
        key for key in indexers if key in seat_of and seat_of[key] in obs.reports
        and obs.reports[seat_of[key]].writer_key != key})
    owner = {**seat_of, **{r.writer_key: n for n, r in obs.reports.items()}}
    starting = _starting(obs, indexers - up - set(lost), owner) if len(up) < need else []
    stats = {"quorum": len(up) + len(starting) >= need, "indexers": len(indexers), "lost": lost,
             "unconfirmed": max((r.unconfirmed or 0) for r in obs.reports.values())}
    if indexers and len(indexers) - len(lost) < need:
        replaced = {seat_of[k] for k in lost if k in seat_of} | {
            n for n, r in obs.reports.items() if unseated and r.writer_key not in indexers}
        hosts = ", ".join(str(n) for n in sorted(replaced))
        return c.Cond(c.QUORUM, False, R.QUORUM_LOST,
                      f"hosts {hosts} lost their disks: {len(lost)} of the base's {len(indexers)} indexers are gone "
                      f"for good and {need} are needed, so nothing can be confirmed again; nothing is re-created on a "
                      "new base: see docs/operations.md (quorum lost)"), {**stats, "quorum": False}
    if len(up) >= need:
        return c.Cond(c.QUORUM, True, R.QUORUM_HELD, f"{len(up)} of {len(indexers)} indexers up"), stats
    if len(up) + len(starting) >= need:
        hosts = ", ".join(str(n) for n in starting)
        return c.Cond(c.QUORUM, True, R.QUORUM_HELD, f"{len(up)} of {len(indexers)} indexers up, host(s) {hosts} "
                      f"starting (counted up for {STARTING_GRACE:.0f} s)"), stats
    return c.Cond(c.QUORUM, False, R.QUORUM_DOWN,
                  f"{len(up)} of {len(indexers)} indexers up, {need} needed: writes wait for confirmation and no "
                  "member is admitted until a host comes back"), stats


def several_hosts(obs: Observed, public_keys: tuple[str, ...], zero: Readiness) -> Readiness:
    """Host 0's readiness (`zero`, which records the key) widened to every host."""
    assert obs.spec is not None
    wanted = obs.host_count
    ready = _ready_reports(obs)
    conds = [x for x in zero.conditions if x.type != c.HOST_WRITABLE]
    if obs.recorded_key and ready:
        conds = [x for x in conds if x.type != c.HOST_READY]
        conds.insert(0, c.Cond(c.HOST_READY, True, R.ANNOUNCE_FLUSHED, f"{len(ready)} of {wanted} hosts announced"))
    failing = [f"host {n}: {e.reason}" for n, e in sorted(obs.report_errors.items())]
    if len(ready) >= wanted:
        conds.append(c.Cond(c.HOSTS_READY, True, R.ALL_HOSTS_READY, f"{len(ready)}/{wanted} hosts ready"))
    else:
        conds.append(c.Cond(c.HOSTS_READY, False, R.HOSTS_NOT_READY, "; ".join(
            [f"{len(ready)}/{wanted} hosts ready", *failing])))
    stats: dict[str, Any] = {}
    if obs.recorded_key:
        cond, stats = quorum(obs, ready)
        conds.append(cond)
    recheck = zero.recheck if len(ready) >= wanted and stats.get("quorum", True) else \
        min(RECHECK, zero.recheck or RECHECK)
    fields = {**zero.fields, "hosts": _hosts(obs, public_keys, ready)}
    return replace(zero, conditions=tuple(conds), fields=fields, recheck=recheck, host_stats=stats)
