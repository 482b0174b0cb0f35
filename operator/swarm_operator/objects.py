"""Plain questions about API objects as the operator sees them (pure functions over dicts)."""

from __future__ import annotations

from typing import Any


def controlled_by(obj: dict[str, Any], topic: dict[str, Any]) -> bool:
    """A child is the operator's only with a controller ownerReference to this topic's uid."""
    return any(ref.get("uid") == topic["metadata"]["uid"] and ref.get("controller") is True
               for ref in obj["metadata"].get("ownerReferences") or [])


def controller_of(obj: dict[str, Any]) -> str:
    """Who controls an object, in words."""
    ref = next((r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")), None)
    return f"controlled by {ref.get('kind')} {ref.get('name')}" if ref else "controlled by nothing"


def pod_ready(pod: dict[str, Any] | None) -> bool:
    """The pod exists, is not being deleted, and its Ready condition is True."""
    if not pod or pod["metadata"].get("deletionTimestamp"):
        return False
    return any(cond.get("type") == "Ready" and cond.get("status") == "True"
               for cond in (pod.get("status") or {}).get("conditions") or [])
