"""A small asyncio client of the API server for the scale benchmark, configured from a kubeconfig.

JSON GET/POST/PATCH/DELETE and a watch stream (aiohttp; the benchmark's own watches must not share
a rate limit or a connection pool with the operator under test). Client certificates,
CA and bearer tokens may be given as files or inline `-data`, as kubeconfigs allow.
"""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aiohttp
import yaml


class ApiError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"{status}: {body[:300]}")
        self.status = status
        self.body = body


@dataclass
class KubeConfig:
    server: str
    ssl: ssl.SSLContext | bool
    token: str | None = None

    @property
    def host(self) -> str:
        return urlparse(self.server).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlparse(self.server).port or 443


def _material(entry: dict[str, Any], key: str, base: Path, keep: list[Any]) -> str | None:
    """A file path for `key` or `key-data` (inline data goes to a private temporary file)."""
    if entry.get(key):
        path = Path(entry[key])
        return str(path if path.is_absolute() else base / path)
    data = entry.get(f"{key}-data")
    if not data:
        return None
    handle = tempfile.NamedTemporaryFile(prefix="kubelet-", delete=True)
    handle.write(base64.b64decode(data))
    handle.flush()
    keep.append(handle)
    return handle.name


def load_kubeconfig(path: Path, context: str | None = None) -> KubeConfig:
    doc = yaml.safe_load(path.read_text())
    ctx_name = context or doc.get("current-context")
    ctx = next(c["context"] for c in doc["contexts"] if c["name"] == ctx_name)
    cluster = next(c["cluster"] for c in doc["clusters"] if c["name"] == ctx["cluster"])
    user = next((u["user"] for u in doc.get("users", []) if u["name"] == ctx.get("user")), {})
    keep: list[Any] = []
    base = path.parent
    verify: ssl.SSLContext | bool = True
    if cluster.get("insecure-skip-tls-verify"):
        verify = False
    elif cluster["server"].startswith("https"):
        verify = ssl.create_default_context(cafile=_material(cluster, "certificate-authority", base, keep))
        cert = _material(user, "client-certificate", base, keep)
        if cert:
            verify.load_cert_chain(cert, _material(user, "client-key", base, keep))
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = Path(user["tokenFile"]).read_text().strip()
    for handle in keep:
        handle.close()
    return KubeConfig(server=cluster["server"].rstrip("/"), ssl=verify, token=token)


class Api:
    def __init__(self, config: KubeConfig) -> None:
        self.config = config
        headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
        self._session = aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=None, connect=10))

    async def close(self) -> None:
        await self._session.close()

    async def request(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None,
                      content_type: str = "application/json", limit: float = 30.0) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        async with self._session.request(
                method, self.config.server + path, data=data, params=params, ssl=self.config.ssl,
                headers={"Content-Type": content_type, "Accept": "application/json"},
                timeout=aiohttp.ClientTimeout(total=limit)) as rsp:
            text = await rsp.text()
            if rsp.status >= 400:
                raise ApiError(rsp.status, text)
            return json.loads(text) if text else None

    async def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return await self.request("GET", path, params=params)

    async def get_or_none(self, path: str) -> Any:
        try:
            return await self.get(path)
        except ApiError as err:
            if err.status == 404:
                return None
            raise

    async def post(self, path: str, body: Any) -> Any:
        return await self.request("POST", path, body)

    async def patch(self, path: str, body: Any, kind: str = "merge") -> Any:
        return await self.request("PATCH", path, body, content_type=f"application/{kind}-patch+json")

    async def delete(self, path: str, body: Any = None) -> Any:
        return await self.request("DELETE", path, body)

    async def watch(self, path: str, params: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
        """Watch events from `resourceVersion` in params; ends when the server closes the stream."""
        query = {**params, "watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": "240"}
        async with self._session.get(self.config.server + path, params=query, ssl=self.config.ssl,
                                     timeout=aiohttp.ClientTimeout(total=300, sock_read=280)) as rsp:
            if rsp.status >= 400:
                raise ApiError(rsp.status, await rsp.text())
            buffer = b""
            async for chunk in rsp.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
