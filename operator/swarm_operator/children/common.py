"""What every child of a SwarmTopic shares: its metadata (labels, the controller ownerReference),
the spec-hash annotation, the pod security defaults, and the small pieces of pod specs (env, Secret
volumes) the pod builders use. Pure functions over plain dicts.

Every child carries a controller ownerReference to the SwarmTopic (garbage collection does the
cleanup, so no finalizer is needed; the reconciler trusts a child only with it), the common
labels, and a spec-hash annotation of what the operator last applied (a spec change); drift
from someone else's edit is found by comparing content (`drift.py`).
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .. import names
from ..models import SwarmTopicSpec

ANNOTATION_HOST_PUBLIC_KEY = names.ANNOTATION_HOST_PUBLIC_KEY
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
# The "restricted" Pod Security Standard, given to client pods whose template sets none.
RESTRICTED_POD: dict[str, Any] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
RESTRICTED_CONTAINER: dict[str, Any] = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def owner_reference(topic: dict[str, Any]) -> dict[str, Any]:
    meta = topic["metadata"]
    return {
        "apiVersion": names.API_VERSION,
        "kind": names.KIND,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def metadata(topic: dict[str, Any], name: str, component: str) -> dict[str, Any]:
    """A child's metadata: its name in the topic's namespace, the common labels, the controller
    ownerReference to the topic."""
    return {
        "name": name,
        "namespace": topic["metadata"]["namespace"],
        "labels": names.common_labels(topic["metadata"]["name"], component),
        "annotations": {},
        "ownerReferences": [owner_reference(topic)],
    }


def spec_hash(obj: dict[str, Any]) -> str:
    """A digest of what the operator wants for a child (its annotation excluded)."""
    clean = copy.deepcopy(obj)
    clean["metadata"].get("annotations", {}).pop(names.ANNOTATION_SPEC_HASH, None)
    return hashlib.sha256(json.dumps(clean, sort_keys=True).encode()).hexdigest()[:16]


def with_spec_hash(obj: dict[str, Any]) -> dict[str, Any]:
    obj["metadata"].setdefault("annotations", {})[names.ANNOTATION_SPEC_HASH] = spec_hash(obj)
    return obj


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` wins; dicts merge recursively, everything else is replaced."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclass(frozen=True)
class Inputs:
    """What a topic's children are made from (every builder of `owned.KINDS` takes this)."""

    topic: dict[str, Any]
    spec: SwarmTopicSpec
    peer_image: str
    host_public_key: str
    base_key: str | None = None  # recorded (or adopted through spec.baseKey); None: not yet

    @property
    def name(self) -> str:
        return str(self.topic["metadata"]["name"])


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
    if "securityContext" not in out:
        out["securityContext"] = copy.deepcopy(RESTRICTED_CONTAINER)
    return out


