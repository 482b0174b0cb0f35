"""The one place that decides what an API error means for a reconcile (crate-operator's
`continue_on_conflict=` / `continue_on_absence=`).

* 409 Conflict: a stale view, or an object that appeared meanwhile: stop the pass, re-read at
  once (a create that meets 409 is "it is there": the next pass checks whose it is).
* 404 NotFound: gone meanwhile: for a delete that is success, otherwise re-read.
* 400 / 422 Invalid, 403 Forbidden: the API server refuses this write and will refuse it again:
  `Rejected`, which becomes `Ready=False` (`ApiRejected` / `Forbidden`) with the server's message,
  one event, and a retry with backoff.
* anything else (429, 5xx, network): transient, retried with backoff.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from .kube import ApiError

T = TypeVar("T")
REJECTED = frozenset({400, 403, 422})


class Rejected(Exception):
    """A write the API server refuses: `reason` is the condition reason, `message` its text."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


def rejection(exc: ApiError, secret: bool = False) -> Rejected | None:
    """The condition a refused write deserves, or None when it is not a refusal."""
    if exc.status not in REJECTED:
        return None
    reason = "Forbidden" if exc.status == 403 else "ApiRejected"
    # A Secret's body holds a credential: say what was refused, never echo what was sent.
    message = f"{exc.status} {exc.reason}" if secret else f"{exc.status} {exc.reason}: {exc.message}"
    return Rejected(reason, message[:900])


async def call(awaitable: Awaitable[T], *, continue_on_absence: bool = False,
               continue_on_conflict: bool = False, secret: bool = False) -> T | None:
    """Run one API call under the policy above. Returns None when the error is accepted."""
    try:
        return await awaitable
    except ApiError as exc:
        if exc.status == 404 and continue_on_absence:
            return None
        if exc.status == 409 and continue_on_conflict:
            return None
        refused = rejection(exc, secret)
        if refused is not None:
            raise refused from exc
        raise
