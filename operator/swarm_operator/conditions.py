"""metav1.Condition bookkeeping: a transition time moves only when the status flips."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

HOST_READY = "HostReady"
HOST_WRITABLE = "HostWritable"
BASE_KEY_RECORDED = "BaseKeyRecorded"
CLIENTS_READY = "ClientsReady"
DEGRADED = "Degraded"
READY = "Ready"
# With `run --backup-check`: whether the topic's credentials are in a backup (`backupcheck.py`).
CREDENTIALS_BACKED_UP = "CredentialsBackedUp"
ORDER = (HOST_READY, HOST_WRITABLE, BASE_KEY_RECORDED, CLIENTS_READY, DEGRADED, CREDENTIALS_BACKED_UP, READY)
# Conditions that inform and never hold Ready back (a topic without a backup still serves).
INFORMATIONAL = frozenset({CREDENTIALS_BACKED_UP})


def now_rfc3339(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Cond:
    """A desired condition, before bookkeeping."""

    type: str
    status: bool | None  # None = Unknown
    reason: str
    message: str = ""

    @property
    def status_text(self) -> str:
        return "Unknown" if self.status is None else ("True" if self.status else "False")


def merge(current: list[dict[str, Any]], desired: list[Cond], generation: int | None,
          now: datetime | None = None) -> list[dict[str, Any]]:
    """The new `status.conditions`: desired ones replace theirs, others are kept as they are.

    `lastTransitionTime` is kept unless the status value changes (API conventions).
    """
    by_type = {c["type"]: dict(c) for c in current}
    stamp = now_rfc3339(now)
    for cond in desired:
        old = by_type.get(cond.type)
        changed = old is None or old.get("status") != cond.status_text
        new = {
            "type": cond.type,
            "status": cond.status_text,
            "reason": cond.reason,
            "message": cond.message,
            "lastTransitionTime": stamp if changed else old["lastTransitionTime"],
        }
        if generation is not None:
            new["observedGeneration"] = generation
        by_type[cond.type] = new
    rank = {t: i for i, t in enumerate(ORDER)}
    return sorted(by_type.values(), key=lambda c: (rank.get(c["type"], len(ORDER)), c["type"]))


def find(conditions: list[dict[str, Any]], ctype: str) -> dict[str, Any] | None:
    return next((c for c in conditions if c.get("type") == ctype), None)


def is_true(conditions: list[dict[str, Any]], ctype: str) -> bool:
    cond = find(conditions, ctype)
    return bool(cond and cond.get("status") == "True")


def transitions(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Conditions whose status or reason changed: each deserves an event."""
    before = {c["type"]: (c.get("status"), c.get("reason")) for c in old}
    return [c for c in new if before.get(c["type"]) != (c["status"], c["reason"])]
