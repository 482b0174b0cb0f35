"""Client-side flow control of the API client: how many requests may be in flight, how fast they
may start, and in which order waiting requests go.

The API server's priority and fairness (APF) decides how much of it one client gets: it queues
what exceeds its share and answers 429 (`Retry-After`) when its queues are full. It publishes no
number a client could read, so the window is learnt from its answers, never guessed:

- `Window.limit`, the requests in flight, doubles each round of answers from the start (slow
  start), then grows by its square root each round while it is used and answers come back within
  `TARGET` seconds on average; a slower round shrinks it in proportion, and a 429 halves it and
  holds every request for its `Retry-After`. The target is a promise to the topics close to done,
  not a guess of the server's size: the operator's requests all wait in one queue at the server
  (APF queues a client's requests in order), so what the window lets in front of a key's record
  is at most about `TARGET` of waiting there; whatever waits beyond it waits here, in order of
  priority. A fast server gets a wide window, a slow or busy one a narrow one.
- A token bucket (`qps`, `burst`) bounds the rate whatever the server allows: the documented,
  settable limit an administrator sets so that a burst of topics takes only so much of a shared
  API server (`--api-qps`, `--api-burst`; 0: none).
- Waiting requests go by priority (`PRIORITY`, a context variable the caller sets; lower first),
  then in arrival order: the leader Lease before everything, a topic that is close to done before
  a topic's first pass; the most urgent (`URGENT`) may go `RESERVED` beyond the window, so they
  never wait for other requests' answers to free a slot.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

CRITICAL = -1  # the leader Lease: never behind a topic's request
URGENT = 0  # this priority and better (the Lease, a topic close to done) may use RESERVED more slots
RESERVED = 2  # so that they never wait for first passes' answers to free a slot of the window
PRIORITY: contextvars.ContextVar[int] = contextvars.ContextVar("api_priority", default=0)

MIN_LIMIT = 2.0
MAX_LIMIT = 512.0  # a safety bound only: the server's answers set the window long before this
START_LIMIT = 8.0
TARGET = 0.2  # seconds: the mean answer time the window keeps to (what a key's record may wait at the server)


class RateLimit:
    """A token bucket: `burst` requests at once, then `qps` per second (qps <= 0: no limit)."""

    def __init__(self, qps: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.qps, self.burst, self.clock = qps, max(1, burst), clock
        self._tokens = float(self.burst)
        self._at = clock()

    def _refill(self) -> None:
        now = self.clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.qps)
        self._at = now

    def take(self) -> float:
        """Take a token: 0.0 when one was there, else the seconds until one will be (none taken)."""
        if self.qps <= 0:
            return 0.0
        self._refill()
        if self._tokens >= 1.0 - 1e-9:  # (float sums of refills)
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.qps


@dataclass
class Window:
    """The adaptive limit of requests in flight (the module's docstring). `sample()` takes one
    answer: its kind (verb and resource; kept for the record, the target is one for all) and seconds."""

    limit: float = START_LIMIT
    slow_start: bool = True
    _round: list[float] = field(default_factory=list)  # this round's answer times

    def sample(self, kind: str, seconds: float, in_flight: int) -> None:
        self._round.append(seconds)
        if len(self._round) >= max(4, int(self.limit)):
            self._adjust(in_flight)

    def _adjust(self, in_flight: int) -> None:
        mean = sum(self._round) / len(self._round)
        self._round.clear()
        if mean > TARGET:  # answers wait at the server: fewer in flight, in proportion
            self.limit *= max(0.5, TARGET / mean)
            self.slow_start = False
        elif in_flight >= self.limit / 2:  # within the target and the window is used: try a wider one
            self.limit += self.limit if self.slow_start else math.sqrt(self.limit)
        self.limit = min(MAX_LIMIT, max(MIN_LIMIT, self.limit))

    def throttled(self) -> None:
        """The server said 429: halve the window, and grow it slowly from now on."""
        self.limit = max(MIN_LIMIT, self.limit / 2)
        self.slow_start = False
        self._round.clear()


class Throttle:
    """The gate every API request passes: `async with throttle.slot(kind):` around one request."""

    def __init__(self, qps: float = 0.0, burst: int = 1, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = RateLimit(qps, burst, clock)
        self.window = Window()
        self.clock = clock
        self.in_flight = 0
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._hold_until = 0.0  # a 429's Retry-After: nothing starts before
        self._timer: asyncio.TimerHandle | None = None
        self._room = asyncio.Event()
        self._room.set()

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, f in self._waiting if not f.done())

    async def room(self) -> None:
        """Returns once no request waits here: a new pass would not only queue behind others."""
        await self._room.wait()

    def slot(self, kind: str) -> _Slot:
        return _Slot(self, kind)

    async def _acquire(self) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (PRIORITY.get(), next(self._order), future))
        self._room.clear()
        self._dispatch()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # granted, then cancelled: give it back
                self._release()
            raise

    def _release(self) -> None:
        self.in_flight -= 1
        self._dispatch()

    def answered(self, kind: str, seconds: float, retry_after: float | None) -> None:
        """One answer: its time feeds the window; a 429 (`retry_after` set) halves it and holds."""
        if retry_after is None:
            self.window.sample(kind, seconds, self.in_flight)
        else:
            self.window.throttled()
            self._hold_until = max(self._hold_until, self.clock() + retry_after)

    def _dispatch(self) -> None:
        while self._waiting:
            if self._waiting[0][2].done():  # cancelled while waiting
                heapq.heappop(self._waiting)
                continue
            reserve = RESERVED if self._waiting[0][0] <= URGENT else 0
            if self.in_flight >= int(self.window.limit) + reserve:
                break
            delay = self._hold_until - self.clock()
            if delay <= 0:
                delay = self.rate.take()
            if delay > 0:
                self._wake_in(delay)
                return
            _, _, future = heapq.heappop(self._waiting)
            self.in_flight += 1
            future.set_result(None)
        while self._waiting and self._waiting[0][2].done():
            heapq.heappop(self._waiting)
        if not self._waiting:
            self._room.set()

    def _wake_in(self, delay: float) -> None:
        if self._timer is None:
            def wake() -> None:
                self._timer = None
                self._dispatch()
            self._timer = asyncio.get_running_loop().call_later(delay, wake)


class _Slot:
    """One request's passage: waits its turn, then measures the answer's time."""

    def __init__(self, throttle: Throttle, kind: str) -> None:
        self.throttle, self.kind = throttle, kind
        self.started = 0.0
        self.retry_after: float | None = None  # set by the caller on a 429

    async def __aenter__(self) -> _Slot:
        await self.throttle._acquire()
        self.started = self.throttle.clock()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.throttle.answered(self.kind, self.throttle.clock() - self.started, self.retry_after)
        self.throttle._release()
