"""The object store behind the simulated API server: what etcd and the apiserver's registry do.

It gives every object a uid, a creationTimestamp and a resourceVersion from one cluster-wide
counter; rejects a write whose body carries a stale resourceVersion (409); bumps `generation`
only when something outside metadata and status changes; keeps status behind its subresource;
turns a delete of an object with finalizers into a deletionTimestamp; garbage-collects dependents
by ownerReference; and fans every change out to watches, which can resume from a recent
resourceVersion (older ones get 410 Gone, as from a compacted etcd).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import secrets
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jsonpatch

Key = tuple[str, str, str]  # (resource key "group/version/plural", namespace or "", name)
HISTORY = 5000  # watch events kept for resuming


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    has_status: bool

    @property
    def key(self) -> str:
        return f"{self.group}/{self.version}/{self.plural}"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


@dataclass
class WatchEvent:
    rv: int
    type: str
    key: Key
    obj: dict[str, Any]


@dataclass
class Watcher:
    resource: str
    namespace: str | None
    match: Callable[[dict[str, Any]], bool]
    queue: asyncio.Queue[WatchEvent] = field(default_factory=asyncio.Queue)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch. `$`-directives of strategic merge patches are dropped."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class Store:
    def __init__(self) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.types: dict[str, ResourceType] = {}
        self.rv = 0
        self.history: deque[WatchEvent] = deque(maxlen=HISTORY)
        self.watchers: list[Watcher] = []
        self.on_change: list[Callable[[str, ResourceType, dict[str, Any]], None]] = []

    # -- bookkeeping ---------------------------------------------------------------------------
    def register(self, rtype: ResourceType) -> None:
        self.types[rtype.key] = rtype

    def _next_rv(self) -> str:
        self.rv += 1
        return str(self.rv)

    def _emit(self, event_type: str, rtype: ResourceType, key: Key, obj: dict[str, Any]) -> None:
        event = WatchEvent(int(obj["metadata"]["resourceVersion"]), event_type, key, copy.deepcopy(obj))
        self.history.append(event)
        for watcher in self.watchers:
            if watcher.resource == key[0] and (watcher.namespace in (None, key[1])):
                watcher.queue.put_nowait(event)
        for hook in self.on_change:
            hook(event_type, rtype, obj)

    # -- reads ---------------------------------------------------------------------------------
    def get(self, rtype: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        obj = self.objects.get((rtype.key, namespace, name))
        if obj is None:
            raise ApiError(404, "NotFound", f'{rtype.plural}.{rtype.group or ""} "{name}" not found'.replace(". ", " "),
                           {"name": name, "kind": rtype.plural})
        return copy.deepcopy(obj)

    def list(self, rtype: ResourceType, namespace: str | None,
             match: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        return [copy.deepcopy(obj) for (res, ns, _), obj in sorted(self.objects.items())
                if res == rtype.key and (namespace is None or ns == namespace) and match(obj)]

    # -- writes --------------------------------------------------------------------------------
    def create(self, rtype: ResourceType, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise ApiError(422, "Invalid", "metadata.name or metadata.generateName is required")
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        if rtype.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise ApiError(400, "BadRequest", "the namespace of the object does not match the request")
            meta["namespace"] = namespace
            if ("/v1/namespaces", "", namespace) not in self.objects:
                raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found')
        else:
            meta.pop("namespace", None)
            namespace = ""
        key = (rtype.key, namespace, meta["name"])
        if key in self.objects:
            raise ApiError(409, "AlreadyExists", f'{rtype.plural} "{meta["name"]}" already exists',
                           {"name": meta["name"], "kind": rtype.plural})
        obj["apiVersion"], obj["kind"] = rtype.api_version, rtype.kind
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=now(), resourceVersion=self._next_rv(),
                    generation=1)
        meta.pop("deletionTimestamp", None)
        if rtype.has_status and rtype.kind != "CustomResourceDefinition":
            obj.pop("status", None)  # status is written through its subresource only
        if rtype.kind == "Secret" and "stringData" in obj:
            data = obj.setdefault("data", {})
            for k, v in obj.pop("stringData").items():
                data[k] = base64.b64encode(str(v).encode()).decode()
        if rtype.kind == "Pod":
            obj.setdefault("status", {}).setdefault("phase", "Pending")
        if rtype.kind == "Service" and obj.get("spec", {}).get("clusterIP") != "None":
            obj.setdefault("spec", {})["clusterIP"] = f"10.96.{self.rv // 250 % 250}.{self.rv % 250 + 1}"
        self.objects[key] = obj
        self._emit("ADDED", rtype, key, obj)
        refs = meta.get("ownerReferences") or []
        if refs and not any(r.get("uid") in self._live_uids() for r in refs):
            # Created for an owner that is already gone (a controller racing a delete): the
            # garbage collector removes such dangling dependents, as a real one does.
            self.delete(rtype, namespace, meta["name"], graceful=False)
        return copy.deepcopy(obj)

    def _live_uids(self) -> set[str]:
        return {o["metadata"]["uid"] for o in self.objects.values()}

    def update(self, rtype: ResourceType, namespace: str, name: str, new: dict[str, Any],
               subresource: str | None = None) -> dict[str, Any]:
        """Replace an object (PUT, or the result of a PATCH) under the API server's rules."""
        key = (rtype.key, namespace, name)
        current = self.objects.get(key)
        if current is None:
            raise ApiError(404, "NotFound", f'{rtype.plural} "{name}" not found', {"name": name})
        new = copy.deepcopy(new)
        new_meta = new.setdefault("metadata", {})
        wanted_rv = new_meta.get("resourceVersion")
        if wanted_rv and str(wanted_rv) != current["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict",
                           f'Operation cannot be fulfilled on {rtype.plural} "{name}": the object has been '
                           "modified; please apply your changes to the latest version and try again",
                           {"name": name, "kind": rtype.plural})
        if subresource == "status":
            result = copy.deepcopy(current)
            result["status"] = new.get("status")
            if result["status"] is None:
                result.pop("status")
        else:
            result = new
            if rtype.has_status:
                if "status" in current:
                    result["status"] = copy.deepcopy(current["status"])
                else:
                    result.pop("status", None)
            # Fields the server owns.
            meta = result["metadata"]
            for immutable in ("uid", "creationTimestamp", "name", "namespace", "deletionTimestamp",
                              "generation"):
                if immutable in current["metadata"]:
                    meta[immutable] = current["metadata"][immutable]
                else:
                    meta.pop(immutable, None)
            result["apiVersion"], result["kind"] = rtype.api_version, rtype.kind
            if _spec_part(result) != _spec_part(current):
                meta["generation"] = int(current["metadata"].get("generation", 1)) + 1
        result["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        if result == current:
            return copy.deepcopy(current)  # a no-op write changes nothing, not even the version
        result["metadata"]["resourceVersion"] = self._next_rv()
        self.objects[key] = result
        meta = result["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._remove(rtype, key)
            return copy.deepcopy(result)
        self._emit("MODIFIED", rtype, key, result)
        return copy.deepcopy(result)

    def patch(self, rtype: ResourceType, namespace: str, name: str, content_type: str, body: Any,
              subresource: str | None = None) -> dict[str, Any]:
        current = self.get(rtype, namespace, name)
        if "json-patch" in content_type:
            try:
                patched = jsonpatch.apply_patch(current, body)
            except jsonpatch.JsonPatchTestFailed as exc:
                raise ApiError(422, "Invalid", f"the test operation failed: {exc}") from exc
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise ApiError(422, "Invalid", f"cannot apply the JSON patch: {exc}") from exc
        else:  # merge-patch, strategic-merge-patch (as a merge patch), apply (as a merge patch)
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "a merge patch must be a JSON object")
            patched = merge_patch(current, body)
            if not (body.get("metadata") or {}).get("resourceVersion"):
                patched["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        return self.update(rtype, namespace, name, patched, subresource)

    def delete(self, rtype: ResourceType, namespace: str, name: str, propagation: str = "Background",
               grace_period: int | None = None, graceful: bool = False) -> dict[str, Any]:
        key = (rtype.key, namespace, name)
        current = self.objects.get(key)
        if current is None:
            raise ApiError(404, "NotFound", f'{rtype.plural} "{name}" not found', {"name": name})
        meta = current["metadata"]
        if meta.get("finalizers") or (graceful and grace_period != 0):
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = now()
                if graceful:
                    meta["deletionGracePeriodSeconds"] = 30 if grace_period is None else grace_period
                meta["resourceVersion"] = self._next_rv()
                self._emit("MODIFIED", rtype, key, current)
            return copy.deepcopy(current)
        if propagation == "Orphan":
            self._orphan(meta["uid"])
        self._remove(rtype, key)
        return copy.deepcopy(current)

    def _remove(self, rtype: ResourceType, key: Key) -> None:
        obj = self.objects.pop(key)
        obj["metadata"]["resourceVersion"] = self._next_rv()
        self._emit("DELETED", rtype, key, obj)
        self._collect(obj["metadata"]["uid"])
        if rtype.kind == "Namespace":
            for other in [k for k in self.objects if k[1] == key[2]]:
                if other in self.objects:
                    self._remove(self.types[other[0]], other)

    def _collect(self, owner_uid: str) -> None:
        """Background garbage collection: dependents whose owners are all gone go too."""
        live = self._live_uids()
        for key, obj in list(self.objects.items()):
            refs = obj["metadata"].get("ownerReferences") or []
            if any(r.get("uid") == owner_uid for r in refs) and not any(r.get("uid") in live for r in refs):
                if key in self.objects:
                    rtype = self.types[key[0]]
                    self.delete(rtype, key[1], key[2], graceful=rtype.kind == "Pod"
                                and bool(obj.get("spec", {}).get("nodeName")))

    def _orphan(self, owner_uid: str) -> None:
        for key, obj in list(self.objects.items()):
            refs = obj["metadata"].get("ownerReferences") or []
            if any(r.get("uid") == owner_uid for r in refs):
                obj["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != owner_uid]
                obj["metadata"]["resourceVersion"] = self._next_rv()
                self._emit("MODIFIED", self.types[key[0]], key, obj)

    # -- watches -------------------------------------------------------------------------------
    def watch(self, rtype: ResourceType, namespace: str | None, since: str | None,
              match: Callable[[dict[str, Any]], bool]) -> tuple[Watcher, list[WatchEvent]]:
        """A live watcher plus the events to send first (a replay, or ADDED for all objects)."""
        watcher = Watcher(rtype.key, namespace, match)
        if since and since != "0" and since.isdigit():
            start = int(since)
            oldest = self.history[0].rv if self.history else self.rv + 1
            if start < oldest - 1 and start < self.rv:
                raise ApiError(410, "Expired", f"too old resource version: {start} ({oldest - 1})")
            backlog = [e for e in self.history if e.rv > start and e.key[0] == rtype.key
                       and namespace in (None, e.key[1])]
        else:
            backlog = [WatchEvent(int(o["metadata"]["resourceVersion"]), "ADDED", k, copy.deepcopy(o))
                       for k, o in sorted(self.objects.items())
                       if k[0] == rtype.key and namespace in (None, k[1])]
        self.watchers.append(watcher)
        return watcher, backlog

    def unwatch(self, watcher: Watcher) -> None:
        if watcher in self.watchers:
            self.watchers.remove(watcher)
