"""OpenAPI v3 documents, just enough for kubectl 1.35.

A group-version document whose PATCH operations carry `x-kubernetes-group-version-kind` and a
`fieldValidation` parameter tells kubectl the server validates fields itself, so `kubectl apply`
skips client-side schema validation (and never asks for `/openapi/v2`). Custom resources also get
their CRD schema under `components.schemas`, which is what `kubectl explain` reads.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from .store import ResourceType

FIELD_VALIDATION = {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True},
                    "description": "Strict, Warn or Ignore"}


def gv_path(rtype: ResourceType) -> str:
    return f"api/{rtype.version}" if not rtype.group else f"apis/{rtype.group}/{rtype.version}"


def schema_name(rtype: ResourceType) -> str:
    reversed_group = ".".join(reversed(rtype.group.split("."))) if rtype.group else "io.k8s.api.core"
    return f"{reversed_group}.{rtype.version}.{rtype.kind}"


def group_version_doc(types: list[ResourceType], schemas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    components: dict[str, Any] = {}
    for rtype in types:
        gvk = {"group": rtype.group, "version": rtype.version, "kind": rtype.kind}
        prefix = f"/{gv_path(rtype)}/" + ("namespaces/{namespace}/" if rtype.namespaced else "")
        name = schema_name(rtype)
        ref = {"$ref": f"#/components/schemas/{name}"}
        ok = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
        paths[f"{prefix}{rtype.plural}/{{name}}"] = {
            "get": {"x-kubernetes-group-version-kind": gvk, "responses": ok},
            "put": {"x-kubernetes-group-version-kind": gvk, "parameters": [FIELD_VALIDATION], "responses": ok},
            "patch": {"x-kubernetes-group-version-kind": gvk, "parameters": [FIELD_VALIDATION], "responses": ok},
        }
        paths[f"{prefix}{rtype.plural}"] = {
            "post": {"x-kubernetes-group-version-kind": gvk, "parameters": [FIELD_VALIDATION], "responses": ok},
        }
        schema = copy.deepcopy(schemas.get(rtype.key) or {"type": "object",
                                                          "x-kubernetes-preserve-unknown-fields": True})
        schema["x-kubernetes-group-version-kind"] = [gvk]
        components[name] = schema
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes (simulated)", "version": "v1.35.0"},
            "paths": paths, "components": {"schemas": components}}


def root_doc(docs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for path, doc in sorted(docs.items()):
        digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32].upper()
        out[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": out}
