"""The API server's error answers as typed exceptions, and what each means for the caller (kopf's
`_cogs/clients/errors.py`; crate-operator's `continue_on_conflict=` / `continue_on_absence=`).

`ApiError.of()` turns an answer into its class; `verdict()` is the one decision over them, which
the acting layer (what a refused write becomes) and the controller (when to try again) share:

* `STALE`: 409 Conflict (a stale view, or an object that appeared meanwhile) and 404 NotFound
  (gone meanwhile): read again and retry at once; it is no error.
* `REFUSED`: 400 / 422 Invalid and 403 Forbidden: the server refuses this request and will refuse
  it again until something changes: say so (a condition with the server's message), back off.
* `TRANSIENT`: anything else (429, 5xx, the network, a bug): retry with backoff.
"""

from __future__ import annotations

import enum
from typing import ClassVar


class ApiError(Exception):
    """An error answer of the API server: `status` (HTTP), `reason` (the Status' reason), `message`."""

    statuses: ClassVar[tuple[int, ...]] = ()

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @staticmethod
    def of(status: int, reason: str, message: str) -> ApiError:
        """The typed error of an answer with this HTTP status."""
        for cls in _TYPED:
            if status in cls.statuses:
                return cls(status, reason, message)
        return ApiServerError(status, reason, message) if status >= 500 else ApiError(status, reason, message)


class ApiBadRequest(ApiError):
    statuses = (400,)


class ApiForbidden(ApiError):
    statuses = (403,)


class ApiNotFound(ApiError):
    statuses = (404,)


class ApiConflict(ApiError):
    statuses = (409,)


class ApiGone(ApiError):
    """410: a watch's version was compacted away: list again."""

    statuses = (410,)


class ApiInvalid(ApiError):
    statuses = (422,)


class ApiTooManyRequests(ApiError):
    statuses = (429,)


class ApiServerError(ApiError):
    """5xx."""


_TYPED: tuple[type[ApiError], ...] = (ApiBadRequest, ApiForbidden, ApiNotFound, ApiConflict, ApiGone, ApiInvalid,
                                      ApiTooManyRequests)


class Verdict(enum.Enum):
    STALE = "stale"  # read again, retry at once
    REFUSED = "refused"  # the server will refuse it again: report, back off
    TRANSIENT = "transient"  # retry with backoff


def verdict(exc: BaseException) -> Verdict:
    """What an exception of an API call means for the caller (the module's docstring)."""
    if isinstance(exc, ApiConflict | ApiNotFound):
        return Verdict.STALE
    if isinstance(exc, ApiBadRequest | ApiInvalid | ApiForbidden):
        return Verdict.REFUSED
    return Verdict.TRANSIENT
