from __future__ import annotations

import asyncio

from swarm_operator.workqueue import WorkQueue


async def test_a_key_is_queued_once_and_rerun_when_added_while_active() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    queue.add("a")
    assert len(queue) == 1
    key = await queue.get()
    queue.add("a")  # changed while being processed
    assert len(queue) == 0
    queue.done(key)
    assert len(queue) == 1 and await queue.get() == "a"


async def test_delayed_adds_keep_the_earliest() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add_after("a", 10)
    queue.add_after("a", 0.01)
    queue.add_after("a", 5)
    assert await asyncio.wait_for(queue.get(), 1) == "a"
    queue.done("a")
    queue.forget("a")
    await asyncio.sleep(0.05)
    assert len(queue) == 0
