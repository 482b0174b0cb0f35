"""REST paths of the Kubernetes API (pure)."""

from __future__ import annotations

from urllib.parse import quote


def resource_path(group: str, version: str, plural: str, namespace: str | None = None, name: str | None = None,
                  subresource: str | None = None) -> str:
    """The REST path of a collection or an object: `/api/v1/...` for the core group (`group` ""),
    `/apis/<group>/<version>/...` for the others; `namespace` None: every namespace."""
    parts = [f"/apis/{group}/{version}" if group else f"/api/{version}"]
    if namespace:
        parts.append(f"namespaces/{quote(namespace)}")
    parts.append(plural)
    if name:
        parts.append(quote(name))
    if subresource:
        parts.append(subresource)
    return "/".join(parts)
