"""A SwarmTopic's spec as the operator accepts it: the models' rules (the CRD's own, checked again:
a CRD applied without its schema lets anything through), then the rules no schema can say: what
its pod templates may do (`podpolicy.py`), and a `spec.baseKey` that names the recorded key (the
CRD's CEL rule says the same; an older CRD does not).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from . import podpolicy
from .models import SwarmTopicSpec, TopicName
from .podpolicy import TopicRules


def format_validation_error(exc: ValidationError, root: str = "spec") -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (root, *err["loc"]))
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _base_key(topic: dict[str, Any], spec: SwarmTopicSpec) -> str | None:
    recorded = (topic.get("status") or {}).get("baseKey")
    adopted = spec.adopted_base_key()
    if recorded and adopted and adopted != recorded:
        return (f"spec.baseKey: {adopted} is not the recorded base key {recorded}: spec.baseKey cannot name "
                "another base once a key is recorded")
    return None


def parse_spec(topic: dict[str, Any], rules: TopicRules | None = None) -> tuple[SwarmTopicSpec | None, str | None]:
    """The topic's spec, or None and a message naming the field at fault."""
    raw = topic.get("spec")
    meta = topic["metadata"]
    try:
        TopicName.model_validate({"name": meta["name"]})
    except ValidationError as exc:
        return None, format_validation_error(exc, "metadata")
    if not isinstance(raw, dict):
        return None, "spec: missing or not an object"
    try:
        spec = SwarmTopicSpec.model_validate(raw)
    except ValidationError as exc:
        return None, format_validation_error(exc)
    found = podpolicy.violations(str(meta.get("namespace") or ""), spec, rules or TopicRules())
    if found:
        return None, podpolicy.message(found)
    if (error := _base_key(topic, spec)) is not None:
        return None, error
    return spec, None
