"""The summary step: the Ready condition, the phase, the REASON column, and the state events.

Phases (display only; conditions are the API): `Pending` (nothing started yet: the host identity
is being made), `Bootstrapping` (the host StatefulSet is there or being made; no key yet; the REASON
column says what it waits for), `RollingOut` (key recorded, not all Ready), `Ready`, `Stuck` (a
standing problem that needs a person: the reasons of `STUCK`), `Paused`. `status.reason` is the
reason of the first failing condition (the REASON column).

Events: one per transition of the topic's state that matters, not one per condition that mirrors
it: the base key recorded (`BaseKeyRecorded`, the operator's one decision), a problem (a Warning
named by its reason, again when the reason changes), the way out of a problem (Normal, named by
the new phase), pause and resume; plus the side events of single actions (`SIDE_REASONS`). Plain
progress (a new topic's first state, Pending -> Bootstrapping, RollingOut -> Ready) is shown by
the phase and the conditions, not by an event: a clean cold start posts one event.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import conditions as c

if TYPE_CHECKING:
    from .plan import Event, Observed, Plan

STUCK = frozenset({
    "InvalidSpec", "NameConflict", "ApiRejected", "Forbidden", "AnnounceTimeout", "BaseKeyConflict",
    "BadSignature", "WrongTopic", "WrongIdentity", "MalformedReport", "StaleReport", "HostNotWritable",
    "BaseUnreachable",
})
SIDE_REASONS = frozenset({"DriftRepaired", "ReplicasHeld", "IdentityRotated", "OpenWriters", "NeverBackedUp",
                          "BackupOutdated"})


def _ready(conds: list[c.Cond], ready_total: str) -> c.Cond:
    given = next((x for x in conds if x.type == c.READY), None)
    if given is not None:
        return given
    degraded = [x for x in conds if x.type == c.DEGRADED and x.status is True]
    rank = {t: i for i, t in enumerate(c.ORDER)}
    failing = degraded + sorted((x for x in conds if x.type not in (c.DEGRADED, c.READY, *c.INFORMATIONAL)
                                 and x.status is not True),
                                key=lambda x: rank.get(x.type, len(c.ORDER)))
    if failing:
        return c.Cond(c.READY, False, failing[0].reason, failing[0].message)
    return c.Cond(c.READY, True, "Ready", f"base key recorded, host announced, {ready_total} clients ready")


def phase_of(status: dict[str, Any], paused: bool, host_started: bool) -> str:
    ready = c.find(status.get("conditions") or [], c.READY) or {}
    if paused:
        return "Paused"
    if ready.get("status") == "True":
        return "Ready"
    if ready.get("reason") in STUCK:
        return "Stuck"
    if status.get("baseKey"):
        return "RollingOut"
    return "Bootstrapping" if host_started else "Pending"


def finish(obs: Observed, out: Plan, conds: list[c.Cond], extra: dict[str, Any]) -> Plan:
    """The whole new status, the state events, and the key's record carrying that status."""
    old = out.old_status
    generation = obs.topic["metadata"].get("generation")
    conds = [*conds, _ready(conds, str(extra.get("clientsReady", "0/0")).split("/")[0])]
    status = copy.deepcopy(old)
    status.update(extra)
    status["observedGeneration"] = generation
    status["conditions"] = c.merge(list(old.get("conditions") or []), conds, generation, obs.now)
    if not obs.backup_check:  # the check was turned off: its condition goes
        status["conditions"] = [x for x in status["conditions"] if x["type"] != c.CREDENTIALS_BACKED_UP]
    paused = bool(obs.spec and obs.spec.paused)
    host_started = obs.statefulset is not None or any(
        w.op == "create" and w.target.kind == "StatefulSet" for w in out.writes)
    status["phase"] = phase_of(status, paused, host_started)
    _set_reason(status)
    out.status = status
    out.writes = [replace(w, body={"status": status}) if w.op == "record-status" else w for w in out.writes]
    if obs.spec is not None and obs.spec.writers.policy == "Open" and old.get("writersPolicy") != "Open" \
            and "writersPolicy" in extra:
        from .plan import Event

        out.events.append(Event("Warning", "OpenWriters", "spec.writers.policy is Open: the host admits any "
                                "peer that asks as a writer of the base (public apps only)"))
    out.events.extend(state_events(old, status))
    out.rollout_seconds = _rollout_seconds(old, status, obs.now)
    return out


def _rollout_seconds(old: dict[str, Any], new: dict[str, Any], now: datetime) -> float | None:
    """Key recorded -> all clients ready, when the clients just became ready."""
    if not new.get("baseKey") or c.is_true(old.get("conditions") or [], c.CLIENTS_READY) \
            or not c.is_true(new.get("conditions") or [], c.CLIENTS_READY):
        return None
    from .plan import parse_time

    recorded = c.find(new.get("conditions") or [], c.BASE_KEY_RECORDED) or {}
    since = parse_time(recorded.get("lastTransitionTime")) or now
    return max(0.0, (now - since).total_seconds())


def _set_reason(status: dict[str, Any]) -> None:
    ready = c.find(status.get("conditions") or [], c.READY) or {}
    if ready.get("status") == "True":
        status.pop("reason", None)
    else:
        status["reason"] = ready.get("reason")


def override_ready(status: dict[str, Any], reason: str, message: str, now: datetime) -> dict[str, Any]:
    """The status with Ready=False for a reason found while acting (an API rejection)."""
    out = copy.deepcopy(status)
    out["conditions"] = c.merge(out.get("conditions") or [], [c.Cond(c.READY, False, reason, message)],
                                out.get("observedGeneration"), now)
    if out.get("phase") != "Paused":
        out["phase"] = "Stuck"
    _set_reason(out)
    return out


def _state(status: dict[str, Any]) -> tuple[Any, Any]:
    phase = status.get("phase")
    return phase, status.get("reason") if phase == "Stuck" else None


def state_events(old: dict[str, Any], new: dict[str, Any]) -> list[Event]:
    from .plan import Event

    if _state(old) == _state(new):
        return []
    phase, before = new.get("phase"), old.get("phase")
    ready = c.find(new.get("conditions") or [], c.READY) or {}
    message = f"{phase}: {ready.get('message', '')}".rstrip(": ")
    if phase == "Stuck":
        return [Event("Warning", str(new.get("reason")), message)]
    if phase in ("RollingOut", "Ready") and new.get("baseKey") and not old.get("baseKey"):
        return [Event("Normal", "BaseKeyRecorded", f"base key {new['baseKey']} recorded; {message}")]
    if phase == "Paused":
        return [Event("Normal", "Paused", "spec.paused is true: the operator observes and reports, and "
                      "writes no child")]
    if before in ("Stuck", "Paused"):  # out of a problem, or resumed
        return [Event("Normal", str(phase), message)]
    return []  # plain progress: the phase and the conditions say it


PROGRESS_FIELDS = ("clients", "clientsReady")


def _without_progress(status: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in status.items() if k not in PROGRESS_FIELDS}
    out["conditions"] = [{k: v for k, v in cond.items() if k != "message"} for cond in status.get("conditions") or []]
    return out


def progress_only(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether `new` differs from `old` only in the clients' ready counts and the condition messages
    that say them (no phase, condition status or reason moves): such a status may wait a moment to
    be written together with the next count."""
    return old != new and _without_progress(old) == _without_progress(new)


def describe_change(old: dict[str, Any], new: dict[str, Any]) -> str:
    """What a status write changes, for the log: the phase, the conditions that moved, the fields."""
    parts = []
    if old.get("phase") != new.get("phase"):
        parts.append(f"phase {old.get('phase')} -> {new.get('phase')}")
    before = {x["type"]: (x.get("status"), x.get("reason")) for x in old.get("conditions") or []}
    for cond in new.get("conditions") or []:
        if before.get(cond["type"]) != (cond.get("status"), cond.get("reason")):
            parts.append(f"{cond['type']}={cond.get('status')}/{cond.get('reason')}")
    fields = sorted(k for k in set(old) | set(new) if k not in ("phase", "conditions") and old.get(k) != new.get(k))
    if fields:
        parts.append("fields " + ", ".join(fields))
    return "; ".join(parts) or "condition messages"
