"""A small async Kubernetes API client: the handful of calls the reconciler makes.

Configuration (in-cluster service account, or a kubeconfig with its auth plugins) comes from the
`kubernetes` library; requests go through aiohttp so the operator never blocks kopf's event loop.
"""

from __future__ import annotations

import json
import ssl
from typing import Any

import aiohttp
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from .errors import ApiError, ApiNotFound

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"  # JSON is YAML
# Metadata only: the operator checks a Secret's owner without ever receiving its data. No fallback
# to the full object: a server that cannot answer this way refuses (406) rather than send data.
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
FIELD_MANAGER = "swarm-operator"


def load_configuration() -> k8s_client.Configuration:
    configuration = k8s_client.Configuration()
    try:
        k8s_config.load_incluster_config(client_configuration=configuration)
    except k8s_config.ConfigException:
        k8s_config.load_kube_config(client_configuration=configuration)
    return configuration


class Kube:
    def __init__(self, configuration: k8s_client.Configuration, timeout: float = 30.0) -> None:
        self.configuration = configuration
        self.base = configuration.host.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._watch_session: aiohttp.ClientSession | None = None
        self.user_agent = "swarm-operator"

    @classmethod
    def from_environment(cls) -> Kube:
        return cls(load_configuration())

    def _ssl(self) -> ssl.SSLContext | bool:
        cfg = self.configuration
        if not self.base.startswith("https"):
            return False
        context = ssl.create_default_context(cafile=cfg.ssl_ca_cert)
        if cfg.cert_file:
            context.load_cert_chain(cfg.cert_file, cfg.key_file)
        if not cfg.verify_ssl:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def headers(self, accept: str = "application/json") -> dict[str, str]:
        # Asked per request: in-cluster tokens rotate, exec plugins refresh.
        headers = {"Accept": accept, "User-Agent": self.user_agent}
        for setting in self.configuration.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"]] = setting["value"]
        return headers

    async def session(self) -> aiohttp.ClientSession:
        """The session of ordinary requests (at most 32 at once)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._ssl(), limit=32)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def watch_session(self) -> aiohttp.ClientSession:
        """The session of long-lived watches: one connection each, never waiting for a slot."""
        if self._watch_session is None or self._watch_session.closed:
            connector = aiohttp.TCPConnector(ssl=self._ssl(), limit=0)
            self._watch_session = aiohttp.ClientSession(connector=connector)
        return self._watch_session

    async def close(self) -> None:
        for session in (self._session, self._watch_session):
            if session is not None:
                await session.close()

    async def request(self, method: str, url_path: str, body: Any = None,
                      content_type: str = "application/json",
                      params: dict[str, str] | None = None, accept: str = "application/json") -> dict[str, Any]:
        session = await self.session()
        headers = self.headers(accept)
        if body is not None:
            headers["Content-Type"] = content_type
        # A body already serialized (str) is sent as UTF-8 as it is; anything else as JSON.
        sent = {"data": body.encode()} if isinstance(body, str) else {"json": body}
        async with session.request(method, self.base + url_path, headers=headers, params=params, **sent) as rsp:
            if rsp.status >= 400:
                text = await rsp.text()
                try:
                    status = await rsp.json(content_type=None)
                    reason, message = status.get("reason", ""), status.get("message", text)
                except ValueError:
                    reason, message = rsp.reason or "", text
                raise ApiError.of(rsp.status, reason, message)
            return await rsp.json(content_type=None)

    async def get(self, url_path: str, metadata_only: bool = False) -> dict[str, Any] | None:
        try:
            return await self.request("GET", url_path, accept=METADATA_ONLY if metadata_only else "application/json")
        except ApiNotFound:
            return None

    async def create(self, url_path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.request("POST", url_path, body,
                                  params={"fieldManager": FIELD_MANAGER})

    async def apply(self, url_path: str, body: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply as the operator's field manager: it owns exactly the fields it sends.

        The body is YAML to the API server (JSON is YAML), sent as UTF-8 text: JSON's escapes of
        characters outside the Basic Multilingual Plane (a surrogate pair, "\\ud83d\\udd25") are not
        YAML, whose parser refuses them ("invalid Unicode character escape code")."""
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        return await self.request("PATCH", url_path, text, APPLY_PATCH,
                                  params={"fieldManager": FIELD_MANAGER, "force": "true"})

    async def replace(self, url_path: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT: the whole object, with its resourceVersion as the precondition."""
        return await self.request("PUT", url_path, body, params={"fieldManager": FIELD_MANAGER})

    async def json_patch(self, url_path: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
        return await self.request("PATCH", url_path, ops, JSON_PATCH,
                                  params={"fieldManager": FIELD_MANAGER})

    async def merge_patch(self, url_path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.request("PATCH", url_path, body, MERGE_PATCH,
                                  params={"fieldManager": FIELD_MANAGER})

    async def whoami(self) -> str | None:
        """The user the API server takes this client for (a SelfSubjectReview: every authenticated
        user may ask it), or None when it cannot say."""
        try:
            review = await self.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
        except ApiError:
            return None
        return ((review.get("status") or {}).get("userInfo") or {}).get("username")

    async def delete(self, url_path: str, uid: str | None = None, propagation: str = "Background") -> None:
        """Delete; with `uid`, only that very object (a replaced one answers 409). `propagation`
        "Orphan" leaves its dependents (a StatefulSet's pods) in place."""
        options: dict[str, Any] = {"propagationPolicy": propagation}
        if uid:
            options["preconditions"] = {"uid": uid}
        try:
            await self.request("DELETE", url_path, options)
        except ApiNotFound:
            pass
