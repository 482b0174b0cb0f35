"""A SwarmTopic's spec as the operator accepts it: the models' rules (the CRD's own, checked again:
a CRD applied without its schema lets anything through), then the rules no schema can say.

The host identity stays the host's: no client pod and no container added to the host template
may reach the `<name>-identity` Secret, whether as a volume (plain or projected, any volume name)
or through its environment (`secretKeyRef`, `envFrom`).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from . import names
from .models import SwarmTopicSpec, TopicName


def format_validation_error(exc: ValidationError, root: str = "spec") -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (root, *err["loc"]))
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _identity_volumes(template: dict[str, Any], secret: str) -> set[str]:
    """Names of the template's volumes that carry the Secret `secret` (plain or projected)."""
    out = set()
    for volume in (template.get("spec") or {}).get("volumes") or []:
        sources = [volume.get("secret") or {}] + [
            {"secretName": (src.get("secret") or {}).get("name")}
            for src in (volume.get("projected") or {}).get("sources") or []]
        if any(src.get("secretName") == secret for src in sources):
            out.add(str(volume.get("name")))
    return out


def _containers(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    pod = template.get("spec") or {}
    return [(f"{key}[{c.get('name')}]", c) for key in ("containers", "initContainers") for c in pod.get(key) or []]


def _reaching(template: dict[str, Any], secret: str, volumes: set[str]) -> list[str]:
    """The containers of `template` that mount one of `volumes` or read `secret` from their env."""
    out = []
    for where, container in _containers(template):
        mounts = any(m.get("name") in volumes for m in container.get("volumeMounts") or [])
        env = any(((e.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name") == secret
                  for e in container.get("env") or [])
        env_from = any((src.get("secretRef") or {}).get("name") == secret for src in container.get("envFrom") or [])
        if mounts or env or env_from:
            out.append(where)
    return out


def identity_reach(name: str, spec: SwarmTopicSpec) -> str | None:
    """Where a spec lets the host identity out of the host container, or None."""
    secret = names.identity_secret(name)
    for i, group in enumerate(spec.clients):
        volumes = _identity_volumes(group.template, secret)
        if volumes or _reaching(group.template, secret, set()):
            return f"spec.clients.{i}.template: reaches the host identity Secret {secret}"
    host = spec.bootstrapHost.template
    if (where := _reaching(host, secret, _identity_volumes(host, secret) | {names.IDENTITY_VOLUME})):
        return f"spec.bootstrapHost.template: {', '.join(where)} reaches the host identity Secret {secret}"
    return None


def parse_spec(topic: dict[str, Any]) -> tuple[SwarmTopicSpec | None, str | None]:
    """The topic's spec, or None and a message naming the field at fault."""
    raw = topic.get("spec")
    name = topic["metadata"]["name"]
    try:
        TopicName.model_validate({"name": name})
    except ValidationError as exc:
        return None, format_validation_error(exc, "metadata")
    if not isinstance(raw, dict):
        return None, "spec: missing or not an object"
    try:
        spec = SwarmTopicSpec.model_validate(raw)
    except ValidationError as exc:
        return None, format_validation_error(exc)
    if (error := identity_reach(name, spec)) is not None:
        return None, error
    return spec, None
