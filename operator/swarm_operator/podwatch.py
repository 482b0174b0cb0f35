"""The operator's own watch of a kind with a server-side label selector (`owned.Kind.selector`):
today the bootstrap-host pods, so a host pod turning Ready re-queues its topic at once instead of
waiting for the periodic re-check. kopf cannot put a label selector on the server's side.

List, then watch from the list's resourceVersion; on a broken watch or a 410 Gone, list again
(every listed object's topic is re-queued: events may have been missed meanwhile).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp

from . import owned
from .kube import ApiError, Kube

log = logging.getLogger(__name__)
OnEvent = Callable[[str, str], None]  # (namespace, topic name)
WATCH_SECONDS = 300


def topic_key(obj: dict[str, Any]) -> tuple[str, str] | None:
    """The (namespace, topic) an object of a watched kind belongs to, by the table's mapping."""
    meta = obj.get("metadata") or {}
    topic = owned.topic_of(meta.get("labels"))
    return (meta["namespace"], topic) if topic and meta.get("namespace") else None


class SelectorWatch:
    """One kind, every namespace or one namespace, calling `on_event` per object event."""

    def __init__(self, kube: Kube, kind: owned.Kind, on_event: OnEvent, namespace: str | None = None) -> None:
        self.kube, self.kind, self.on_event, self.namespace = kube, kind, on_event, namespace
        self._task: asyncio.Task[None] | None = None

    @property
    def path(self) -> str:
        if self.namespace:
            return owned.target_path(self.kind, self.namespace)
        root = f"/apis/{self.kind.api_version}" if self.kind.group else f"/api/{self.kind.version}"
        return f"{root}/{self.kind.plural}"

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"watch-{self.kind.plural}-{self.namespace or 'all'}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _emit(self, obj: dict[str, Any]) -> None:
        if (key := topic_key(obj)) is not None:
            self.on_event(*key)

    async def _run(self) -> None:
        while True:
            try:
                version = await self._list()
                async for event in self._watch(version):
                    if event.get("type") == "ERROR":
                        break  # e.g. 410 Gone: list again
                    if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                        self._emit(event["object"])
            except asyncio.CancelledError:
                raise
            except (ApiError, aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                log.warning("watch of %s: %s; listing again shortly", self.path, exc)
                await asyncio.sleep(2.0)

    async def _list(self) -> str:
        listing = await self.kube.request("GET", self.path, params={"labelSelector": owned.label_selector(self.kind)})
        for obj in listing.get("items") or []:
            self._emit(obj)
        return str(listing["metadata"]["resourceVersion"])

    async def _watch(self, version: str) -> AsyncIterator[dict[str, Any]]:
        session = await self.kube._session_()
        params = {"watch": "1", "labelSelector": owned.label_selector(self.kind), "resourceVersion": version,
                  "allowWatchBookmarks": "true", "timeoutSeconds": str(WATCH_SECONDS)}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=WATCH_SECONDS + 30)
        async with session.get(self.kube.base + self.path, params=params, headers=self.kube._headers(),
                               timeout=timeout) as rsp:
            if rsp.status >= 400:
                raise ApiError(rsp.status, rsp.reason or "", await rsp.text())
            buffer = b""
            async for chunk in rsp.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
