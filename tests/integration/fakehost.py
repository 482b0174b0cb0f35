"""A stand-in bootstrap host: a real aiohttp server whose `/status` is signed with a real
PyNaCl key, in the exact envelope of the host contract (docs/host-contract.md). The test
decides what it reports (key, topic, signer), when its first announce has flushed (before that it
has no report: 503, or with `?wait=` once it has one or the wait is over) and when the pod counts
as Ready."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from typing import Any

from aiohttp import web
from nacl.signing import SigningKey
from swarm_operator.hashes import bootstrap_topic_hash
from swarm_operator.names import DEFAULT_STATUS_PORT

# Loopback addresses of this process's own (a block per process: test sessions may run side by side).
_first = 2500 + (os.getpid() % 200) * 250
_next_ip = iter(f"127.{n // 62500}.{n // 250 % 250}.{n % 250 + 2}" for n in range(_first, _first + 60000))


class FakeHost:
    """Serves on a loopback address of its own, on the status port of the real pod template, so
    the test can report that address as the pod IP of the pod the StatefulSet controller made."""

    def __init__(self, seed_hex: str, topic: str, base_key: str) -> None:
        self.ip = next(_next_ip)
        self.key = SigningKey(bytes.fromhex(seed_hex))
        self.topic = topic
        self.base_key = base_key
        self.writer_key = "77" * 32
        self.signer: SigningKey | None = None  # another key: a lying host
        self.body_override: bytes | None = None  # raw body: a broken host
        self.requests = 0
        self.writable: bool | None = None  # the payload's `writable`, when set
        self.echo_nonce = True  # False: an old host that signs no nonce
        self.seat: dict[str, Any] = {}  # several hosts: ordinal, indexer, indexerKeys, hostSlots, ...
        self.replay: bytes | None = None  # a recorded signed body served as is (a replay)
        self.last_body: bytes | None = None
        self.port = DEFAULT_STATUS_PORT
        self._loop = asyncio.new_event_loop()
        self._announced = asyncio.Event()  # its first announce has flushed: it has a report
        self._announced.set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def payload(self, nonce: str | None = None) -> str:
        body: dict[str, Any] = {
            "topic": self.topic, "bootstrapTopicHash": bootstrap_topic_hash(self.topic),
            "baseKey": self.base_key, "writerKey": self.writer_key, "discoveryKey": "88" * 32,
            "announcedAt": "2026-11-24T12:00:00.000Z", "announceSeconds": 0.42, "peers": 0,
        }
        if self.writable is not None:
            body["writable"] = self.writable
        body.update(self.seat)
        if nonce is not None and self.echo_nonce:
            body["nonce"] = nonce
        return json.dumps(body)

    def unannounced(self) -> FakeHost:
        """No report until `announce()` (call before `__enter__`)."""
        self._announced.clear()
        return self

    def announce(self) -> None:
        self._loop.call_soon_threadsafe(self._announced.set)

    async def _status(self, request: web.Request) -> web.Response:
        self.requests += 1
        if not self._announced.is_set():
            try:
                await asyncio.wait_for(self._announced.wait(), min(10.0, float(request.query.get("wait") or 0)))
            except TimeoutError:
                pass
            if not self._announced.is_set():
                return web.json_response({"error": "not ready to report yet"}, status=503)
        if self.body_override is not None:
            return web.Response(body=self.body_override, content_type="application/json")
        if self.replay is not None:
            return web.Response(body=self.replay, content_type="application/json")
        payload = self.payload(request.query.get("nonce"))
        signature = (self.signer or self.key).sign(payload.encode()).signature.hex()
        envelope: dict[str, Any] = {"payload": payload, "signature": signature,
                                    "publicKey": self.key.verify_key.encode().hex()}
        self.last_body = json.dumps(envelope).encode()
        return web.Response(body=self.last_body, content_type="application/json")

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get("/status", self._status)
        runner = web.AppRunner(app)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, self.ip, self.port)
        self._loop.run_until_complete(site.start())
        self._runner = runner
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> FakeHost:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def host_pod_status(ip: str, ready: bool) -> dict[str, Any]:
    """The host pod's status as a kubelet would report it: running on `ip`, Ready or not."""
    return {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
