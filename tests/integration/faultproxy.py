"""A fault-injecting HTTPS reverse proxy in front of the local cluster's kube-apiserver (test
tooling, never shipped).

A client's kubeconfig only changes its server URL: the proxy serves TLS with a certificate the
cluster CA signs for 127.0.0.1 (`Pki.serving`) and forwards method, path, query, headers (the
bearer token included) and body to the real API server, streaming watch responses chunk by
chunk. With the probabilities of `FaultRates`, drawn from one `random.Random(seed)` in the order
requests arrive, it answers in the API server's place with what a real cluster produces under
load and failures:

| fault | on | what the client sees |
|---|---|---|
| `500` | any request | a `Status` 500 InternalError, nothing forwarded |
| `429` | any request | a `Status` 429 TooManyRequests with `Retry-After`, nothing forwarded |
| `409` | writes | a `Status` 409 Conflict, nothing forwarded |
| `lost-response` | writes | the write is done by the API server, then the connection is reset unanswered |
| `reset` | any request | the connection is reset (RST) before anything is forwarded |
| `410-status` | watches | a `Status` 410 Expired instead of the stream |
| `410-event` | watches | the stream, then an `ERROR` event (410 Expired) and its end, as the server sends |
| `watch-cut` | watches | the stream, then the connection reset mid-stream |

`FaultRates.write_delay` holds every forwarded write's answer that long (a slow server as its client
sees it: what it sends at once arrives together, what it sends one after the other arrives that far
apart). `Tally` counts what was injected per kind (and the requests per kind of call) for a test to
print; `enabled` turns every fault off (and back on) without restarting anything.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import ssl
import struct
import threading
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te",
                        "trailer", "host", "content-length", "accept-encoding", "content-encoding", "date",
                        "server"})


class Fault(StrEnum):
    INTERNAL_ERROR = "500"
    THROTTLED = "429"
    CONFLICT = "409"
    LOST_RESPONSE = "lost-response"
    RESET = "reset"
    GONE_STATUS = "410-status"
    GONE_EVENT = "410-event"
    WATCH_CUT = "watch-cut"


class Call(StrEnum):
    READ = "read"
    WRITE = "write"
    WATCH = "watch"

    @classmethod
    def of(cls, method: str, path: str, query: Mapping[str, str]) -> Call:
        if method in WRITES:
            return cls.WRITE
        if query.get("watch", "").lower() in ("1", "true") or "/watch/" in path:
            return cls.WATCH
        return cls.READ


@dataclass(frozen=True)
class FaultRates:
    """Probability of each fault per request (they add up per kind of call, at most 1)."""

    internal_error: float = 0.0
    throttled: float = 0.0
    conflict: float = 0.0  # writes
    lost_response: float = 0.0  # writes
    reset: float = 0.0
    gone: float = 0.0  # watches: half as a 410 status, half as an ERROR event in the stream
    watch_cut: float = 0.0  # watches
    watch_seconds: tuple[float, float] = (0.5, 5.0)  # when a 410 event or a cut comes into a stream
    retry_after: int = 1  # seconds, in a 429's Retry-After
    write_delay: float = 0.0  # seconds each forwarded write's answer is held before the client gets it

    def __post_init__(self) -> None:
        for call in Call:
            total = sum(p for _, p in self.for_call(call))
            if not 0.0 <= total <= 1.0:
                raise ValueError(f"fault probabilities of a {call} add up to {total}")

    def for_call(self, call: Call) -> list[tuple[Fault, float]]:
        faults = [(Fault.INTERNAL_ERROR, self.internal_error), (Fault.THROTTLED, self.throttled),
                  (Fault.RESET, self.reset)]
        if call is Call.WRITE:
            faults += [(Fault.CONFLICT, self.conflict), (Fault.LOST_RESPONSE, self.lost_response)]
        if call is Call.WATCH:
            faults += [(Fault.GONE_STATUS, self.gone / 2), (Fault.GONE_EVENT, self.gone / 2),
                       (Fault.WATCH_CUT, self.watch_cut)]
        return faults


@dataclass(frozen=True)
class Plan:
    """What happens to one request: no fault, or one, `after` seconds into a watch stream."""

    fault: Fault | None = None
    after: float = 0.0


class Dice:
    """The seeded decisions: one roll per request, in the order requests arrive."""

    def __init__(self, rates: FaultRates, seed: int) -> None:
        self.rates = rates
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def roll(self, call: Call) -> Plan:
        with self._lock:
            draw = self._rng.random()
            after = self._rng.uniform(*self.rates.watch_seconds)  # drawn always: one sequence per seed
        edge = 0.0
        for fault, probability in self.rates.for_call(call):
            edge += probability
            if draw < edge:
                return Plan(fault, after)
        return Plan()


class Tally:
    """Counts per kind, safe to read from another thread."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, what: str) -> None:
        with self._lock:
            self._counts[what] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._counts.items()))


def status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A `Status` object as the API server sends it for a failure."""
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": f"{message} (injected by the fault proxy)", "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


def status_response(code: int, reason: str, message: str, headers: Mapping[str, str] | None = None,
                    details: dict[str, Any] | None = None) -> web.Response:
    return web.json_response(status(code, reason, message, details=details), status=code, headers=headers)


GONE_EVENT = (json.dumps({"type": "ERROR", "object": status(410, "Expired", "too old resource version")})
              + "\n").encode()


def reset(request: web.Request) -> web.Response:
    """Reset the client's connection (SO_LINGER 0, then abort: an RST, not a clean close). The
    response returned is never sent; aiohttp drops it as a premature disconnection."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=499)


def forwardable(headers: Mapping[str, str]) -> CIMultiDict[str]:
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in HOP_BY_HOP)


class Upstream:
    """The real API server: one client session, its certificate checked against the cluster CA."""

    def __init__(self, url: str, ca: Path | None) -> None:
        self.url = url.rstrip("/")
        self._ssl: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca)) if ca else False
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        connector = aiohttp.TCPConnector(ssl=self._ssl, limit=256)
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                              timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @asynccontextmanager
    async def forward(self, request: web.Request, body: bytes) -> AsyncIterator[aiohttp.ClientResponse]:
        """The request as the client sent it; the API server's response."""
        assert self._session is not None
        headers = forwardable(request.headers)
        headers["Accept-Encoding"] = "identity"  # plain bodies: an ERROR event can be added to a stream
        async with self._session.request(request.method, URL(self.url + request.raw_path, encoded=True),
                                         headers=headers, data=body or None, allow_redirects=False) as response:
            yield response


class WatchRelay:
    """Streams one watch response chunk by chunk; a planned `410-event` or `watch-cut` comes
    `plan.after` seconds in (when faults are still on then), always at an event's boundary."""

    def __init__(self, proxy: FaultProxy, plan: Plan) -> None:
        self.proxy = proxy
        self.plan = plan

    async def run(self, request: web.Request, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
        response = web.StreamResponse(status=upstream.status, headers=forwardable(upstream.headers))
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        timed = self.plan.fault in (Fault.GONE_EVENT, Fault.WATCH_CUT)
        deadline: float | None = loop.time() + self.plan.after if timed else None
        tail = b""  # the part of the last chunk after its last newline: an event not yet complete
        try:
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        async for chunk in upstream.content.iter_any():
                            complete, newline, rest = (tail + chunk).rpartition(b"\n")
                            if newline:
                                await response.write(complete + newline)
                            tail = rest
                    break  # the API server ended the watch
                except TimeoutError:
                    if not self.proxy.enabled:
                        deadline = None  # faults were turned off meanwhile: stream on
                        continue
                    assert self.plan.fault is not None
                    self.proxy.tally.add(self.plan.fault)
                    if self.plan.fault is Fault.WATCH_CUT:
                        reset(request)
                        return response
                    tail = b""  # an event cut short upstream is not sent before the ERROR
                    await response.write(GONE_EVENT)
                    break
            if tail:
                await response.write(tail)
            await response.write_eof()
        except ConnectionError:  # the client went (e.g. a killed operator): nothing to answer
            pass
        except aiohttp.ClientError:  # the API server cut the stream: so does the proxy
            reset(request)
        return response


class FaultProxy:
    """`with FaultProxy(...) as proxy:` serves on `proxy.url` from a thread of its own."""

    def __init__(self, upstream: str, rates: FaultRates, seed: int, *, upstream_ca: Path | None = None,
                 serving: tuple[Path, Path] | None = None, host: str = "127.0.0.1") -> None:
        self.upstream = Upstream(upstream, upstream_ca)
        self.dice = Dice(rates, seed)
        self.tally = Tally()
        self.host = host
        self.port = 0
        self._serving = serving
        self._enabled = threading.Event()
        self._enabled.set()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self._serving else 'http'}://{self.host}:{self.port}"

    @property
    def enabled(self) -> bool:
        return self._enabled.is_set()

    @enabled.setter
    def enabled(self, value: bool) -> None:
        if value:
            self._enabled.set()
        else:
            self._enabled.clear()

    def counts(self) -> dict[str, int]:
        return self.tally.snapshot()

    def injected(self) -> dict[str, int]:
        """The faults injected so far, per kind (every kind listed)."""
        counts = self.counts()
        return {fault.value: counts.get(fault.value, 0) for fault in Fault}

    def requests(self) -> dict[str, int]:
        """The requests received so far, per kind of call."""
        counts = self.counts()
        return {call.value: counts.get(f"{call} requests", 0) for call in Call}

    # -- the requests ------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        call = Call.of(request.method, request.path, request.query)
        body = await request.read()
        self.tally.add(f"{call} requests")
        plan = self.dice.roll(call) if self.enabled else Plan()
        fault = plan.fault
        if fault in (Fault.RESET, Fault.INTERNAL_ERROR, Fault.THROTTLED, Fault.CONFLICT, Fault.GONE_STATUS):
            self.tally.add(fault)
        if fault is Fault.RESET:
            return reset(request)
        if fault is Fault.INTERNAL_ERROR:
            return status_response(500, "InternalError", "Internal error occurred: etcdserver: request timed out")
        if fault is Fault.THROTTLED:
            seconds = self.dice.rates.retry_after
            return status_response(429, "TooManyRequests", "the server has received too many requests",
                                   headers={"Retry-After": str(seconds)}, details={"retryAfterSeconds": seconds})
        if fault is Fault.CONFLICT:
            return status_response(409, "Conflict", "Operation cannot be fulfilled: the object has been modified; "
                                   "please apply your changes to the latest version and try again")
        if fault is Fault.GONE_STATUS:
            return status_response(410, "Expired", "too old resource version")
        async with self.upstream.forward(request, body) as upstream:
            if fault is Fault.LOST_RESPONSE:
                await upstream.read()  # the API server has done the write
                self.tally.add(fault)
                return reset(request)
            if call is Call.WATCH and upstream.status == 200:
                return await WatchRelay(self, plan).run(request, upstream)
            payload = await upstream.read()
            if call is Call.WRITE and self.dice.rates.write_delay > 0:
                await asyncio.sleep(self.dice.rates.write_delay)
            return web.Response(status=upstream.status, body=payload, headers=forwardable(upstream.headers))

    # -- the server's thread -----------------------------------------------------------------

    def _serve(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by __enter__ when it happens at start
            self._failure = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        await self.upstream.open()
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a client gone (a killed operator) ends its watch upstream at once.
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
        await runner.setup()
        context = None
        if self._serving:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self._serving[0]), str(self._serving[1]))
        site = web.TCPSite(runner, self.host, self.port, ssl_context=context)
        await site.start()
        self.port = int(runner.addresses[0][1])
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await runner.cleanup()
            await self.upstream.close()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(30)
        if self._failure is not None:
            raise RuntimeError(f"the fault proxy did not start: {self._failure!r}") from self._failure
        if not self.port:
            raise RuntimeError("the fault proxy did not start in 30 s")

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(15)

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

