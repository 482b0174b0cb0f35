"""A keyed work queue, as controller-runtime's: a key is never processed twice at once, keys
added while being processed run again afterwards, and delayed adds keep only the earliest.

Keys wait in priority lanes, lowest first: a topic whose host pod just changed (`PROGRESS`) runs
before one named by any other watch event (`EVENT`), which runs before one that is only being
re-checked by the timer or retried after an error (`RECHECK`). A key waits once, in the best
lane it was asked for: adding a waiting key with a better priority moves it up.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

K = TypeVar("K")
PROGRESS, EVENT, RECHECK = 0, 1, 2
LANES = 3


class WorkQueue(Generic[K]):
    def __init__(self) -> None:
        self._lanes: list[deque[K]] = [deque() for _ in range(LANES)]
        self._available = asyncio.Semaphore(0)  # one permit per waiting key
        self._pending: dict[K, int] = {}  # waiting key -> its lane
        self._active: set[K] = set()
        self._dirty: dict[K, int] = {}  # added while active -> the best lane asked for
        self._timers: dict[K, tuple[asyncio.TimerHandle, int]] = {}

    def add(self, key: K, priority: int = EVENT) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer[0].cancel()
        if key in self._active:
            self._dirty[key] = min(priority, self._dirty.get(key, priority))
            return
        lane = self._pending.get(key)
        if lane is None:
            self._pending[key] = priority
            self._lanes[priority].append(key)
            self._available.release()
        elif priority < lane:  # move up; the entry left in the old lane is skipped by get()
            self._pending[key] = priority
            self._lanes[priority].append(key)

    def add_after(self, key: K, delay: float, priority: int = RECHECK) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        timer = self._timers.get(key)
        if timer is not None:
            if timer[0].when() <= due:
                return
            timer[0].cancel()
        self._timers[key] = (loop.call_at(due, self._fire, key, priority), priority)

    def _fire(self, key: K, priority: int) -> None:
        self._timers.pop(key, None)
        self.add(key, priority)

    def forget(self, key: K) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer[0].cancel()

    async def get(self) -> K:
        await self._available.acquire()
        for lane, keys in enumerate(self._lanes):
            while keys:
                key = keys.popleft()
                if self._pending.get(key) == lane:  # else: a stale entry of a key that moved up
                    del self._pending[key]
                    self._active.add(key)
                    return key
        raise AssertionError("a permit without a waiting key")

    def done(self, key: K) -> None:
        self._active.discard(key)
        priority = self._dirty.pop(key, None)
        if priority is not None:
            self.add(key, priority)

    def __len__(self) -> int:
        return len(self._pending)
