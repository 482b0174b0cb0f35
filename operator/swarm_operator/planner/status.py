"""The status, assembled in one place: the Ready condition, the phase, the REASON column, and the
events of the topic's state.

Phases (`reasons.Phase`, display only; conditions are the API): `Pending` (nothing started yet: the
host identity is being made), `Bootstrapping` (the host StatefulSet is there or being made; no key
yet; the REASON column says what it waits for), `RollingOut` (key recorded, not all Ready), `Ready`,
`Stuck` (a standing problem that needs a person: a reason the table marks `stuck`), `Paused`.
`status.reason` is the reason of the first failing condition (the REASON column).

Events: one per transition of the topic's state that matters, not one per condition that mirrors
it: the base key recorded (`BaseKeyRecorded`, the operator's one decision), a problem (a Warning
named by its reason, again when the reason changes), the way out of a problem (Normal, named by
the new phase), pause and resume; plus the events of single actions the steps decided
(`DriftRepaired`, `ReplicasHeld`, `IdentityRotated`, `OpenWriters`). Plain progress (a new topic's
first state, Pending -> Bootstrapping, RollingOut -> Ready) is shown by the phase and the
conditions, not by an event: a clean cold start posts one event.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from .. import conditions as c
from ..conditions import parse_time
from ..reasons import STUCK, Phase, R
from .types import Event, Observed

Status = dict[str, Any]


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
    return c.Cond(c.READY, True, R.READY, f"base key recorded, host announced, {ready_total} clients ready")


def phase_of(status: Status, paused: bool, host_started: bool) -> Phase:
    ready = c.find(status.get("conditions") or [], c.READY) or {}
    if paused:
        return Phase.PAUSED
    if ready.get("status") == "True":
        return Phase.READY
    if ready.get("reason") in STUCK:
        return Phase.STUCK
    if status.get("baseKey"):
        return Phase.ROLLING_OUT
    return Phase.BOOTSTRAPPING if host_started else Phase.PENDING


def assemble(obs: Observed, conds: list[c.Cond], fields: dict[str, Any], host_started: bool) -> Status:
    """The whole new status from the steps' conditions and fields."""
    old = dict(obs.topic.get("status") or {})
    generation = obs.topic["metadata"].get("generation")
    conds = [*conds, _ready(conds, str(fields.get("clientsReady", "0/0")).split("/")[0])]
    status = {**old, **fields}  # fields replace whole values; the old ones are only read
    status["observedGeneration"] = generation
    status["conditions"] = c.merge(list(old.get("conditions") or []), conds, generation, obs.now)
    if not obs.backup_check:  # the check is off (or was turned off): its condition goes
        status["conditions"] = [x for x in status["conditions"] if x["type"] != c.CREDENTIALS_BACKED_UP]
    status["phase"] = str(phase_of(status, bool(obs.spec and obs.spec.paused), host_started))
    _set_reason(status)
    return status


def open_writers(obs: Observed, fields: dict[str, Any]) -> list[Event]:
    """One Warning when the writer policy becomes Open."""
    old = obs.topic.get("status") or {}
    if obs.spec is not None and obs.spec.writers.policy == "Open" and old.get("writersPolicy") != "Open" \
            and "writersPolicy" in fields:
        return [Event("Warning", R.OPEN_WRITERS, "spec.writers.policy is Open: the host admits any peer that asks as "
                      "a writer of the base (public apps only)")]
    return []


def rollout_seconds(old: Status, new: Status, now: datetime) -> float | None:
    """Key recorded -> all clients ready, when the clients just became ready."""
    if not new.get("baseKey") or c.is_true(old.get("conditions") or [], c.CLIENTS_READY) \
            or not c.is_true(new.get("conditions") or [], c.CLIENTS_READY):
        return None
    recorded = c.find(new.get("conditions") or [], c.BASE_KEY_RECORDED) or {}
    since = parse_time(recorded.get("lastTransitionTime")) or now
    return max(0.0, (now - since).total_seconds())


def _set_reason(status: Status) -> None:
    ready = c.find(status.get("conditions") or [], c.READY) or {}
    if ready.get("status") == "True":
        status.pop("reason", None)
    else:
        status["reason"] = ready.get("reason")


def override_ready(status: Status, reason: str, message: str, now: datetime) -> Status:
    """The status with Ready=False for a reason found while acting (an API refusal)."""
    out = copy.deepcopy(status)
    out["conditions"] = c.merge(out.get("conditions") or [], [c.Cond(c.READY, False, reason, message)],
                                out.get("observedGeneration"), now)
    if out.get("phase") != Phase.PAUSED:
        out["phase"] = str(Phase.STUCK)
    _set_reason(out)
    return out


def _state(status: Status) -> tuple[Any, Any]:
    phase = status.get("phase")
    return phase, status.get("reason") if phase == Phase.STUCK else None


def state_events(old: Status, new: Status) -> list[Event]:
    """The event of the topic's state, when it changed in a way that matters (the module's docstring)."""
    if _state(old) == _state(new):
        return []
    phase, before = new.get("phase"), old.get("phase")
    ready = c.find(new.get("conditions") or [], c.READY) or {}
    message = f"{phase}: {ready.get('message', '')}".rstrip(": ")
    if phase == Phase.STUCK:
        return [Event("Warning", str(new.get("reason")), message)]
    if phase in (Phase.ROLLING_OUT, Phase.READY) and new.get("baseKey") and not old.get("baseKey"):
        return [Event("Normal", R.BASE_KEY_RECORDED, f"base key {new['baseKey']} recorded; {message}")]
    if phase == Phase.PAUSED:
        return [Event("Normal", R.PAUSED, "spec.paused is true: the operator observes and reports, and writes no "
                      "child")]
    if before in (Phase.STUCK, Phase.PAUSED):  # out of a problem, or resumed: named by the new phase
        return [Event("Normal", str(phase), message)]
    return []  # plain progress: the phase and the conditions say it


PROGRESS_FIELDS = ("clients", "clientsReady")
# Fields that are the operator's memory, not news: never worth a status write of their own; they
# ride along with the next one (a restart recomputes them).
QUIET_FIELDS = ("childUIDs",)


def quiet_only(old: Status, new: Status) -> bool:
    """Whether `new` differs from `old` only in `QUIET_FIELDS`."""
    return old != new and {k: v for k, v in old.items() if k not in QUIET_FIELDS} == \
        {k: v for k, v in new.items() if k not in QUIET_FIELDS}


def _without_progress(status: Status) -> Status:
    out = {k: v for k, v in status.items() if k not in PROGRESS_FIELDS + QUIET_FIELDS}
    out["conditions"] = [{k: v for k, v in cond.items() if k != "message"} for cond in status.get("conditions") or []]
    return out


def progress_only(old: Status, new: Status) -> bool:
    """Whether `new` differs from `old` only in the clients' ready counts and the condition messages
    that say them (no phase, condition status or reason moves): such a status may wait a moment to
    be written together with the next count."""
    return old != new and _without_progress(old) == _without_progress(new)


def describe_change(old: Status, new: Status) -> str:
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
