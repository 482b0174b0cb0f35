"""A small async Kubernetes API client: the handful of calls the reconciler makes.

Configuration (in-cluster service account, or a kubeconfig with its auth plugins) comes from the
`kubernetes` library; requests go through aiohttp so the operator never blocks kopf's event loop,
and through the throttle (`throttle.py`). Bodies are encoded and answers decoded with orjson.
"""

from __future__ import annotations

import logging
import ssl
import time
from typing import Any

import aiohttp
import orjson
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from .errors import ApiError, ApiNotFound
from .throttle import Throttle

log = logging.getLogger(__name__)

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"  # JSON is YAML
# Metadata only: the operator checks a Secret's owner without ever receiving its data. No fallback
# to the full object: a server that cannot answer this way refuses (406) rather than send data.
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
FIELD_MANAGER = "swarm-operator"
AUTH_TTL = 30.0  # seconds a token is used before the configuration is asked again
RETRIES_429 = 10  # as client-go: a 429 was not processed, so any request may be sent again
PF_HEADERS = ("X-Kubernetes-PF-FlowSchema-UID", "X-Kubernetes-PF-PriorityLevel-UID")


def load_configuration() -> k8s_client.Configuration:
    configuration = k8s_client.Configuration()
    try:
        k8s_config.load_incluster_config(client_configuration=configuration)
    except k8s_config.ConfigException:
        k8s_config.load_kube_config(client_configuration=configuration)
    return configuration


def request_kind(method: str, url_path: str) -> str:
    """A request's verb and resource (its subresource too), without namespace or name: the kind
    of request whose answer times the throttle compares."""
    parts = [p for p in url_path.split("?")[0].split("/") if p]
    rest = parts[2:] if parts[:1] == ["api"] else parts[3:]  # after /api/v1 or /apis/<group>/<version>
    if rest[:1] == ["namespaces"] and len(rest) > 2:
        rest = rest[2:]
    return " ".join([method, rest[0] if rest else "", *rest[2:3]])


class Kube:
    def __init__(self, configuration: k8s_client.Configuration, timeout: float = 30.0,
                 throttle: Throttle | None = None) -> None:
        self.configuration = configuration
        self.base = configuration.host.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._watch_session: aiohttp.ClientSession | None = None
        self.user_agent = "swarm-operator"
        self.throttle = throttle or Throttle()
        self.flow: tuple[str, ...] = ()  # the flow schema and priority level the server says it put us in
        self.throttled = 0  # 429 answers
        self._auth_headers: dict[str, str] | None = None
        self._auth_at = 0.0

    @classmethod
    def from_environment(cls, throttle: Throttle | None = None) -> Kube:
        return cls(load_configuration(), throttle=throttle)

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
        headers = {"Accept": accept, "User-Agent": self.user_agent}
        headers.update(self._auth())
        return headers

    def _auth(self) -> dict[str, str]:
        """The credentials' headers, asked of the configuration at most every AUTH_TTL seconds (in-cluster
        tokens rotate, exec plugins refresh; asking is not free: the kubeconfig's refresh hook sets the
        host again, which looks the proxy up in the environment) and at once after a 401."""
        now = time.monotonic()
        if self._auth_headers is None or now - self._auth_at > AUTH_TTL:
            self._auth_headers = {setting["key"]: setting["value"]
                                  for setting in self.configuration.auth_settings().values()
                                  if setting.get("in") == "header" and setting.get("value")}
            self._auth_at = now
        return self._auth_headers

    async def session(self) -> aiohttp.ClientSession:
        """The session of ordinary requests (as many at once as the throttle lets through)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._ssl(), limit=0)
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
        """One request through the throttle (`throttle.py`); a 429 is sent again after its
        Retry-After, at most RETRIES_429 times, then raised."""
        session = await self.session()
        headers = self.headers(accept)
        if body is not None:
            headers["Content-Type"] = content_type
        kind = request_kind(method, url_path)
        # A body already serialized (bytes) is sent as it is; anything else as JSON, by orjson: UTF-8,
        # never an escape of a character outside the Basic Multilingual Plane (see `apply`).
        data = None if body is None else body if isinstance(body, bytes) else orjson.dumps(body)
        for attempt in range(RETRIES_429 + 1):
            async with self.throttle.slot(kind) as slot, \
                    session.request(method, self.base + url_path, data=data, headers=headers, params=params) as rsp:
                self._saw_flow(rsp.headers)
                if rsp.status == 429 and attempt < RETRIES_429:
                    self.throttled += 1
                    slot.retry_after = _retry_after(rsp.headers)
                    continue
                if rsp.status >= 400:
                    if rsp.status == 401:
                        self._auth_headers = None  # a rotated token: ask again next time
                    raise await _error(rsp)
                return orjson.loads(await rsp.read())  # type: ignore[no-any-return]
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _saw_flow(self, headers: Any) -> None:
        flow = tuple(headers.get(h, "") for h in PF_HEADERS)
        if flow != self.flow and any(flow):
            log.info("API priority and fairness: flow schema %s, priority level %s", *flow)
            self.flow = flow

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
        YAML, whose parser refuses them ("invalid Unicode character escape code"). orjson writes
        every character as UTF-8, never as an escape."""
        return await self.request("PATCH", url_path, orjson.dumps(body), APPLY_PATCH,
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


def _retry_after(headers: Any) -> float:
    try:
        return max(0.0, float(headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


async def _error(rsp: aiohttp.ClientResponse) -> ApiError:
    text = await rsp.text()
    try:
        status = orjson.loads(text)
        reason, message = status.get("reason", ""), status.get("message", text)
    except (ValueError, AttributeError):
        reason, message = rsp.reason or "", text
    return ApiError.of(rsp.status, reason, message)
