"""The level-based loop: a SwarmTopic is reconciled on each change the caches see of it or of its
children, and again from the caches every `interval` seconds (jittered by 10 %, so topics created
together do not re-check together), or sooner when its plan says time alone will change it (an
announce timeout). Errors back off per topic; a stale view (409) retries at once.

Progress first: a topic named by a host pod's change (its host just turned Ready, say) is taken
before topics named by other changes, and those before topics that are only re-checked by the
timer or retried after an error (`workqueue.py`'s lanes), so a burst of new topics does not
delay the keys of hosts that are ready."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import metrics
from ..api.errors import ApiError, Verdict, verdict
from ..api.workqueue import EVENT, PROGRESS, RECHECK, WorkQueue
from .act import Refused
from .context import Memory, Wiring
from .reconcile import Outcome, reconcile

log = logging.getLogger(__name__)
Key = tuple[str, str]  # (namespace, name)
MAX_BACKOFF = 60.0
JITTER = 0.1


def announcer(queue: WorkQueue[Key]) -> Callable[[str, str, bool], None]:
    """What the caches call when they see a change of a topic or of one of its children."""

    def changed(namespace: str, name: str, progress: bool) -> None:
        queue.add((namespace, name), PROGRESS if progress else EVENT)

    return changed


@dataclass
class Controller:
    wiring: Wiring
    memory: Memory = field(default_factory=Memory)
    interval: float = 300.0
    workers: int = 4
    queue: WorkQueue[Key] = field(default_factory=WorkQueue)

    def __post_init__(self) -> None:
        self._failures: dict[Key, int] = {}
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._worker(), name=f"reconciler-{i}")
                       for i in range(self.workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                await self._process(key)
            finally:
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
                self.queue.add_after(key, 0.2, EVENT)
            else:
                self._failed(key, exc)
            return
        finally:
            metrics.reconcile_duration.observe(time.monotonic() - started)
        self._failures.pop(key, None)
        self._done(key, outcome)

    def _done(self, key: Key, outcome: Outcome | None) -> None:
        if outcome is None:
            self.queue.forget(key)
            metrics.topic_metrics.forget(*key)
            return
        delay = self.interval * random.uniform(1 - JITTER, 1 + JITTER)
        if outcome.recheck is not None:
            delay = min(delay, max(0.5, outcome.recheck))
        self.queue.add_after(key, delay, RECHECK)
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
        self.queue.add_after(key, delay, RECHECK)
