"""The level-based loop: a SwarmTopic is reconciled on each change the caches see of it or of its
children, and again from the caches every `interval` seconds (jittered by 10 %, so topics created
together do not re-check together), or sooner when its plan says time alone will change it (an
announce timeout). Errors back off per topic; a stale view (409) retries at once.

Closest to done first (`Triage`): a topic waits in one of four lanes of the queue, served in order:
1. `PROGRESS`: its host pod changed (a key to record), or its key is recorded and its clients are
   coming up (a Ready to write): the work that finishes topics;
2. `CHANGE`: another change of a topic this process has reconciled before (its host's volume
   appeared, say), taken `change_delay` after it is seen, so that the run of changes one step
   makes (a StatefulSet's pod created, scheduled, started; its volume bound; its status counted)
   is one pass, not one each (a topic whose clients are coming up: `closing_delay`, as long as
   their count may wait to be written; a change seen during the topic's own pass is triaged once
   the pass is done, by what it made of the topic);
3. `FIRST`: a topic this process has not reconciled yet (a first pass: a burst of new topics);
4. `RECHECK`: the periodic re-check and retries after errors.
A pass's API requests carry its lane as their priority in the client's throttle
(`api/throttle.py`), so a topic close to done also goes first at the API server's door.

How many passes run at once follows the API server: `workers` takers start a pass only while no
request waits in the throttle (its window, learnt from the server's answers, is full otherwise:
another pass would only queue), and two express takers serve the first two lanes whatever the
window, so a key to record never waits for a first pass to finish."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field

from .. import metrics
from ..api.errors import ApiError, Verdict, verdict
from ..api.throttle import PRIORITY
from ..api.workqueue import WorkQueue
from ..config import DEFAULTS
from ..reasons import Phase
from .act import Refused
from .context import Memory, Wiring
from .reconcile import Outcome, reconcile

log = logging.getLogger(__name__)
Key = tuple[str, str]  # (namespace, name)
MAX_BACKOFF = 60.0
JITTER = 0.1
PROGRESS, CHANGE, FIRST, RECHECK = range(4)  # the queue's lanes, served in this order
LANES = 4
EXPRESS = 2  # takers of the first two lanes that never wait for the throttle's window


class Cause:
    HOST = "host"  # the topic's host pod changed
    CHANGE = "change"  # the topic or another of its children changed
    TIMER = "timer"  # a re-check: the interval, or a time the plan asked for
    RETRY = "retry"  # after an error


@dataclass
class Triage:
    """Which lane a topic waits in (the module's docstring): by the cause, and by how close the
    topic was to done at its last pass in this process."""

    seen: set[Key] = field(default_factory=set)  # reconciled (or being reconciled) by this process
    closing: set[Key] = field(default_factory=set)  # its key recorded, its clients not all Ready

    def lane(self, key: Key, cause: str) -> int:
        if cause == Cause.HOST or key in self.closing:
            return PROGRESS
        if key not in self.seen:
            return FIRST
        return CHANGE if cause == Cause.CHANGE else RECHECK

    def passed(self, key: Key, outcome: Outcome | None) -> None:
        if outcome is None:
            self.seen.discard(key)
            self.closing.discard(key)
        elif outcome.status.get("phase") == Phase.ROLLING_OUT:
            self.closing.add(key)
        else:
            self.closing.discard(key)


@dataclass
class Controller:
    wiring: Wiring
    memory: Memory = field(default_factory=Memory)
    interval: float = DEFAULTS.reconcile_interval
    workers: int = DEFAULTS.workers
    change_delay: float = DEFAULTS.change_delay  # a CHANGE-lane topic is taken this long after its change is seen
    closing_delay: float = DEFAULTS.closing_delay  # ... and a topic whose clients are coming up (not all Ready)
    queue: WorkQueue[Key] = field(default_factory=lambda: WorkQueue(LANES))
    triage: Triage = field(default_factory=Triage)

    def __post_init__(self) -> None:
        self._failures: dict[Key, int] = {}
        self._passing: dict[Key, bool | None] = {}  # topics in a pass -> a change seen meanwhile (progress?)
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def announce(self, namespace: str, name: str, progress: bool) -> None:
        """What the caches call when they see a change of a topic or of one of its children. A
        change seen during the topic's own pass (often that pass's writes, coming back) is triaged
        once the pass is done, by what the pass made of the topic: a pass that recorded the key
        makes the topic a closing one, whose Deployment's first counts are coalesced."""
        key = (namespace, name)
        if key in self._passing:
            self._passing[key] = bool(self._passing[key]) or progress
            return
        lane = self.triage.lane(key, Cause.HOST if progress else Cause.CHANGE)
        delay = self.change_delay if lane == CHANGE else self.closing_delay if lane == PROGRESS and not progress else 0
        if delay > 0:
            self.queue.add_soon(key, delay, lane)
        else:
            self.queue.add(key, lane)

    def _later(self, key: Key, delay: float, cause: str) -> None:
        self.queue.add_after(key, delay, self.triage.lane(key, cause))

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._worker(express=False), name=f"reconciler-{i}")
                       for i in range(self.workers)]
        self._tasks += [asyncio.create_task(self._worker(express=True), name=f"reconciler-express-{i}")
                        for i in range(EXPRESS)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _worker(self, express: bool) -> None:
        throttle = self.wiring.kube.throttle
        while True:
            if not express:
                await throttle.room()
            key, lane = await self.queue.next(worst=CHANGE if express else None)
            self.triage.seen.add(key)
            PRIORITY.set(lane)  # this task's requests, in the throttle's order
            self._passing[key] = None
            try:
                await self._process(key)
            finally:
                seen = self._passing.pop(key, None)
                if seen is not None:  # changes seen during the pass, triaged now (`announce`)
                    self.announce(*key, seen)
                self.queue.done(key)

    async def _process(self, key: Key) -> None:
        started = time.monotonic()
        try:
            outcome = await reconcile(self.wiring, self.memory, *key)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one topic's bug must not stop the others
            if verdict(exc) is Verdict.STALE:
                # A stale view (the object was read again), or gone meanwhile: no error; the next
                # pass starts from what is known now.
                log.info("%s/%s: %s, retrying", *key, exc)
                self._later(key, 0.2, Cause.CHANGE)
            else:
                self._failed(key, exc)
            return
        finally:
            metrics.reconcile_duration.observe(time.monotonic() - started)
        self._failures.pop(key, None)
        self._done(key, outcome)

    def _done(self, key: Key, outcome: Outcome | None) -> None:
        self.triage.passed(key, outcome)
        if outcome is None:
            self.queue.forget(key)
            metrics.topic_metrics.forget(*key)
            return
        delay = self.interval * random.uniform(1 - JITTER, 1 + JITTER)
        if outcome.recheck is not None:
            delay = min(delay, max(0.5, outcome.recheck))
        self._later(key, delay, Cause.TIMER)
        metrics.topic_metrics.set(*key, metrics.TopicSample.from_status(
            outcome.status, host_ready=outcome.host_ready, paused=outcome.paused,
            host_stats=outcome.host_stats))

    def _failed(self, key: Key, exc: Exception) -> None:
        metrics.reconcile_errors.inc()
        count = self._failures.get(key, 0) + 1
        self._failures[key] = count
        delay = min(MAX_BACKOFF, 2.0 * 2 ** (count - 1), self.interval * 2 ** (count - 1))
        log.warning("%s/%s: reconcile failed (%s), retrying in %.1fs", *key, exc, delay,
                    exc_info=not isinstance(exc, ApiError | Refused))
        self._later(key, delay, Cause.RETRY)
