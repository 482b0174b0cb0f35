"""The pieces of the topic's pod specs: the security defaults, the peers' environment, and the
topic's Secrets as read-only files."""

from __future__ import annotations

from typing import Any

from .. import names
from ..models import SwarmTopicSpec

PEER_UID = 10001

POD_SECURITY_CONTEXT: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": PEER_UID,
    "runAsGroup": PEER_UID,
    "fsGroup": PEER_UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY_CONTEXT: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def env_value(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value}


def env_pod_ip(name: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}


def env_from_configmap(name: str, configmap: str, key: str, optional: bool) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"configMapKeyRef": {"name": configmap, "key": key,
                                                            "optional": optional}}}


MEMBER_FILE = f"{names.MEMBER_MOUNT_PATH}/{names.MEMBER_SEED_KEY}"
ENCRYPTION_FILE = f"{names.ENCRYPTION_MOUNT_PATH}/{names.ENCRYPTION_KEY_KEY}"


def secret_volume(volume: str, secret: str, mode: int = 0o440) -> dict[str, Any]:
    """Read-only Secret files: 0440 in the host pod (its fsGroup owns them); 0444 in client pods,
    whose templates may run as any non-root user without an fsGroup."""
    return {"name": volume, "secret": {"secretName": secret, "defaultMode": mode}}


def mount(volume: str, path: str) -> dict[str, Any]:
    return {"name": volume, "mountPath": path, "readOnly": True}


def clients_are_members(spec: SwarmTopicSpec) -> bool:
    return spec.writers.policy != names.POLICY_HOST_ONLY


def replace_named(theirs: list[dict[str, Any]], ours: list[dict[str, Any]], key: str = "name") -> list[Any]:
    """`theirs` with the operator's entries replacing the same-named ones."""
    mine = {e[key] for e in ours}
    return [e for e in theirs if e.get(key) not in mine] + ours


def with_env(container: dict[str, Any], env: list[dict[str, Any]], mounts: list[dict[str, Any]]) -> dict[str, Any]:
    out = {**container, "env": replace_named(container.get("env", []), env)}
    out["volumeMounts"] = replace_named(container.get("volumeMounts", []), mounts, "mountPath")
    return out


