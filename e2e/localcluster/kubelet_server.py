"""The kubelet's own HTTPS endpoint, for `kubectl logs`: the API server proxies
`pods/<name>/log` to `https://<node InternalIP>:<daemonEndpoints port>/containerLogs/<ns>/<pod>/<container>`.

Only logs are served (tailLines, limitBytes, follow); no exec, attach or port-forward. The
serving certificate is self-signed (the API server verifies kubelet certificates only when given
--kubelet-certificate-authority) and no client is authenticated: this is test tooling bound to
the node's address. The Node publishes no Hostname address, so the API server, whose default
preference puts Hostname first, dials the InternalIP.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from .kubelet_pod import PodWorker

log = logging.getLogger("localcluster.kubelet")
FOLLOW_EVERY = 0.5


def self_signed(directory: Path, ip: str) -> ssl.SSLContext:
    crt, key = directory / "kubelet-serving.crt", directory / "kubelet-serving.key"
    if not crt.exists():
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365",
                        "-keyout", str(key), "-out", str(crt), "-subj", "/CN=localcluster-kubelet",
                        "-addext", f"subjectAltName=IP:{ip},IP:127.0.0.1"], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(crt), str(key))
    return context


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LogServer:
    def __init__(self, workers: Callable[[], list[PodWorker]], state_dir: Path, ip: str) -> None:
        self.workers = workers
        self.state_dir = state_dir
        self.ip = ip
        self.port = 0
        self._runner: web.AppRunner | None = None

    def _find(self, ns: str, pod: str, container: str) -> tuple[PodWorker, str] | None:
        for worker in self.workers():
            if worker.namespace == ns and worker.name == pod:
                box = next((b for b in worker.mains + worker.inits if b.name == container), None)
                if box is not None and (box.id or box.last_id):
                    return worker, str(box.id or box.last_id)
        return None

    async def container_logs(self, request: web.Request) -> web.StreamResponse:
        found = self._find(request.match_info["ns"], request.match_info["pod"], request.match_info["container"])
        if found is None:
            raise web.HTTPNotFound(text="container not found or not started yet\n")
        worker, container_id = found
        text = await worker.ctx.runtime.logs(container_id)
        if request.query.get("tailLines"):
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-int(request.query["tailLines"]):]) if int(request.query["tailLines"]) else ""
        if request.query.get("limitBytes"):
            text = text[: int(request.query["limitBytes"])]
        if request.query.get("follow") != "true":
            return web.Response(text=text, content_type="text/plain")
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        await response.write(text.encode())
        sent = len(await worker.ctx.runtime.logs(container_id))
        while worker.pod is not None:
            await asyncio.sleep(FOLLOW_EVERY)
            full = await worker.ctx.runtime.logs(container_id)
            if len(full) > sent:
                await response.write(full[sent:].encode())
                sent = len(full)
            state = await worker.ctx.runtime.state(container_id)
            if state is None or not state.running:
                break
        return response

    async def start(self) -> int:
        app = web.Application()
        app.router.add_get("/containerLogs/{ns}/{pod}/{container}", self.container_logs)
        app.router.add_get("/healthz", lambda _request: _ok())
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = _free_port("0.0.0.0")
        site = web.TCPSite(self._runner, "0.0.0.0", self.port, ssl_context=self_signed(self.state_dir, self.ip))
        await site.start()
        log.info("kubelet endpoint (container logs) on https://%s:%d", self.ip, self.port)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def _ok() -> web.Response:
    return web.Response(text="ok")
