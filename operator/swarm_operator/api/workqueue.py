"""A keyed work queue, as controller-runtime's: a key is never processed twice at once, keys
added while being processed run again afterwards, and delayed adds keep only the earliest.

Keys wait in priority lanes (0 first; what a lane means is the caller's: `reconciler/controller.py`).
A key waits once, in the best lane it was asked for: adding a waiting key with a better lane moves
it up, never down. A taker may ask only for keys of the best lanes (`next(worst=...)`): it then
waits until such a key comes, while keys of worse lanes stay for other takers.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

K = TypeVar("K")
PROGRESS, EVENT, RECHECK = 0, 1, 2  # the lanes of a three-lane queue, as most callers name them


class WorkQueue(Generic[K]):
    def __init__(self, lanes: int = 3) -> None:
        self._lanes: list[deque[K]] = [deque() for _ in range(lanes)]
        self._pending: dict[K, int] = {}  # waiting key -> its lane
        self._active: set[K] = set()
        self._dirty: dict[K, int] = {}  # added while active -> the best lane asked for
        self._dirty_soon: dict[K, tuple[float, int]] = {}  # added soon while active -> (delay, lane)
        self._timers: dict[K, tuple[asyncio.TimerHandle, int]] = {}
        self._takers: deque[tuple[int, asyncio.Future[None]]] = deque()  # (worst lane taken, woken when one came)
        self._count = [0] * lanes  # waiting keys per lane

    @property
    def lanes(self) -> int:
        return len(self._lanes)

    def add(self, key: K, priority: int = EVENT) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer[0].cancel()
        if key in self._active:
            self._dirty[key] = min(priority, self._dirty.get(key, priority))
            return
        lane = self._pending.get(key)
        if lane is None or priority < lane:  # new, or moving up (the old entry is skipped when met)
            if lane is not None:
                self._count[lane] -= 1
            self._pending[key] = priority
            self._count[priority] += 1
            self._lanes[priority].append(key)
            self._wake(priority)

    def _wake(self, lane: int) -> None:
        """Wake the longest-waiting taker that takes keys of `lane`."""
        for i, (worst, future) in enumerate(self._takers):
            if worst >= lane and not future.done():
                del self._takers[i]
                future.set_result(None)
                return

    def _pass_on(self) -> None:
        """Wake as many waiting takers as there are waiting keys they may take (a woken taker may
        have taken another key than the one that woke it)."""
        left = list(self._count)
        for worst, future in list(self._takers):
            lane = next((n for n in range(min(worst, self.lanes - 1) + 1) if left[n] > 0), None)
            if lane is not None and not future.done():
                left[lane] -= 1
                self._takers.remove((worst, future))
                future.set_result(None)

    def add_soon(self, key: K, delay: float, priority: int = EVENT) -> None:
        """Add within `delay`: what else is added meanwhile joins the same turn (a burst of changes
        of one key is one turn). A key already waiting just keeps its turn (moved up to `priority`
        if that is better); one being processed is added soon once done."""
        if key in self._active:
            if key not in self._dirty:
                old = self._dirty_soon.get(key)
                self._dirty_soon[key] = (min(delay, old[0]), min(priority, old[1])) if old else (delay, priority)
        elif key in self._pending:
            self.add(key, priority)
        else:
            self.add_after(key, delay, priority)

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

    def _take(self, worst: int) -> tuple[K, int] | None:
        for lane in range(min(worst, self.lanes - 1) + 1):
            keys = self._lanes[lane]
            while keys:
                key = keys.popleft()
                if self._pending.get(key) == lane:  # else: a stale entry of a key that moved up
                    del self._pending[key]
                    self._count[lane] -= 1
                    self._active.add(key)
                    return key, lane
        return None

    async def next(self, worst: int | None = None) -> tuple[K, int]:
        """The best waiting key of lanes 0..`worst` (all: None) and its lane, once there is one."""
        worst = self.lanes - 1 if worst is None else worst
        while True:
            found = self._take(worst)
            if found is not None:
                if self._takers:
                    self._pass_on()
                return found
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._takers.append((worst, future))
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():  # woken, then cancelled: wake another
                    self._pass_on()
                raise

    async def get(self) -> K:
        return (await self.next())[0]

    def done(self, key: K) -> None:
        self._active.discard(key)
        priority = self._dirty.pop(key, None)
        soon = self._dirty_soon.pop(key, None)
        if priority is not None:
            self.add(key, priority)
        elif soon is not None:
            self.add_after(key, *soon)

    def __len__(self) -> int:
        return len(self._pending)
