"""The API client's throttle (api/throttle.py): the order of waiting requests, the window learnt from
the server's answers, 429s, the settable rate limit; and the client sending a 429 again after its
Retry-After, against a real HTTP server on the loopback."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from kubernetes import client as k8s_client
from swarm_operator.api.client import AUTH_TTL, Kube, request_kind
from swarm_operator.api.errors import ApiError, ApiServerError
from swarm_operator.api.throttle import (
    CRITICAL,
    MAX_LIMIT,
    MIN_LIMIT,
    PRIORITY,
    TARGET,
    RateLimit,
    Throttle,
    Window,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _request(throttle: Throttle, priority: int, name: str, order: list[str], hold: asyncio.Event) -> None:
    PRIORITY.set(priority)
    async with throttle.slot("POST secrets"):
        order.append(name)
        await hold.wait()


async def test_waiting_requests_go_by_priority_then_in_arrival_order() -> None:
    throttle = Throttle()
    throttle.window.limit = 1  # one at a time, so that the others wait
    order: list[str] = []
    hold = asyncio.Event()
    first = asyncio.create_task(_request(throttle, 2, "first pass A", order, hold))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(_request(throttle, p, name, order, hold))
               for p, name in ((3, "re-check"), (2, "first pass B"), (1, "a change"), (1, "another change"))]
    await asyncio.sleep(0.01)
    assert order == ["first pass A"] and throttle.waiting == 4
    hold.set()
    await asyncio.gather(first, *waiting)
    assert order == ["first pass A", "a change", "another change", "first pass B", "re-check"]


async def test_the_most_urgent_never_wait_for_a_full_window_to_free_a_slot() -> None:
    throttle = Throttle()
    throttle.window.limit = 2
    order: list[str] = []
    hold = asyncio.Event()
    busy = [asyncio.create_task(_request(throttle, 2, f"first pass {n}", order, hold)) for n in range(3)]
    await asyncio.sleep(0.01)
    assert order == ["first pass 0", "first pass 1"]  # the window is full, the third waits
    urgent = [asyncio.create_task(_request(throttle, p, name, order, hold))
              for p, name in ((0, "key to record"), (CRITICAL, "lease"), (1, "a change"))]
    await asyncio.sleep(0.01)
    assert sorted(order[2:]) == ["key to record", "lease"]  # at once, beyond the window (RESERVED)
    hold.set()
    await asyncio.gather(*busy, *urgent)
    assert order[4:] == ["a change", "first pass 2"]


async def test_room_only_while_nothing_waits() -> None:
    throttle = Throttle()
    throttle.window.limit = 1
    hold = asyncio.Event()
    order: list[str] = []
    tasks = [asyncio.create_task(_request(throttle, 2, str(n), order, hold)) for n in range(3)]
    await asyncio.sleep(0.01)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(throttle.room(), 0.05)
    hold.set()
    await asyncio.gather(*tasks)
    await asyncio.wait_for(throttle.room(), 0.05)


def _round(window: Window, seconds: float) -> None:
    """One round of answers (as many as the window), all of it in use."""
    for _ in range(max(4, int(window.limit))):
        window.sample("POST secrets", seconds, in_flight=int(window.limit))


def test_the_window_doubles_from_the_start_then_shrinks_when_answers_wait_at_the_server() -> None:
    window = Window()
    for _ in range(4):
        _round(window, 0.010)  # answered well within the target
    assert window.limit == 8 * 2 ** 4  # slow start: doubled each round
    _round(window, 4 * TARGET)  # four times the target: a queue of ours at the server
    assert window.limit == 8 * 2 ** 4 * 0.5
    _round(window, 1.25 * TARGET)
    assert window.limit == 8 * 2 ** 4 * 0.5 * 0.8  # in proportion
    shrunk = window.limit
    for _ in range(10):  # within the target again: it grows, slowly now (no second slow start)
        _round(window, TARGET / 2)
    assert shrunk < window.limit < shrunk + 10 * 10


def test_a_server_that_answers_within_the_target_gets_a_wide_window_a_slow_one_a_narrow_one() -> None:
    fast, slow = Window(), Window()
    for _ in range(30):
        _round(fast, 0.005)
        _round(slow, 3 * TARGET)
    assert fast.limit == MAX_LIMIT and slow.limit == MIN_LIMIT


def test_an_unused_window_does_not_grow() -> None:
    window = Window()
    for _ in range(200):
        window.sample("POST secrets", 0.010, in_flight=1)  # one request at a time: the window says nothing
    assert window.limit == 8


def test_a_429_halves_the_window_and_holds_every_request_for_its_retry_after() -> None:
    clock = Clock()
    throttle = Throttle(clock=clock)
    throttle.window.limit = 40
    throttle.answered("POST secrets", 0.01, retry_after=2.0)
    assert throttle.window.limit == 20
    assert throttle._hold_until == clock.now + 2.0
    for _ in range(10):
        throttle.answered("POST secrets", 0.01, retry_after=1.0)
    assert throttle.window.limit == MIN_LIMIT


async def test_nothing_starts_before_a_retry_after_is_over() -> None:
    throttle = Throttle()
    throttle.answered("POST secrets", 0.01, retry_after=0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with throttle.slot("POST secrets"):
        waited = loop.time() - started
    assert 0.15 < waited < 1.0


def test_the_rate_limit_lets_a_burst_through_then_qps() -> None:
    clock = Clock()
    rate = RateLimit(qps=10, burst=3, clock=clock)
    assert [rate.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert rate.take() == pytest.approx(0.1)  # the next token in 1/qps seconds
    clock.now += 0.1
    assert rate.take() == 0.0
    assert RateLimit(qps=0, burst=1, clock=clock).take() == 0.0  # 0: no limit


async def test_the_rate_limit_spaces_requests() -> None:
    throttle = Throttle(qps=50, burst=1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(6):
        async with throttle.slot("POST secrets"):
            pass
    assert loop.time() - started >= 5 / 50 * 0.9


def test_request_kinds_name_the_verb_and_the_resource() -> None:
    assert request_kind("POST", "/api/v1/namespaces/apps/secrets") == "POST secrets"
    assert request_kind("PATCH", "/apis/swarm-operator.dev/v1alpha1/namespaces/apps/swarmtopics/chat/status") \
        == "PATCH swarmtopics status"
    assert request_kind("GET", "/apis/apps/v1/statefulsets") == "GET statefulsets"
    assert request_kind("PUT", "/apis/coordination.k8s.io/v1/namespaces/op/leases/swarm-operator") == "PUT leases"


async def test_a_429_is_sent_again_after_its_retry_after_then_answered(unused_tcp_port: int) -> None:
    seen: list[Any] = []

    async def secrets(request: web.Request) -> web.Response:
        seen.append(await request.json())
        if len(seen) < 3:  # priority and fairness turns it away twice
            return web.json_response({"kind": "Status", "reason": "TooManyRequests", "code": 429}, status=429,
                                     headers={"Retry-After": "0", "X-Kubernetes-PF-FlowSchema-UID": "fs",
                                              "X-Kubernetes-PF-PriorityLevel-UID": "pl"})
        return web.json_response({"metadata": {"name": "made"}}, status=201)

    kube = await _kube_on(secrets, unused_tcp_port)
    try:
        answer = await kube.create("/api/v1/namespaces/apps/secrets", {"metadata": {"name": "made"}})
        assert answer == {"metadata": {"name": "made"}}
        assert len(seen) == 3 and kube.throttled == 2 and kube.flow == ("fs", "pl")
        assert kube.throttle.window.limit == 8 / 4  # halved twice from 8
    finally:
        await kube.close()


async def test_a_429_that_does_not_end_is_raised(unused_tcp_port: int) -> None:
    async def busy(request: web.Request) -> web.Response:
        return web.json_response({"reason": "TooManyRequests", "message": "try later"}, status=429,
                                 headers={"Retry-After": "0"})

    kube = await _kube_on(busy, unused_tcp_port)
    try:
        with pytest.raises(ApiServerError):
            await kube.create("/api/v1/namespaces/apps/secrets", {"metadata": {"name": "x"}})
        assert kube.throttled == 10
    finally:
        await kube.close()


async def _kube_on(handler: Any, port: int) -> Kube:
    app = web.Application()
    app.router.add_post("/api/v1/namespaces/apps/secrets", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    configuration = k8s_client.Configuration()
    configuration.host = f"http://127.0.0.1:{port}"
    kube = Kube(configuration)
    original = kube.close

    async def close() -> None:
        await original()
        await runner.cleanup()

    kube.close = close  # type: ignore[method-assign]
    return kube


async def test_a_request_cancelled_while_waiting_takes_no_slot_and_one_cancelled_once_let_in_gives_it_back() -> None:
    throttle = Throttle()
    throttle.window.limit = 1
    order: list[str] = []
    hold = asyncio.Event()
    first = asyncio.create_task(_request(throttle, 2, "first", order, hold))
    await asyncio.sleep(0.01)
    gone = asyncio.create_task(_request(throttle, 2, "cancelled while waiting", order, hold))
    last = asyncio.create_task(_request(throttle, 2, "last", order, hold))
    await asyncio.sleep(0.01)
    gone.cancel()
    hold.set()
    await asyncio.gather(first, last, gone, return_exceptions=True)
    assert order == ["first", "last"] and throttle.in_flight == 0 and throttle.waiting == 0
    # Let in (its turn granted), then cancelled before it ran: the slot is given back.
    throttle.in_flight = 1  # one request in flight: the next waits
    granted = asyncio.create_task(_request(throttle, 2, "granted", order, hold))
    await asyncio.sleep(0.01)
    assert throttle.waiting == 1
    throttle._release()  # the one in flight answered: `granted` gets its slot...
    granted.cancel()  # ...and is cancelled before it could run
    await asyncio.gather(granted, return_exceptions=True)
    assert order == ["first", "last"] and throttle.in_flight == 0
    await asyncio.wait_for(throttle.room(), 0.05)


async def test_the_credentials_are_asked_at_most_every_ttl_and_again_after_a_401(unused_tcp_port: int) -> None:
    answers = [201, 201, 401, 201]

    async def secrets(request: web.Request) -> web.Response:
        status = answers.pop(0)
        return web.json_response({"metadata": {"name": "x"}} if status < 400 else
                                 {"reason": "Unauthorized", "message": "token expired"}, status=status)

    kube = await _kube_on(secrets, unused_tcp_port)
    asked: list[int] = []
    settings = kube.configuration.auth_settings

    def counted() -> Any:
        asked.append(1)
        return settings()

    kube.configuration.auth_settings = counted  # type: ignore[method-assign]
    try:
        for _ in range(2):
            await kube.create("/api/v1/namespaces/apps/secrets", {"metadata": {"name": "x"}})
        assert len(asked) == 1  # one look-up for both requests (within AUTH_TTL)
        with pytest.raises(ApiError):
            await kube.create("/api/v1/namespaces/apps/secrets", {"metadata": {"name": "x"}})
        await kube.create("/api/v1/namespaces/apps/secrets", {"metadata": {"name": "x"}})
        assert len(asked) == 2  # a 401: the next request asks for the (rotated) token again
        kube._auth_at -= AUTH_TTL + 1
        kube.headers()
        assert len(asked) == 3  # and after AUTH_TTL
    finally:
        await kube.close()
