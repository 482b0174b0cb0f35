"""The level-based loop: every SwarmTopic is reconciled on each watch event about it or its
children, and again every `interval` seconds whatever happens (kopf is edge-based; this is
not). Errors back off per topic; a stale view (409) retries at once.

Progress first: a topic named by a host pod's event (its host just turned Ready, say) is taken
before topics named by other watch events, and those before topics that are only re-checked by
the timer or retried after an error (`workqueue.py`'s lanes), so a burst of new topics does not
delay the keys of hosts that are ready."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from . import metrics
from .apipolicy import Rejected
from .kube import ApiError
from .reconcile import Context, Outcome, reconcile
from .workqueue import EVENT, RECHECK, WorkQueue

log = logging.getLogger(__name__)
Key = tuple[str, str]  # (namespace, name)
MAX_BACKOFF = 60.0


@dataclass
class Controller:
    ctx: Context
    interval: float = 10.0
    workers: int = 4

    def __post_init__(self) -> None:
        self.queue: WorkQueue[Key] = WorkQueue()
        self._failures: dict[Key, int] = {}
        self._outcomes: dict[Key, Outcome] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def enqueue(self, namespace: str, name: str, priority: int = EVENT) -> None:
        self.queue.add((namespace, name), priority)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._worker(), name=f"reconciler-{i}")
                       for i in range(self.workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.ctx.http.close()
        await self.ctx.kube.close()

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
            outcome = await reconcile(self.ctx, *key)
        except ApiError as exc:
            if exc.status in (404, 409):
                # 409: a stale view; 404: the topic or a child went away meanwhile. Neither is an
                # error: the next pass starts from a fresh read (and forgets a deleted topic).
                log.info("%s/%s: %s, retrying from a fresh read", *key, exc)
                self.queue.add_after(key, 0.2, EVENT)
                return
            self._failed(key, exc)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one topic's bug must not stop the others
            self._failed(key, exc)
            return
        finally:
            metrics.reconcile_duration.observe(time.monotonic() - started)
        self._failures.pop(key, None)
        if outcome is None:
            self._outcomes.pop(key, None)
            self.queue.forget(key)
            metrics.topic_metrics.forget(*key)
        else:
            self._outcomes[key] = outcome
            self.queue.add_after(key, self.interval, RECHECK)
            metrics.topic_metrics.set(*key, metrics.TopicSample.from_status(
                outcome.status, host_ready=outcome.host_ready, paused=outcome.paused))

    def _failed(self, key: Key, exc: Exception) -> None:
        metrics.reconcile_errors.inc()
        count = self._failures.get(key, 0) + 1
        self._failures[key] = count
        delay = min(MAX_BACKOFF, self.interval * 2 ** (count - 1))
        log.warning("%s/%s: reconcile failed (%s), retrying in %.1fs", *key, exc, delay,
                    exc_info=not isinstance(exc, ApiError | Rejected))
        self.queue.add_after(key, delay, RECHECK)
