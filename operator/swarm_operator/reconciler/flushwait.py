"""Host 0's signed report, read as soon as its first announce has flushed.

A host signs a report only once its first announce has flushed (`docs/host-contract.md`): the
report is the ordering's own signal, and the pod's readiness probe says the same thing up to a
probe period later. So while a topic has no key recorded and host 0 runs (an address, not Ready
yet), one read waits on the host (`GET /status?wait=`, a long poll: one request, answered the
moment the report exists) and wakes the topic when it verifies; the pass records the key from it
(`planner/basekey.py`). The pod turning Ready, another host pod, the key recorded or the topic
gone end the wait (`forget`); a host that does not wait (an older image answers 503 at once) is
asked again with a backoff until then, and its pod's Ready is the path as before.

One task per waiting topic, on a session of its own (the waits must not take the connections of
the reads of Ready hosts); a read that fails in any other way than "not yet" (a report that does
not verify) ends the wait: the Ready path reads it again and says why.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from ..hostreport import HostReport, HostReportError
from ..reasons import R
from .hostclient import host_of, read_host_report

log = logging.getLogger(__name__)
Key = tuple[str, str]  # (namespace, name) of a SwarmTopic
LONG_POLL = 10.0  # seconds one read waits on the host (the host waits at most 10)
RETRY_FIRST, RETRY_MAX = 0.1, 1.0  # backoff while the host's status port is not up (or does not wait)
DEADLINE = 300.0  # seconds after which a host that never reported is left to its pod's Ready


class FlushWaits:
    def __init__(self, wake: Callable[[str, str], None]) -> None:
        self._wake = wake  # wakes a topic (its namespace, name) in the lane of progress
        self._tasks: dict[Key, tuple[tuple[Any, ...], asyncio.Task[None]]] = {}
        self._reports: dict[Key, tuple[tuple[Any, ...], HostReport]] = {}
        self._ended: dict[Key, tuple[Any, ...]] = {}  # hosts whose wait ended with no report: not asked again
        self._session: aiohttp.ClientSession | None = None

    def report(self, key: Key, pod: dict[str, Any], public_key: str, topic: str) -> HostReport | None:
        """The report read early from this very host pod (None: not yet), and a wait on it started
        when none runs."""
        host = host_of(pod)
        got = self._reports.get(key)
        if got is not None and got[0] == host:
            return got[1]
        running = self._tasks.get(key)
        if (running is not None and running[0] == host) or self._ended.get(key) == host:
            return None
        self.forget(key)
        task = asyncio.create_task(self._read(key, host, pod, public_key, topic), name=f"flush-wait {key[0]}/{key[1]}")
        self._tasks[key] = (host, task)
        return None

    def forget(self, key: Key) -> None:
        """No wait for this topic any more (its pod is Ready, its key recorded, or it is gone)."""
        self._reports.pop(key, None)
        self._ended.pop(key, None)
        running = self._tasks.pop(key, None)
        if running is not None:
            running[1].cancel()

    def waiting(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        tasks = [task for _, task in self._tasks.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        return self._session

    async def _read(self, key: Key, host: tuple[Any, ...], pod: dict[str, Any], public_key: str, topic: str) -> None:
        try:
            report = await self._wait(key, pod, public_key, topic)
        except Exception as exc:  # a wait is only a shortcut: the pod's Ready is the path
            log.warning("%s/%s: waiting on the host's report failed: %r; its pod's Ready is the path",
                        key[0], key[1], exc)
            report = None
        finally:
            running = self._tasks.get(key)
            mine = running is not None and running[0] == host and running[1] is asyncio.current_task()
            if mine:
                del self._tasks[key]
        if not mine:
            return  # forgotten meanwhile
        if report is None:
            self._ended[key] = host
            return
        self._reports[key] = (host, report)
        self._wake(*key)

    async def _wait(self, key: Key, pod: dict[str, Any], public_key: str, topic: str) -> HostReport | None:
        """Asks until the report is there (None: one that cannot be used, or the deadline)."""
        deadline, delay = time.monotonic() + DEADLINE, RETRY_FIRST
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                return await read_host_report(self._http(), pod, public_key, topic,
                                              wait=LONG_POLL + 5.0, long_poll=LONG_POLL)
            except HostReportError as exc:
                if exc.reason != R.HOST_UNREACHABLE:
                    log.info("%s/%s: the host's early report cannot be used (%s); its pod's Ready is the path",
                             key[0], key[1], exc.message)
                    return None
            if time.monotonic() - started < LONG_POLL / 2:  # refused, or a host that does not wait
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
        return None
