"""The operator's own watch of a kind with a server-side label selector (`owned.Kind.selector`):
today the bootstrap-host pods, so a host pod turning Ready re-queues its topic at once instead of
waiting for the periodic re-check. kopf cannot put a label selector on the server's side.

List, then watch from the list's resourceVersion; a watch the server ends (its timeout) resumes
from the last resourceVersion seen (bookmarks keep it fresh). On an error or a 410 Gone, list
again: only the topics of objects that changed or went away meanwhile are re-queued (a relist of
thousands of unchanged host pods must not flood the queue's first lane).
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
        self._seen: dict[str, tuple[str, tuple[str, str] | None]] = {}  # uid -> (resourceVersion, topic)

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

    def _emit(self, obj: dict[str, Any], deleted: bool = False) -> None:
        meta = obj.get("metadata") or {}
        key = topic_key(obj)
        if deleted:
            self._seen.pop(meta.get("uid", ""), None)
        else:
            self._seen[meta.get("uid", "")] = (str(meta.get("resourceVersion")), key)
        if key is not None:
            self.on_event(*key)

    async def _run(self) -> None:
        while True:
            try:
                version: str | None = await self._list()
                while version is not None:
                    version = await self._follow(version)  # None: list again
            except asyncio.CancelledError:
                raise
            except (ApiError, aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                log.warning("watch of %s: %s; listing again shortly", self.path, exc)
                await asyncio.sleep(2.0)

    async def _follow(self, version: str) -> str | None:
        """One watch from `version`; the last version seen when the server ends it, None on ERROR."""
        async for event in self._watch(version):
            kind = event.get("type")
            if kind == "ERROR":
                return None  # e.g. 410 Gone
            version = str((event.get("object") or {}).get("metadata", {}).get("resourceVersion") or version)
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                self._emit(event["object"], deleted=kind == "DELETED")
        return version

    async def _list(self) -> str:
        """List; re-queue only what changed since it was last seen (or is new, or is gone)."""
        listing = await self.kube.request("GET", self.path, params={"labelSelector": owned.label_selector(self.kind)})
        listed = set()
        for obj in listing.get("items") or []:
            meta = obj.get("metadata") or {}
            listed.add(meta.get("uid"))
            if self._seen.get(meta.get("uid", ""), ("", None))[0] != str(meta.get("resourceVersion")):
                self._emit(obj)
        for uid in set(self._seen) - listed:
            _, key = self._seen.pop(uid)
            if key is not None:
                self.on_event(*key)
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
