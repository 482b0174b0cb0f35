"""The fault proxy of the API-fault test (tests/integration/faultproxy.py), in front of a tiny
stand-in API server: it forwards faithfully, and each fault does what its name says."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from faultproxy import Call, Dice, Fault, FaultProxy, FaultRates, Plan
from localcluster.pki import Pki

EVENTS = [{"type": "ADDED", "object": {"metadata": {"name": f"pod-{i}", "resourceVersion": str(i)}}} for i in (1, 2)]


class StandIn:
    """Answers every request with what it received; a watch sends two events, then stays open."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        seen = {"method": request.method, "path": request.path_qs, "body": (await request.read()).decode(),
                "authorization": request.headers.get("Authorization")}
        self.received.append(seen)
        if request.query.get("watch") == "1":
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request)
            for event in EVENTS:
                await response.write(json.dumps(event).encode() + b"\n")
            await asyncio.Event().wait()  # until the client (the proxy) goes
        if request.path.endswith("/missing"):
            return web.json_response({"kind": "Status", "code": 404}, status=404)
        return web.json_response(seen, status=201 if request.method == "POST" else 200)


@pytest.fixture
async def stand_in() -> AsyncIterator[tuple[StandIn, str]]:
    server = StandIn()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield server, f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def call(proxy: FaultProxy, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
    async with aiohttp.ClientSession() as session, session.request(
            method, proxy.url + path, json=body, headers={"Authorization": "Bearer t0ken"}) as rsp:
        return rsp.status, dict(rsp.headers), await rsp.json(content_type=None)


def test_the_dice_are_a_function_of_the_seed() -> None:
    rates = FaultRates(internal_error=0.2, conflict=0.2, lost_response=0.1, gone=0.2, watch_cut=0.2)
    calls = [Call.READ, Call.WRITE, Call.WATCH] * 100

    def plans(seed: int) -> list[Plan]:
        dice = Dice(rates, seed)
        return [dice.roll(c) for c in calls]

    first = plans(7)
    assert first == plans(7) and first != plans(8)
    faults = {p.fault for p in first if p.fault}
    assert Fault.CONFLICT in faults and Fault.WATCH_CUT in faults
    reads = [p.fault for c, p in zip(calls, first, strict=True) if c is Call.READ]
    assert set(reads) <= {None, Fault.INTERNAL_ERROR}, "write and watch faults on a read"
    with pytest.raises(ValueError):
        FaultRates(internal_error=0.6, conflict=0.6)


async def test_without_faults_it_forwards_method_path_query_token_and_body(stand_in: tuple[StandIn, str]) -> None:
    server, url = stand_in
    with FaultProxy(url, FaultRates(), seed=1) as proxy:
        code, _, seen = await call(proxy, "PATCH", "/apis/apps/v1/namespaces/a/deployments/d?fieldManager=x&force=true",
                                   {"spec": {"replicas": 2}})
        assert code == 200 and seen == {
            "method": "PATCH", "path": "/apis/apps/v1/namespaces/a/deployments/d?fieldManager=x&force=true",
            "body": '{"spec": {"replicas": 2}}', "authorization": "Bearer t0ken"}
        assert (await call(proxy, "GET", "/api/v1/namespaces/a/configmaps/missing"))[0] == 404
        assert await watch_until_events(proxy, 2) == EVENTS
        assert proxy.requests() == {"read": 1, "write": 1, "watch": 1}
        assert set(proxy.injected().values()) == {0}
        assert [r["method"] for r in server.received] == ["PATCH", "GET", "GET"]


async def watch_until_events(proxy: FaultProxy, count: int) -> list[dict[str, Any]]:
    events = []
    async with aiohttp.ClientSession() as session, session.get(proxy.url + "/api/v1/pods?watch=1") as rsp:
        async for line in rsp.content:
            events.append(json.loads(line))
            if len(events) == count:
                return events
    return events


@pytest.mark.parametrize(("rates", "code", "reason"), [
    (FaultRates(internal_error=1), 500, "InternalError"),
    (FaultRates(throttled=1, retry_after=3), 429, "TooManyRequests"),
    (FaultRates(conflict=1), 409, "Conflict"),
])
async def test_an_error_answer_forwards_nothing(stand_in: tuple[StandIn, str], rates: FaultRates, code: int,
                                                reason: str) -> None:
    server, url = stand_in
    with FaultProxy(url, rates, seed=1) as proxy:
        status, headers, body = await call(proxy, "POST", "/api/v1/namespaces/a/configmaps", {"data": {}})
        assert (status, body["kind"], body["reason"], body["code"]) == (code, "Status", reason, code)
        if code == 429:
            assert headers["Retry-After"] == "3" and body["details"]["retryAfterSeconds"] == 3
        assert server.received == []
        assert proxy.injected()[str(code)] == 1
        if code == 409:  # writes only
            assert (await call(proxy, "GET", "/api/v1/namespaces/a/configmaps"))[0] == 200


async def test_a_lost_response_is_a_write_done_but_never_answered(stand_in: tuple[StandIn, str]) -> None:
    server, url = stand_in
    with FaultProxy(url, FaultRates(lost_response=1), seed=1) as proxy:
        with pytest.raises(aiohttp.ClientError):
            await call(proxy, "POST", "/api/v1/namespaces/a/configmaps", {"data": {"k": "v"}})
        assert [r["method"] for r in server.received] == ["POST"]
        assert proxy.injected()["lost-response"] == 1


async def test_a_reset_forwards_nothing(stand_in: tuple[StandIn, str]) -> None:
    server, url = stand_in
    with FaultProxy(url, FaultRates(reset=1), seed=1) as proxy:
        with pytest.raises(aiohttp.ClientError):  # a POST: aiohttp retries an idempotent request once
            await call(proxy, "POST", "/api/v1/namespaces/a/configmaps", {"data": {}})
        assert server.received == [] and proxy.injected()["reset"] == 1


async def test_watch_faults(stand_in: tuple[StandIn, str]) -> None:
    _, url = stand_in
    soon = (0.2, 0.2)
    with FaultProxy(url, FaultRates(gone=1, watch_seconds=soon), seed=3) as proxy:
        answers = []
        while not (proxy.injected()["410-status"] and proxy.injected()["410-event"]):
            async with aiohttp.ClientSession() as session, session.get(proxy.url + "/api/v1/pods?watch=1") as rsp:
                answers.append((rsp.status, [json.loads(line) async for line in rsp.content]))
        for code, lines in answers:
            if code == 410:
                assert lines[0]["reason"] == "Expired"
            else:
                assert lines[:2] == EVENTS and lines[2]["type"] == "ERROR" and lines[2]["object"]["code"] == 410
                assert len(lines) == 3, "the stream goes on after its ERROR event"
    with FaultProxy(url, FaultRates(watch_cut=1, watch_seconds=soon), seed=3) as proxy:
        events: list[dict[str, Any]] = []
        with pytest.raises(aiohttp.ClientError):
            async with aiohttp.ClientSession() as session, session.get(proxy.url + "/api/v1/pods?watch=1") as rsp:
                async for line in rsp.content:
                    events.append(json.loads(line))
        assert events == EVENTS and proxy.injected()["watch-cut"] == 1


async def test_faults_off_is_a_plain_proxy(stand_in: tuple[StandIn, str]) -> None:
    server, url = stand_in
    with FaultProxy(url, FaultRates(internal_error=0.5, reset=0.5), seed=1) as proxy:
        proxy.enabled = False
        for _ in range(5):
            assert (await call(proxy, "GET", "/api/v1/namespaces"))[0] == 200
        assert set(proxy.injected().values()) == {0} and len(server.received) == 5


async def test_it_serves_tls_with_a_certificate_of_the_cluster_ca(stand_in: tuple[StandIn, str],
                                                                  tmp_path: Path) -> None:
    _, url = stand_in
    pki = Pki(tmp_path)
    pki.create([])
    with FaultProxy(url, FaultRates(), seed=1, serving=pki.serving("fault-proxy", ["127.0.0.1"])) as proxy:
        assert proxy.url.startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=str(pki.ca_crt))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session, \
                session.get(proxy.url + "/version") as rsp:
            assert rsp.status == 200 and (await rsp.json())["path"] == "/version"
