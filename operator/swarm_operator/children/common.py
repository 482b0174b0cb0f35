"""What every child of a SwarmTopic shares: its metadata (labels, the controller ownerReference),
the spec-hash annotation, and what the builders are given (`Inputs`). Pure functions over dicts.

Every child carries a controller ownerReference to the SwarmTopic (garbage collection does the
cleanup, so no finalizer is needed; the reconciler trusts a child only with it), the common
labels, and a spec-hash annotation of what the operator last applied (a spec change); drift
from someone else's edit is found by comparing content (`drift.py`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import Any

import orjson

from .. import names
from ..config import TopicNetwork
from ..models import SwarmTopicSpec

ANNOTATION_HOST_PUBLIC_KEY = names.ANNOTATION_HOST_PUBLIC_KEY


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
    """A digest of what the operator wants for a child (its annotation excluded), without copying it."""
    meta = obj["metadata"]
    annotations = meta.get("annotations")
    if annotations and names.ANNOTATION_SPEC_HASH in annotations:
        rest = {k: v for k, v in annotations.items() if k != names.ANNOTATION_SPEC_HASH}
        obj = {**obj, "metadata": {**meta, "annotations": rest}}
    return digest(obj)


def digest(obj: Any) -> str:
    """A short digest of a JSON value."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def with_spec_hash(obj: dict[str, Any]) -> dict[str, Any]:
    obj["metadata"].setdefault("annotations", {})[names.ANNOTATION_SPEC_HASH] = spec_hash(obj)
    return obj


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON value (what every child and spec is): through orjson, a tenth of
    `copy.deepcopy`'s cost (a pass builds a StatefulSet from several merged templates)."""
    return orjson.loads(orjson.dumps(value))


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` wins; dicts merge recursively, everything else is replaced. Neither is changed:
    the result holds copies."""
    out: dict[str, Any] = json_copy(base)
    _merge_into(out, override)
    return out


def _merge_into(out: dict[str, Any], override: dict[str, Any]) -> None:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            _merge_into(out[key], value)
        else:
            out[key] = json_copy(value)


@dataclass(frozen=True)
class Inputs:
    """What a topic's children are made from (every builder of `owned.KINDS` takes this)."""

    topic: dict[str, Any]
    spec: SwarmTopicSpec
    peer_image: str
    host_public_key: str  # host 0's, the one the clients pin
    base_key: str | None = None  # recorded (or adopted through spec.baseKey); None: not yet
    host_replicas: int = 1  # the hosts the StatefulSet runs now (host 0 alone until the key is recorded)
    host_public_keys: tuple[str, ...] = ()  # every host's, by ordinal (host 0's first)
    hosts: int = 1  # the hosts the topic has: spec.bootstrapHost.replicas, or more while a scale-down is refused
    partition: int = 0  # hosts of an ordinal below it keep their old template (the upgrade brake)
    network: TopicNetwork = field(default_factory=TopicNetwork)  # the operator's side of the topic's NetworkPolicy
    member_seed_id: str | None = None  # the member seed's id (a new seed rolls the pods that mount it)
    restore: str | None = None  # the ConfigMap's `restore` ("true": hosts start in restore mode; planner/restore.py)
    restored: bool = False  # `swarm-operator restore` made the topic: its hosts read SWARM_RESTORE (planner/restore.py)
    digest: str = ""  # `topic_digest(topic)`, when the caller has it already ("": computed when asked)

    @property
    def name(self) -> str:
        return str(self.topic["metadata"]["name"])

    @property
    def several_hosts(self) -> bool:
        """The topic's hosts are several indexers."""
        return self.hosts > 1

    @cached_property
    def key(self) -> tuple[Any, ...]:
        """What the children are made from, hashable: a digest of the topic's identity and spec
        (`topic_digest`, or the one given), and every other field (a builder's output depends on
        nothing else)."""
        rest = tuple(getattr(self, f.name) for f in fields(self) if f.name not in ("topic", "spec", "digest"))
        return self.digest or topic_digest(self.topic), *rest

    @cached_property
    def keyless(self) -> tuple[Any, ...]:
        """`key` as if no base key were recorded: what every host-side child but the ConfigMap is
        made from (`planner/desired.py`), computed once per inputs rather than once per kind."""
        return self.key if self.base_key is None else replace(self, base_key=None).key


def topic_digest(topic: dict[str, Any]) -> str:
    """A digest of a topic's identity and spec: what its children are made from."""
    meta = topic["metadata"]
    text = json.dumps([meta.get("uid"), meta.get("name"), meta.get("namespace"), topic.get("spec")], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()
