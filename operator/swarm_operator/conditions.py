"""metav1.Condition bookkeeping (the condition types, in the order status lists them): a transition
time moves only when the status flips. Reasons are `reasons.R`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

HOST_READY = "HostReady"
HOSTS_READY = "HostsReady"  # several hosts: how many of them are Ready (k/N)
QUORUM = "Quorum"  # several hosts: a majority of the base's indexers is up
HOST_WRITABLE = "HostWritable"
BASE_KEY_RECORDED = "BaseKeyRecorded"
CLIENTS_READY = "ClientsReady"
DEGRADED = "Degraded"
READY = "Ready"
# With `run --backup-check`: whether the topic's credentials are in a backup (`planner/backupcheck.py`).
CREDENTIALS_BACKED_UP = "CredentialsBackedUp"
ORDER = (HOST_READY, HOSTS_READY, QUORUM, HOST_WRITABLE, BASE_KEY_RECORDED, CLIENTS_READY, DEGRADED,
         CREDENTIALS_BACKED_UP, READY)
# Said, but not part of Ready: a topic whose quorum holds is Ready with one host down; a topic
# without a backup still serves.
INFORMATIONAL = (HOSTS_READY, CREDENTIALS_BACKED_UP)


def now_rfc3339(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: Any) -> datetime | None:
    """A time the API server wrote (RFC 3339, any precision), None for anything else."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


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
            "reason": str(cond.reason),
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
