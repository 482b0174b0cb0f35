"""Which topic goes first (reconciler/controller.py): a topic close to done before a first pass, and
takers that start passes only while the API client's throttle has room, but for the express ones."""

from __future__ import annotations

import asyncio

from swarm_operator.api.throttle import PRIORITY, Throttle
from swarm_operator.reconciler.controller import CHANGE, FIRST, PROGRESS, RECHECK, Cause, Controller, Triage
from swarm_operator.reconciler.reconcile import Outcome


def outcome(phase: str) -> Outcome:
    return Outcome(host_ready=True, paused=False, status={"phase": phase})


def test_lanes_by_how_close_a_topic_is_to_done() -> None:
    triage = Triage()
    key = ("apps", "chat")
    assert triage.lane(key, Cause.CHANGE) == FIRST  # never reconciled here: a first pass
    assert triage.lane(key, Cause.HOST) == PROGRESS  # its host pod changed: maybe a key to record
    triage.seen.add(key)
    triage.passed(key, outcome("Bootstrapping"))
    assert (triage.lane(key, Cause.CHANGE), triage.lane(key, Cause.TIMER)) == (CHANGE, RECHECK)
    triage.passed(key, outcome("RollingOut"))  # its key recorded, its clients coming up
    assert {triage.lane(key, cause) for cause in (Cause.CHANGE, Cause.TIMER, Cause.RETRY)} == {PROGRESS}
    triage.passed(key, outcome("Ready"))
    assert triage.lane(key, Cause.CHANGE) == CHANGE
    triage.passed(key, None)  # deleted
    assert triage.lane(key, Cause.CHANGE) == FIRST


async def test_a_topic_close_to_done_goes_before_a_burst_of_first_passes() -> None:
    controller = Controller(None, change_delay=0, closing_delay=0)  # type: ignore[arg-type]
    controller.triage.seen.add(("apps", "rolling"))
    controller.triage.passed(("apps", "rolling"), outcome("RollingOut"))
    controller.triage.seen.add(("apps", "bootstrapping"))
    for n in range(500):
        controller.announce("apps", f"new-{n}", False)
    controller.announce("apps", "bootstrapping", False)  # its host's volume appeared, say
    controller.announce("apps", "rolling", False)  # a client pod became Ready: its Deployment changed
    order = [(await controller.queue.next())[0][1] for _ in range(3)]
    assert order == ["rolling", "bootstrapping", "new-0"]


async def test_a_seen_topics_changes_are_one_pass_and_progress_is_at_once() -> None:
    controller = Controller(None, change_delay=0.05, closing_delay=0.05)  # type: ignore[arg-type]
    controller.triage.seen.update({("apps", "bootstrapping"), ("apps", "keyed")})
    for _ in range(4):  # its host pod created, scheduled, started; its volume bound
        controller.announce("apps", "bootstrapping", False)
    controller.announce("apps", "new", False)  # a first pass: at once
    controller.announce("apps", "keyed", True)  # its host pod is Ready: at once
    assert len(controller.queue) == 2
    assert [(await controller.queue.next())[0][1] for _ in range(2)] == ["keyed", "new"]
    assert await asyncio.wait_for(controller.queue.next(), 1) == (("apps", "bootstrapping"), CHANGE)
    await asyncio.sleep(0.1)
    assert len(controller.queue) == 0  # the four changes were one turn
    controller.triage.passed(("apps", "keyed"), outcome("RollingOut"))  # its clients coming up
    controller.queue.done(("apps", "keyed"))
    for _ in range(3):  # a client pod Ready, another, another: its Deployment's count
        controller.announce("apps", "keyed", False)
    assert len(controller.queue) == 0
    assert await asyncio.wait_for(controller.queue.next(), 1) == (("apps", "keyed"), PROGRESS)


class Wiring:
    def __init__(self, throttle: Throttle) -> None:
        self.kube = type("Kube", (), {"throttle": throttle})()


async def test_only_express_takers_start_passes_while_the_window_is_full() -> None:
    throttle = Throttle()
    throttle.window.limit = 1
    controller = Controller(Wiring(throttle), workers=4)  # type: ignore[arg-type]
    started: list[tuple[str, int]] = []

    async def process(key: tuple[str, str]) -> None:  # the pass: records its key and its requests' priority
        started.append((key[1], PRIORITY.get()))

    controller._process = process  # type: ignore[method-assign]
    hold = asyncio.Event()

    async def busy() -> None:  # first passes' requests, one in flight and one waiting: the window is full
        PRIORITY.set(FIRST)
        async with throttle.slot("POST secrets"):
            await hold.wait()

    in_flight = [asyncio.create_task(busy()) for _ in range(2)]
    await asyncio.sleep(0.01)
    controller.start()
    try:
        for n in range(3):
            controller.announce("apps", f"new-{n}", False)
        controller.announce("apps", "ready-host", True)
        await asyncio.sleep(0.05)
        assert started == [("ready-host", PROGRESS)]  # no first pass while requests wait
        hold.set()
        await asyncio.gather(*in_flight)
        await asyncio.sleep(0.05)
        assert sorted(started[1:]) == [("new-0", FIRST), ("new-1", FIRST), ("new-2", FIRST)]
    finally:
        await controller.stop()


async def test_a_change_seen_during_a_pass_is_triaged_by_what_the_pass_made_of_the_topic() -> None:
    """The pass that records the key creates the client Deployment; its watch event comes back
    during that pass. The topic is a closing one once the pass is done: that event waits the
    closing delay (coalesced with the Deployment's first counts), not the change delay of a
    topic still bootstrapping, and a count that reaches all Ready is taken at once."""
    controller = Controller(Wiring(Throttle()), change_delay=5.0, closing_delay=0.05)  # type: ignore[arg-type]
    key = ("apps", "keyed")
    passes: list[int] = []

    async def process(key: tuple[str, str]) -> None:
        passes.append(len(passes))
        if len(passes) == 1:  # the key's pass: its Deployment's creation seen before the pass is done
            controller.announce(*key, False)
            controller.triage.passed(key, outcome("RollingOut"))

    controller._process = process  # type: ignore[method-assign]
    controller.triage.seen.add(key)
    controller.start()
    try:
        controller.announce(*key, True)  # its host pod Ready
        await asyncio.sleep(0.01)
        assert passes == [0]
        await asyncio.sleep(0.2)
        assert passes == [0, 1]  # after the closing delay, not the change delay
        controller.announce(*key, False)  # a client Ready: a count short of all
        controller.announce(*key, True)  # all Ready: at once, with the count before it
        await asyncio.sleep(0.02)
        assert passes == [0, 1, 2]
        await asyncio.sleep(0.1)
        assert passes == [0, 1, 2]
    finally:
        await controller.stop()


def test_a_count_short_of_all_ready_waits_to_be_written_as_long_as_the_closing_delay() -> None:
    """One number: the closing lane's delay is also how long a progress-only status may be held
    (`Config.closing_delay` feeds both; it used to be a second constant in reconciler/context.py)."""
    from swarm_operator.config import DEFAULTS
    from swarm_operator.reconciler.context import Memory

    assert Memory().progress_wait == DEFAULTS.closing_delay == Controller.closing_delay
    memory = Memory(progress_wait=0.25)
    first = memory.hold(("apps", "chat"))
    assert 0.0 < first <= 0.25  # held from now, at most the configured wait
    assert memory.hold(("apps", "chat")) <= first  # the same hold, not a new one
    assert Memory(progress_wait=0.0).hold(("apps", "chat")) == 0.0
