"""Server-side tables (`Accept: ...;as=Table`): what `kubectl get` prints, printer columns included."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

Column = tuple[str, str, str]  # (name, type, jsonPath or a builtin formatter name)


def age(stamp: str | None) -> str:
    if not stamp:
        return "<unknown>"
    then = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    seconds = int((datetime.now(UTC) - then).total_seconds())
    if seconds < 120:
        return f"{max(seconds, 0)}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _path(obj: dict[str, Any], json_path: str) -> Any:
    node: Any = obj
    for part in json_path.strip(".").split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _pod_ready(obj: dict[str, Any]) -> str:
    statuses = obj.get("status", {}).get("containerStatuses", [])
    ready = sum(1 for s in statuses if s.get("ready"))
    return f"{ready}/{len(obj.get('spec', {}).get('containers', []))}"


def _pod_status(obj: dict[str, Any]) -> str:
    if obj["metadata"].get("deletionTimestamp"):
        return "Terminating"
    for status in obj.get("status", {}).get("containerStatuses", []):
        waiting = (status.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"])
    return str(obj.get("status", {}).get("phase", "Pending"))


def _restarts(obj: dict[str, Any]) -> int:
    return sum(int(s.get("restartCount", 0)) for s in obj.get("status", {}).get("containerStatuses", []))


def _replicas_ready(obj: dict[str, Any]) -> str:
    return f"{obj.get('status', {}).get('readyReplicas', 0)}/{obj.get('spec', {}).get('replicas', 1)}"


BUILTIN: dict[str, list[tuple[str, str, Any]]] = {
    "Pod": [("Ready", "string", _pod_ready), ("Status", "string", _pod_status),
            ("Restarts", "integer", _restarts)],
    "Deployment": [("Ready", "string", _replicas_ready),
                   ("Up-to-date", "integer", lambda o: o.get("status", {}).get("updatedReplicas", 0)),
                   ("Available", "integer", lambda o: o.get("status", {}).get("availableReplicas", 0))],
    "StatefulSet": [("Ready", "string", _replicas_ready)],
    "Event": [("Type", "string", lambda o: o.get("type", "")), ("Reason", "string", lambda o: o.get("reason", "")),
              ("Object", "string", lambda o: f"{o.get('involvedObject', {}).get('kind', '').lower()}/"
                                              f"{o.get('involvedObject', {}).get('name', '')}"),
              ("Message", "string", lambda o: o.get("message", ""))],
}


def columns_for(kind: str, printer_columns: list[dict[str, Any]] | None) -> list[tuple[str, str, Any]]:
    if printer_columns is not None:
        cols: list[tuple[str, str, Any]] = []
        for col in printer_columns:
            if col["jsonPath"] == ".metadata.creationTimestamp":
                continue  # Age is always last, as kubectl shows it
            cols.append((col["name"], col.get("type", "string"), col["jsonPath"]))
        return cols
    return BUILTIN.get(kind, [])


def row(obj: dict[str, Any], columns: list[tuple[str, str, Any]], include_object: str) -> dict[str, Any]:
    cells: list[Any] = [obj["metadata"]["name"]]
    for _name, col_type, source in columns:
        value = source(obj) if callable(source) else _path(obj, source)
        if col_type == "date":
            value = age(value)
        cells.append("" if value is None else value)
    cells.append(age(obj["metadata"].get("creationTimestamp")))
    if include_object == "None":
        embedded: dict[str, Any] | None = None
    elif include_object == "Object":
        embedded = obj
    else:
        embedded = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}
    return {"cells": cells, "object": embedded}


def table(objs: list[dict[str, Any]], columns: list[tuple[str, str, Any]], include_object: str,
          resource_version: str) -> dict[str, Any]:
    definitions = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
    definitions += [{"name": n, "type": "string" if t == "date" else t, "format": "", "description": n,
                     "priority": 0} for n, t, _ in columns]
    definitions.append({"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0})
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": [row(o, columns, include_object) for o in objs],
    }
