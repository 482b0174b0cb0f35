"""The API server's error answers as typed exceptions, and what each means for the caller (kopf's
`_cogs/clients/errors.py`; crate-operator's `continue_on_conflict=` / `continue_on_absence=`).

`ApiError.of()` turns an answer into its class; `verdict()` is the one decision over them, which
the acting layer (what a refused write becomes) and the controller (when to try again) share:

* `STALE`: 409 Conflict (a stale view, or an object that appeared meanwhile) and 404 NotFound
  (gone meanwhile): read again and retry at once; it is no error.
* `REFUSED`: 400 / 422 Invalid and 403 Forbidden: the server refuses this request and will refuse
  it again until something changes: say so (a condition with the server's message), back off.
* `TRANSIENT`: anything else (429, 5xx, the network, a bug): retry with backoff. So is the one 403
  that is the server catching up, not a refusal: right after a CRD gains a version, the
  OwnerReferencesPermissionEnforcement admission plugin cannot map the owner's new apiVersion until
  its discovery refreshes ("cannot find RESTMapping", about 30 s on the upgrade e2e from 0.1.0),
  and a `Forbidden` condition and event for it would tell the user to fix RBAC that is right.
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
        typed = next((cls for cls in _TYPED if status in cls.statuses), ApiError)
        return typed(status, reason, message)


class ApiInvalid(ApiError):
    """400 or 422: a body the server will not take (a malformed patch, the schema, a CEL rule)."""

    statuses = (400, 422)


class ApiForbidden(ApiError):
    """403: RBAC, or an admission plugin, says no."""

    statuses = (403,)


class ApiNotFound(ApiError):
    """404: no such object (or namespace)."""

    statuses = (404,)


class ApiConflict(ApiError):
    """409: a stale resourceVersion, a failed uid precondition, or a create of a name that exists."""

    statuses = (409,)


class ApiServerError(ApiError):
    """5xx, and 429 (priority and fairness asks to come back later): the server's trouble, not ours."""

    statuses = (429, *range(500, 600))


_TYPED: tuple[type[ApiError], ...] = (ApiInvalid, ApiForbidden, ApiNotFound, ApiConflict, ApiServerError)


class Verdict(enum.Enum):
    STALE = "stale"  # read again, retry at once
    REFUSED = "refused"  # the server will refuse it again: report, back off
    TRANSIENT = "transient"  # retry with backoff


# The admission plugin's words when its RESTMapper does not know the owner's group/version yet
# (plugin/pkg/admission/gc/gc_admission.go: "cannot set blockOwnerDeletion in this case because
# cannot find RESTMapping for APIVersion ... Kind ...").
_MAPPING_LAG = "cannot find RESTMapping"


def verdict(exc: BaseException) -> Verdict:
    """What an exception of an API call means for the caller (the module's docstring)."""
    if isinstance(exc, ApiConflict | ApiNotFound):
        return Verdict.STALE
    if isinstance(exc, ApiForbidden) and _MAPPING_LAG in exc.message:
        return Verdict.TRANSIENT
    if isinstance(exc, ApiInvalid | ApiForbidden):
        return Verdict.REFUSED
    return Verdict.TRANSIENT
