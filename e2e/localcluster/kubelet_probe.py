"""Readiness, liveness and startup probes (httpGet, tcpSocket, exec) against the pod IP.

A `Prober` keeps one probe's schedule and its consecutive success/failure counts, as the
kubelet's prober worker does: nothing before initialDelaySeconds, then every periodSeconds, each
attempt bounded by timeoutSeconds; the result flips after successThreshold successes or
failureThreshold failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import aiohttp

from .runtime import Runtime


def resolve_port(port: Any, container: dict[str, Any]) -> int | None:
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    return next((int(p["containerPort"]) for p in container.get("ports", []) if p.get("name") == port), None)


class Prober:
    def __init__(self, kind: str, probe: dict[str, Any], container: dict[str, Any], started: float) -> None:
        self.kind = kind
        self.probe = probe
        self.container = container
        self.period = max(1.0, float(probe.get("periodSeconds", 10)))
        self.timeout = max(1.0, float(probe.get("timeoutSeconds", 1)))
        self.success_threshold = int(probe.get("successThreshold", 1))
        self.failure_threshold = int(probe.get("failureThreshold", 3))
        self.next_at = started + float(probe.get("initialDelaySeconds", 0))
        self.successes = 0
        self.failures = 0
        self.result: bool | None = None  # None until decided

    def due(self, now: float) -> bool:
        return now >= self.next_at

    async def run(self, session: aiohttp.ClientSession, runtime: Runtime, pod_ip: str, container_id: str) -> None:
        self.next_at = time.monotonic() + self.period
        ok = await self._attempt(session, runtime, pod_ip, container_id)
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= self.success_threshold:
                self.result = True
        else:
            self.failures, self.successes = self.failures + 1, 0
            if self.failures >= self.failure_threshold:
                self.result = False

    async def _attempt(self, session: aiohttp.ClientSession, runtime: Runtime, pod_ip: str,
                       container_id: str) -> bool:
        probe = self.probe
        if "exec" in probe:
            return await runtime.exec(container_id, list(probe["exec"].get("command", [])), self.timeout) == 0
        if "httpGet" in probe:
            return await self._http(session, pod_ip, probe["httpGet"])
        if "tcpSocket" in probe:
            port = resolve_port(probe["tcpSocket"].get("port"), self.container)
            host = probe["tcpSocket"].get("host") or pod_ip
            with contextlib.suppress(OSError, TimeoutError):
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), self.timeout)
                writer.close()
                return True
            return False
        return False  # grpc probes are not supported on this node: they never succeed

    async def _http(self, session: aiohttp.ClientSession, pod_ip: str, get: dict[str, Any]) -> bool:
        port = resolve_port(get.get("port"), self.container)
        if port is None:
            return False
        scheme = str(get.get("scheme", "HTTP")).lower()
        host = get.get("host") or pod_ip
        path = get.get("path", "/")
        headers = {h["name"]: h["value"] for h in get.get("httpHeaders", [])}
        headers.setdefault("User-Agent", "kube-probe/1.35")
        with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError):
            async with session.get(f"{scheme}://{host}:{port}{path}", headers=headers, ssl=False,
                                   timeout=aiohttp.ClientTimeout(total=self.timeout),
                                   allow_redirects=False) as rsp:
                return 200 <= rsp.status < 400
        return False
