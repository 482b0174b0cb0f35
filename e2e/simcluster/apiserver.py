"""The simulated Kubernetes API server: kmock's emulator, made to behave like the real one.

kmock supplies the built-in resource catalogue (`resources.load_bundled()`, a k3s snapshot), the
discovery model (`ResourceInfo`) and the HTTP server. This subclass takes over request handling
for objects (`Store`: uid, resourceVersion and 409s, generation, status split, selectors,
finalizers, garbage collection, resumable watches) and adds what kopf and kubectl 1.35 need and
stock kmock 0.8 lacks: core discovery as `v1`, typed lists, `/api/v1/namespaces`, PUT, 201 on
create, CRDs from files or the API, OpenAPI v3 (for `kubectl apply` and `kubectl explain`),
server-side tables with printer columns, server-side apply, and pod graceful deletion.

    async with ApiServer(crd_paths=["crds"]) as api:   # api.url, api.kubeconfig, api.store
        ...
    with ThreadedApiServer(crd_paths=["crds"]) as api:  # the same, on its own thread
        ...
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import jsonpatch
import kmock
import yaml

from . import openapi, tables
from .selectors import compile_selector
from .store import ApiError, ResourceType, Store, WatchEvent, merge_patch

VERSION_INFO = {"major": "1", "minor": "35", "gitVersion": "v1.35.0-sim", "gitCommit": "sim",
                "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24",
                "compiler": "gc", "platform": "linux/amd64"}
CRD_KEY = "apiextensions.k8s.io/v1/customresourcedefinitions"
BOOKMARK_INTERVAL = 5.0  # seconds between bookmarks on a quiet watch that asked for them


def status_body(exc: ApiError) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": exc.message, "reason": exc.reason, "details": exc.details, "code": exc.code}


def _json(data: Any, status: int = 200) -> aiohttp.web.Response:
    return aiohttp.web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


@attrs.define(kw_only=True)
class SimEmulator(kmock.KubernetesEmulator):
    store: Store = attrs.field(factory=Store)
    printer_columns: dict[str, list[dict[str, Any]]] = attrs.field(factory=dict)
    schemas: dict[str, dict[str, Any]] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.resources.load_bundled()
        for resource, info in list(self.resources.items()):
            if resource.group == "metrics.k8s.io" or "list" not in info.verbs:
                continue  # nothing serves metrics here; discovery lists only what works
            self.store.register(ResourceType(resource.group or "", resource.version, resource.plural,
                                             info.kind or resource.plural, bool(info.namespaced),
                                             "status" in info.subresources))
        self.store.on_change.append(self._on_change)
        for ns in ("default", "kube-system", "kube-public"):
            self.store.create(self._type("", "v1", "namespaces"), "",
                              {"metadata": {"name": ns}, "spec": {"finalizers": ["kubernetes"]},
                               "status": {"phase": "Active"}})

    # -- CRDs ------------------------------------------------------------------------------------
    def load_crds(self, paths: Iterable[str | Path]) -> None:
        for path in paths:
            path = Path(path)
            files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
            for file in files:
                for doc in yaml.safe_load_all(file.read_text()):
                    if doc and doc.get("kind") == "CustomResourceDefinition":
                        self.store.create(self.store.types[CRD_KEY], "", doc)

    def _on_change(self, event_type: str, rtype: ResourceType, obj: dict[str, Any]) -> None:
        if rtype.key != CRD_KEY:
            return
        spec = obj["spec"]
        for version in spec.get("versions", []):
            key = (spec["group"], version["name"], spec["names"]["plural"])
            resource = kmock.resource(*key)
            rtype_cr = ResourceType(*key, spec["names"]["kind"], spec.get("scope") == "Namespaced",
                                    "status" in (version.get("subresources") or {}))
            if event_type == "DELETED":
                self.resources.pop(resource, None) if hasattr(self.resources, "pop") else None
                self.store.types.pop(rtype_cr.key, None)
                continue
            self.resources[resource] = kmock.ResourceInfo(
                kind=spec["names"]["kind"], singular=spec["names"].get("singular"),
                namespaced=spec.get("scope") == "Namespaced",
                shortnames=spec["names"].get("shortNames", []), categories=spec["names"].get("categories", []),
                subresources=list((version.get("subresources") or {}).keys()),
                verbs=["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"])
            self.store.register(rtype_cr)
            self.printer_columns[rtype_cr.key] = version.get("additionalPrinterColumns", [])
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if schema:
                self.schemas[rtype_cr.key] = schema
        if event_type != "DELETED" and not (obj.get("status") or {}).get("conditions"):
            obj["status"] = {  # the real server accepts and establishes a valid CRD at once
                "acceptedNames": {k: v for k, v in spec["names"].items()},
                "storedVersions": [v["name"] for v in spec.get("versions", []) if v.get("storage")],
                "conditions": [{"type": t, "status": "True", "reason": r, "message": "",
                                "lastTransitionTime": obj["metadata"]["creationTimestamp"]}
                               for t, r in (("NamesAccepted", "NoConflicts"), ("Established", "InitialNamesAccepted"))],
            }

    # -- routing ---------------------------------------------------------------------------------
    def _type(self, group: str, version: str, plural: str) -> ResourceType:
        rtype = self.store.types.get(f"{group}/{version}/{plural}")
        if rtype is None:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({plural})")
        return rtype

    async def __call__(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:  # type: ignore[override]
        try:
            return await self._route(raw)
        except ApiError as exc:
            return _json(status_body(exc), exc.code)
        except (ValueError, KeyError, TypeError) as exc:
            return _json(status_body(ApiError(400, "BadRequest", repr(exc))), 400)

    async def _route(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        parts = [p for p in raw.path.split("/") if p]
        if raw.path in ("/healthz", "/livez", "/readyz"):
            return aiohttp.web.Response(text="ok")
        if raw.path == "/version":
            return _json(VERSION_INFO)
        if parts[:2] == ["openapi", "v3"]:
            return self._openapi("/".join(parts[2:]))
        if parts[:1] == ["openapi"]:
            raise ApiError(404, "NotFound", "only /openapi/v3 is served")
        if parts == ["api"]:
            return _json({"kind": "APIVersions", "versions": ["v1"],
                          "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": raw.host}]})
        if parts == ["apis"]:
            return _json(self._group_list())
        if parts[:1] == ["apis"] and len(parts) == 2:
            group = next((g for g in self._group_list()["groups"] if g["name"] == parts[1]), None)
            if group is None:
                raise ApiError(404, "NotFound", f"group {parts[1]} not found")
            return _json({"kind": "APIGroup", "apiVersion": "v1", **group})
        if parts[:1] == ["api"] and len(parts) == 2:
            return _json(self._resource_list("", parts[1]))
        if parts[:1] == ["apis"] and len(parts) == 3:
            return _json(self._resource_list(parts[1], parts[2]))
        if parts[:1] == ["api"]:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"]:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", f"no route for {raw.path}")
        return await self._resource_request(raw, group, version, rest)

    # -- discovery -------------------------------------------------------------------------------
    def _types_of(self, group: str, version: str) -> list[ResourceType]:
        return [t for t in self.store.types.values() if t.group == group and t.version == version]

    def _group_list(self) -> dict[str, Any]:
        versions: dict[str, list[str]] = {}
        for rtype in self.store.types.values():
            if rtype.group and rtype.version not in versions.setdefault(rtype.group, []):
                versions[rtype.group].append(rtype.version)
        groups = []
        for group, vs in sorted(versions.items()):
            entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in sorted(vs, reverse=True)]
            groups.append({"name": group, "versions": entries, "preferredVersion": entries[0]})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _resource_list(self, group: str, version: str) -> dict[str, Any]:
        types = self._types_of(group, version)
        if not types:
            raise ApiError(404, "NotFound", f"{group}/{version} not found")
        resources = []
        for rtype in sorted(types, key=lambda t: t.plural):
            info = self.resources[kmock.resource(group, version, rtype.plural)]
            resources.append({"name": rtype.plural, "singularName": info.singular or rtype.plural,
                              "namespaced": rtype.namespaced, "kind": rtype.kind, "verbs": sorted(info.verbs),
                              "shortNames": sorted(info.shortnames), "categories": sorted(info.categories)})
            for sub in sorted(info.subresources):
                if sub in ("status", "scale"):
                    resources.append({"name": f"{rtype.plural}/{sub}", "singularName": "",
                                      "namespaced": rtype.namespaced, "kind": rtype.kind,
                                      "verbs": ["get", "patch", "update"]})
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version, "resources": resources}

    def _openapi(self, gv: str) -> aiohttp.web.Response:
        docs: dict[str, Any] = {}
        for rtype in self.store.types.values():
            docs.setdefault(openapi.gv_path(rtype), []).append(rtype)
        rendered = {path: openapi.group_version_doc(types, self.schemas) for path, types in docs.items()}
        if not gv:
            return _json(openapi.root_doc(rendered))
        if gv not in rendered:
            raise ApiError(404, "NotFound", f"no OpenAPI document for {gv}")
        return _json(rendered[gv])

    # -- objects ---------------------------------------------------------------------------------
    def _split(self, group: str, version: str, rest: list[str]) -> tuple[ResourceType, str | None, str | None,
                                                                          str | None]:
        """(type, namespace, name, subresource) of a resource path below the group-version."""
        namespace = None
        if rest[:1] == ["namespaces"] and len(rest) >= 3 and f"{group}/{version}/{rest[2]}" in self.store.types:
            namespace, rest = rest[1], rest[2:]
        rtype = self._type(group, version, rest[0])
        name = rest[1] if len(rest) > 1 else None
        sub = "/".join(rest[2:]) or None
        return rtype, namespace, name, sub

    async def _resource_request(self, raw: aiohttp.web.BaseRequest, group: str, version: str,
                                rest: list[str]) -> aiohttp.web.StreamResponse:
        if not rest:
            raise ApiError(404, "NotFound", "no resource")
        rtype, namespace, name, sub = self._split(group, version, rest)
        if sub not in (None, "status", "scale"):
            raise ApiError(404, "NotFound", f"subresource {sub} is not served by the simulated cluster")
        ns = namespace or ""
        query = raw.query
        method = raw.method
        body = await self._body(raw) if method in ("POST", "PUT", "PATCH", "DELETE") else None
        if sub == "scale" and name is not None:
            return _json(self._scale(rtype, ns, name, method, raw.headers.get("Content-Type", ""), body))
        if method == "GET" and name is None:
            match = compile_selector(query.get("labelSelector"), query.get("fieldSelector"))
            if query.get("watch") in ("true", "1"):
                return await self._watch(raw, rtype, namespace, match)
            items = self.store.list(rtype, namespace if rtype.namespaced else None, match)
            if "as=Table" in raw.headers.get("Accept", ""):
                return _json(self._table(rtype, items, query.get("includeObject", "Metadata")))
            return _json({"kind": f"{rtype.kind}List", "apiVersion": rtype.api_version,
                          "metadata": {"resourceVersion": str(self.store.rv)}, "items": items})
        if method == "GET":
            assert name is not None
            obj = self.store.get(rtype, ns, name)
            if "as=Table" in raw.headers.get("Accept", ""):
                return _json(self._table(rtype, [obj], query.get("includeObject", "Metadata")))
            return _json(obj)
        if method == "POST" and name is None:
            return _json(self.store.create(rtype, ns, body or {}), 201)
        if name is None and method == "DELETE":  # deletecollection
            match = compile_selector(query.get("labelSelector"), query.get("fieldSelector"))
            for obj in self.store.list(rtype, namespace, match):
                self.store.delete(rtype, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            return _json({"kind": "Status", "apiVersion": "v1", "status": "Success"})
        assert name is not None
        if method == "PUT":
            return _json(self.store.update(rtype, ns, name, body or {}, sub))
        if method == "PATCH":
            content_type = raw.headers.get("Content-Type", "application/merge-patch+json")
            if "apply-patch" in content_type:
                return _json(self._apply(rtype, ns, name, body or {}, sub))
            return _json(self.store.patch(rtype, ns, name, content_type, body, sub))
        if method == "DELETE":
            options = body if isinstance(body, dict) else {}
            propagation = options.get("propagationPolicy") or query.get("propagationPolicy") or "Background"
            grace = options.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
            current = self.store.get(rtype, ns, name)
            graceful = rtype.kind == "Pod" and bool(current.get("spec", {}).get("nodeName"))
            return _json(self.store.delete(rtype, ns, name, propagation,
                                           None if grace is None else int(grace), graceful))
        raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed here")

    async def _body(self, raw: aiohttp.web.BaseRequest) -> Any:
        content_type = raw.headers.get("Content-Type", "")
        if ("protobuf" in content_type or "cbor" in content_type) and raw.method == "DELETE":
            return None  # DeleteOptions we cannot read: the defaults apply
        if "protobuf" in content_type or "cbor" in content_type:
            # kubectl's typed commands (`create namespace`, ...) send protobuf; `apply` sends JSON.
            raise ApiError(415, "UnsupportedMediaType", f"the simulated server speaks JSON, not {content_type}")
        text = await raw.text()
        if not text:
            return None
        if "yaml" in raw.headers.get("Content-Type", ""):
            return yaml.safe_load(text)
        return json.loads(text)

    def _scale(self, rtype: ResourceType, ns: str, name: str, method: str, content_type: str,
               body: Any) -> dict[str, Any]:
        """The autoscaling/v1 Scale view of a Deployment or StatefulSet (`kubectl scale`)."""
        obj = self.store.get(rtype, ns, name)
        scale = {"apiVersion": "autoscaling/v1", "kind": "Scale",
                 "metadata": {k: obj["metadata"][k] for k in ("name", "namespace", "uid", "resourceVersion",
                                                             "creationTimestamp")},
                 "spec": {"replicas": obj["spec"].get("replicas", 1)},
                 "status": {"replicas": (obj.get("status") or {}).get("replicas", 0)}}
        if method == "GET":
            return scale
        if method == "PATCH" and "json-patch" in content_type:
            wanted = jsonpatch.apply_patch(scale, body)
        elif method == "PATCH":
            wanted = merge_patch(scale, body)
        else:
            wanted = body or {}
        replicas = int(wanted["spec"]["replicas"])
        obj["spec"]["replicas"] = replicas
        obj["metadata"]["resourceVersion"] = (wanted.get("metadata") or {}).get("resourceVersion") or \
            obj["metadata"]["resourceVersion"]
        self.store.update(rtype, ns, name, obj)
        scale["spec"]["replicas"] = replicas
        return scale

    def _apply(self, rtype: ResourceType, ns: str, name: str, body: dict[str, Any],
               sub: str | None) -> dict[str, Any]:
        """Server-side apply, simplified: create when absent, else a merge (no managedFields)."""
        try:
            self.store.get(rtype, ns, name)
        except ApiError as exc:
            if exc.code != 404:
                raise
            return self.store.create(rtype, ns, body)
        return self.store.patch(rtype, ns, name, "application/merge-patch+json", body, sub)

    def _table(self, rtype: ResourceType, items: list[dict[str, Any]], include: str) -> dict[str, Any]:
        columns = tables.columns_for(rtype.kind, self.printer_columns.get(rtype.key))
        return tables.table(items, columns, include, str(self.store.rv))

    async def _watch(self, raw: aiohttp.web.BaseRequest, rtype: ResourceType, namespace: str | None,
                     match: Any) -> aiohttp.web.StreamResponse:
        query = raw.query
        watcher, backlog = self.store.watch(rtype, namespace if rtype.namespaced else None,
                                            query.get("resourceVersion"), match)
        as_table = "as=Table" in raw.headers.get("Accept", "")
        include = query.get("includeObject", "Metadata")
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(raw)
        timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else None
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout

        async def send(event: WatchEvent) -> None:
            if not match(event.obj):
                return
            obj = self._table(rtype, [event.obj], include) if as_table else event.obj
            await response.write(json.dumps({"type": event.type, "object": obj}).encode() + b"\n")

        try:
            for event in backlog:
                await send(event)
            while True:
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    break
                wait = remaining if not bookmarks else min(remaining or BOOKMARK_INTERVAL, BOOKMARK_INTERVAL)
                try:
                    event = await asyncio.wait_for(watcher.queue.get(), wait)
                except TimeoutError:
                    if bookmarks and watcher.queue.empty():
                        # As a real API server does: a quiet watch learns the current version,
                        # so its reconnect does not ask for one long compacted away (410).
                        await response.write(json.dumps({"type": "BOOKMARK", "object": {
                            "kind": rtype.kind, "apiVersion": rtype.api_version,
                            "metadata": {"resourceVersion": str(self.store.rv)}}}).encode() + b"\n")
                    continue
                await send(event)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.store.unwatch(watcher)
        return response


def write_kubeconfig(url: str, path: Path) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "sim", "preferences": {},
        "clusters": [{"name": "sim", "cluster": {"server": url}}],
        "users": [{"name": "sim", "user": {}}],
        "contexts": [{"name": "sim", "context": {"cluster": "sim", "user": "sim", "namespace": "default"}}],
    }))
    return path


class ApiServer:
    """`async with ApiServer(crd_paths=[...]) as api:` the API server on 127.0.0.1:<port>."""

    def __init__(self, crd_paths: Iterable[str | Path] = (), port: int = 0,
                 state_dir: Path | None = None) -> None:
        self.crd_paths = list(crd_paths)
        self.port = port
        self.state_dir = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="swarm-sim-api-"))
        self.emulator = SimEmulator()
        self.url = ""
        self.kubeconfig = self.state_dir / "kubeconfig"
        self._server: kmock.Server | None = None

    @property
    def store(self) -> Store:
        return self.emulator.store

    async def __aenter__(self) -> ApiServer:
        self.emulator.load_crds(self.crd_paths)
        await self.emulator.__aenter__()
        self._server = kmock.Server(self.emulator, port=self.port or None)
        await self._server.__aenter__()
        self.url = f"http://127.0.0.1:{self._server.port}"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        write_kubeconfig(self.url, self.kubeconfig)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for watcher in list(self.store.watchers):
            self.store.unwatch(watcher)
        if self._server is not None:
            await self._server.__aexit__(None, None, None)
        await self.emulator.__aexit__(None, None, None)


class ThreadedApiServer:
    """The same server on an event loop of its own thread, for synchronous callers."""

    def __init__(self, crd_paths: Iterable[str | Path] = (), port: int = 0,
                 state_dir: Path | None = None) -> None:
        self._server = ApiServer(crd_paths, port, state_dir)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sim-apiserver", daemon=True)

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def kubeconfig(self) -> Path:
        return self._server.kubeconfig

    @property
    def store(self) -> Store:
        return self._server.store

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            async with self._server:
                self._ready.set()
                await self._stop.wait()
        except BaseException as exc:  # surfaced to the caller of __enter__
            self._error = exc
            self._ready.set()

    def __enter__(self) -> ThreadedApiServer:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise RuntimeError("the simulated API server failed to start") from self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)
