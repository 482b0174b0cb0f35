from __future__ import annotations

import asyncio
import contextlib

from swarm_operator.api.workqueue import EVENT, PROGRESS, RECHECK, WorkQueue


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


async def test_progress_runs_before_events_and_events_before_rechecks() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("recheck", RECHECK)
    for n in range(5):
        queue.add(f"new-{n}")  # a burst of new topics (watch events)
    queue.add("ready", PROGRESS)  # a host just turned Ready
    assert len(queue) == 7
    order = [await queue.get() for _ in range(7)]
    assert order == ["ready", "new-0", "new-1", "new-2", "new-3", "new-4", "recheck"]
    assert len(queue) == 0


async def test_a_waiting_key_moves_up_once_and_is_handed_out_once() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a", RECHECK)
    queue.add("b", EVENT)
    queue.add("a", PROGRESS)  # moves up
    queue.add("a", RECHECK)  # never moves down
    assert len(queue) == 2
    assert [await queue.get(), await queue.get()] == ["a", "b"]
    queue.done("a")
    queue.done("b")
    assert len(queue) == 0
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(queue.get(), 0.05)
        raise AssertionError("a key was handed out twice")


async def test_a_key_added_while_active_reruns_in_the_best_lane_asked_for() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    key = await queue.get()
    queue.add("a", RECHECK)
    queue.add("a", PROGRESS)
    queue.add("b", EVENT)
    queue.done(key)
    assert await queue.get() == "a"


async def test_timer_rechecks_wait_behind_events() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add_after("old", 0.01)  # the periodic re-check (RECHECK by default)
    await asyncio.sleep(0.05)
    queue.add("new")
    assert [await queue.get(), await queue.get()] == ["new", "old"]


async def test_a_taker_of_the_best_lanes_waits_for_one_and_leaves_the_rest() -> None:
    queue: WorkQueue[str] = WorkQueue(4)
    queue.add("first-pass", 2)
    express = asyncio.create_task(queue.next(worst=1))  # takes only lanes 0 and 1
    await asyncio.sleep(0.01)
    assert not express.done() and len(queue) == 1
    queue.add("key-to-record", 0)
    assert await asyncio.wait_for(express, 1) == ("key-to-record", 0)
    assert await asyncio.wait_for(queue.next(), 1) == ("first-pass", 2)


async def test_no_key_waits_while_a_taker_that_may_take_it_waits() -> None:
    queue: WorkQueue[str] = WorkQueue(4)
    express = asyncio.create_task(queue.next(worst=1))
    bulk = [asyncio.create_task(queue.next()) for _ in range(2)]
    await asyncio.sleep(0.01)
    queue.add("new-0", 2)  # wakes a bulk taker
    queue.add("new-1", 2)  # wakes the other
    queue.add("ready", 0)  # wakes the express taker; a bulk one may take it first (the best lane)
    got = await asyncio.wait_for(asyncio.gather(*bulk), 1)
    await asyncio.sleep(0.01)
    taken = sorted(k for k, _ in got) + ([express.result()[0]] if express.done() else [])
    left = [k for k in ("new-0", "new-1", "ready") if k not in taken]
    # Whatever the bulk takers took, the express one holds "ready" or waits with only a lane-2 key left.
    assert express.done() == ("ready" not in [k for k, _ in got])
    assert len(queue) == len(left) and all(k.startswith("new") for k in left)
    if not express.done():
        queue.add("ready-2", 0)
        assert await asyncio.wait_for(express, 1) == ("ready-2", 0)


async def test_a_burst_of_changes_added_soon_is_one_turn() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for _ in range(5):  # a StatefulSet's pod created, scheduled, started; its volume bound ...
        queue.add_soon("a", 0.05)
    assert len(queue) == 0  # not yet: what else changes meanwhile joins the same turn
    assert await asyncio.wait_for(queue.get(), 1) == "a"
    queue.done("a")
    await asyncio.sleep(0.1)
    assert len(queue) == 0  # one turn for the five


async def test_added_soon_while_waiting_keeps_its_turn_and_while_active_comes_soon_after() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a", RECHECK)
    queue.add_soon("a", 10, EVENT)  # already waiting: keeps its turn, moved up
    assert await asyncio.wait_for(queue.next(), 1) == ("a", EVENT)
    queue.add_soon("a", 0.05)  # being processed: soon after it is done, not at once
    queue.add_soon("a", 0.05)
    queue.done("a")
    assert len(queue) == 0
    assert await asyncio.wait_for(queue.get(), 1) == "a"
    queue.add_soon("a", 10)
    queue.add("a")  # and something that may not wait: at once after
    queue.done("a")
    assert len(queue) == 1
