"""Act: a plan's writes, in order, then the status, once, only when it changed.

API errors are judged by `api.errors.verdict`: a refused write (400, 403, 422) ends the writes of the
pass and becomes the status' Ready condition (`ApiRejected` / `Forbidden` with the server's
message; for a Secret, its status code only, never the server's echo of the body); a 409 reads the
object again (into the cache, or onto the topic's direct reads) and propagates, as everything else
does (the controller retries). Status has one write path (`write_status`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

from .. import owned
from ..api.client import Kube
from ..api.errors import ApiConflict, ApiError, ApiForbidden, ApiNotFound, Verdict, verdict
from ..planner import Plan, Write, after_refusal, describe_change, progress_only, quiet_only, waves
from ..reasons import R
from .caches import in_scope
from .context import Memory, Wiring

log = logging.getLogger(__name__)


class Refused(Exception):
    """A write the API server refuses: `reason` is the condition reason, `message` its text."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message

    @classmethod
    def of(cls, exc: ApiError, secret: bool) -> Refused:
        reason = R.FORBIDDEN if isinstance(exc, ApiForbidden) else R.API_REJECTED
        # A Secret's body holds a credential: say what was refused, never echo what was sent.
        message = f"{exc.status} {exc.reason}" if secret else f"{exc.status} {exc.reason}: {exc.message}"
        return cls(reason, message[:900])


async def write_status(kube: Kube, topic: dict[str, Any], status: dict[str, Any],
                       resource_version: str | None = None) -> dict[str, Any]:
    """The one path by which status is written (with a resourceVersion precondition when given).

    A merge patch keeps what it does not name: a field the new status drops is sent as null."""
    meta = topic["metadata"]
    gone = {key: None for key in topic.get("status") or {} if key not in status}
    body: dict[str, Any] = {"status": {**status, **gone}}
    if resource_version:
        body["metadata"] = {"resourceVersion": resource_version}
    return await kube.merge_patch(owned.TOPIC.path(meta["namespace"], meta["name"], "status"), body)


async def tracked(wiring: Wiring, kind: owned.Kind, namespace: str, name: str | None,
                  send: Awaitable[dict[str, Any] | None]) -> dict[str, Any] | None:
    """A write of one object, `expect`ed by the caches and `settle`d with its answer (or its
    failure), so that its own watch event does not wake the topic for another pass; the answer
    goes into the caches at once (before `settle`: its watch event, coming later, is then known)."""
    if name:
        wiring.caches.expect(kind, namespace, name)
    answer = None
    try:
        answer = await send
        if answer is not None:
            wiring.caches.put(kind, answer)
        return answer
    finally:
        if name:
            wiring.caches.settle(kind, namespace, name, answer)


async def _written(wiring: Wiring, topic: dict[str, Any], write: Write) -> dict[str, Any] | None:
    """One write of a plan, tracked (`tracked`; a deletion is not: its event is announced)."""
    kind = owned.BY_KIND[write.target.kind]
    name = write.target.name or (write.body or {}).get("metadata", {}).get("name")
    if write.op in ("delete", "orphan"):
        name = None
    return await tracked(wiring, kind, write.target.namespace, name, _perform(wiring.kube, topic, write))


async def _status(wiring: Wiring, topic: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    """`write_status`, tracked (`tracked`)."""
    meta = topic["metadata"]
    answer = await tracked(wiring, owned.TOPIC, meta["namespace"], meta["name"],
                           write_status(wiring.kube, topic, status))
    assert answer is not None
    return answer


async def _perform(kube: Kube, topic: dict[str, Any], write: Write) -> dict[str, Any] | None:
    """One write; the server's answer (the object as it is now), when there is one."""
    kind = owned.BY_KIND[write.target.kind]
    path = kind.path(write.target.namespace, write.target.name)
    if write.op == "create":
        return await kube.create(kind.path(write.target.namespace), write.body)
    if write.op == "apply":
        return await kube.apply(path, write.body)
    if write.op == "repair":
        return await kube.json_patch(path, write.body)
    if write.op in ("scale", "patch"):
        return await kube.merge_patch(path, write.body)
    if write.op in ("delete", "orphan"):
        try:
            await kube.delete(path, write.uid, "Orphan" if write.op == "orphan" else "Background")
        except (ApiNotFound, ApiConflict):  # gone already; or replaced (the uid precondition): not ours
            pass
        return None
    if write.op == "record-status":
        return await write_status(kube, topic, write.body["status"], write.resource_version)
    raise ValueError(f"unknown write {write.op}")


async def reread(wiring: Wiring, memory: Memory, topic: dict[str, Any], write: Write) -> None:
    """After a 409: read the object again. One the caches hold goes into them; one they cannot
    see (none of the operator's labels) is read directly by this topic's passes from now on. The
    topic itself is not read: its watch brings the newer version within moments (the retry that
    comes sooner meets another 409), and the operator holds no `get` on SwarmTopics."""
    kind = owned.BY_KIND[write.target.kind]
    if kind is owned.TOPIC:
        return
    name = write.target.name or (write.body or {}).get("metadata", {}).get("name")
    if not name:
        return
    obj = await wiring.kube.get(kind.path(write.target.namespace, name), metadata_only=kind.metadata_only)
    if obj is None:
        return
    if in_scope(kind, obj):
        wiring.caches.put(kind, obj)
    else:
        memory.direct.setdefault((write.target.namespace, topic["metadata"]["name"]), set()).add((kind.kind, name))


async def act(wiring: Wiring, memory: Memory, topic: dict[str, Any], the_plan: Plan) -> tuple[Plan, Refused | None]:
    """Run the writes in order, a run of writes that join at once (`planner.waves`), then the
    status (the module's docstring)."""
    written = topic.get("status") or {}
    done: list[Write] = []
    for wave in waves(the_plan.writes):
        answers = await _send(wiring, topic, wave)
        failed: list[tuple[Write, BaseException]] = []
        for write, answer in zip(wave, answers, strict=True):
            if isinstance(answer, BaseException):
                failed.append((write, answer))
                continue
            done.append(write)
            if answer is not None:
                _stored(memory, topic, write, answer)
            if write.op == "record-status":
                written = write.body["status"]
        if failed:
            return await _failed(wiring, memory, topic, the_plan, done, failed, written)
    await _write_final_status(wiring, memory, topic, the_plan, written)
    return the_plan, None


def _stored(memory: Memory, topic: dict[str, Any], write: Write, answer: dict[str, Any]) -> None:
    """A created child's uid remembered (the operator's own child, should it lose its
    ownerReference); the answer is in the caches already (`tracked`)."""
    if write.op == "create":
        meta = answer.get("metadata") or {}
        memory.uids.setdefault((meta.get("namespace"), topic["metadata"]["name"]), {})[
            f"{write.target.kind}/{meta.get('name')}"] = meta.get("uid")


async def _send(wiring: Wiring, topic: dict[str, Any], wave: list[Write]) -> list[Any]:
    """The answers of a wave's writes, an exception in place of a failed one's."""
    meta = topic["metadata"]
    for write in wave:
        log.info("%s/%s: %s", meta["namespace"], meta["name"], write.what)
    if len(wave) == 1:
        try:
            return [await _written(wiring, topic, wave[0])]
        except Exception as exc:  # judged by the caller, as a wave's
            return [exc]
    answers = await asyncio.gather(*(_written(wiring, topic, w) for w in wave), return_exceptions=True)
    for answer in answers:
        if isinstance(answer, BaseException) and not isinstance(answer, Exception):
            raise answer  # cancelled
    return answers


async def _failed(wiring: Wiring, memory: Memory, topic: dict[str, Any], the_plan: Plan, done: list[Write],
                  failed: list[tuple[Write, BaseException]], written: dict[str, Any]) -> tuple[Plan, Refused | None]:
    """A wave with failed writes (the others in it were stored): the first refusal becomes the
    status (and the pass ends); otherwise each 409 reads its object again, and the first error is
    raised for the controller to retry."""
    meta = topic["metadata"]
    refusals = [(w, e) for w, e in failed if isinstance(e, ApiError) and verdict(e) is Verdict.REFUSED]
    if refusals:
        write, exc = refusals[0]
        assert isinstance(exc, ApiError)
        refused = Refused.of(exc, secret=write.target.kind == owned.SECRET.kind)
        log.warning("%s/%s: %s refused: %s", meta["namespace"], meta["name"], write.what, refused)
        the_plan = after_refusal(the_plan, write, refused.reason, refused.message, datetime.now(UTC), done=done)
        if the_plan.status != written:
            await _status(wiring, topic, the_plan.status)
        return the_plan, refused
    for write, exc in failed:
        if isinstance(exc, ApiConflict):
            await reread(wiring, memory, topic, write)
    raise failed[0][1]


async def _write_final_status(wiring: Wiring, memory: Memory, topic: dict[str, Any], the_plan: Plan,
                              written: dict[str, Any]) -> None:
    meta = topic["metadata"]
    key = (meta["namespace"], meta["name"])
    if the_plan.status != written and not quiet_only(written, the_plan.status):
        wait = memory.hold(key) if progress_only(written, the_plan.status) else 0.0
        if wait > 0:
            the_plan.recheck = wait if the_plan.recheck is None else min(the_plan.recheck, wait)
            return
        log.info("%s/%s: status %s", meta["namespace"], meta["name"], describe_change(written, the_plan.status))
        await _status(wiring, topic, the_plan.status)
    memory.held.pop(key, None)
