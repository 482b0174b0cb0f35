"""The children the operator wants, built only when something could have changed.

A pass of a topic that is only waiting (for its host, its clients) finds its children as it left
them; building them again, hashing them and comparing them field by field is most of a pass's
work. So each wanted child is a `Want`: how to build it and what it is built from (the topic's
uid and spec, the peer image, the host's key, the recorded key, the client group), and it is built
only when
- it was never built from these inputs in this process (its spec hash is then remembered:
  `_HASHES`, by inputs), or
- the live object is not one already found to hold it (`_VERIFIED`: the spec hash with the live
  object's identity and version, where a version is `metadata.generation` and the metadata that
  generation does not count, for kinds whose status churns, else `metadata.resourceVersion`).
Both memories are bounded (least recently used first out) and are only ever a shortcut: what they
do not know is built and compared as before. Pure functions and memories of pure results.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import Any

from .. import names, owned
from ..children import Inputs, statefulset

Obj = dict[str, Any]
LIMIT = 32768  # entries of each memory: a few per topic in progress


class _Lru(OrderedDict[Hashable, Any]):
    def remember(self, key: Hashable, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > LIMIT:
            self.popitem(last=False)

    def recall(self, key: Hashable) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value


_HASHES = _Lru()  # Want.key -> the spec hash of what it builds
_TEMPLATES = _Lru()  # Inputs.key -> the digest of the host pods' template
_VERIFIED = _Lru()  # (spec hash, live identity) -> True: that live object holds that wish, no drift


@dataclass(frozen=True)
class Want:
    """One wanted child: its kind and name, what it is made from (`key`), how to make it."""

    kind: owned.Kind
    name: str
    key: Hashable
    build: Callable[[], Obj | None]  # None: not wanted (with one host, no PodDisruptionBudget)

    def built(self) -> Obj | None:
        desired = self.build()
        if desired is not None:
            _HASHES.remember(self.key, desired["metadata"]["annotations"][names.ANNOTATION_SPEC_HASH])
        return desired


def want_key(kind: owned.Kind, made: Inputs) -> Hashable:
    """What a host-side child is made from: the recorded key is in the ConfigMap alone (the pods read
    it from there), so every other child is wanted by its inputs without it and recording the key
    builds none of them again (tests/unit/test_plan.py holds the builders to it)."""
    return kind.kind, made.key if kind is owned.CONFIGMAP else made.keyless


# Kinds whose metadata.generation moves with every change of their spec (the apps/v1 workloads):
# their status churns (a rollout), and a status update needs no new drift check.
GENERATION_KINDS = frozenset({owned.STATEFULSET.kind, owned.DEPLOYMENT.kind})


def live_identity(kind: owned.Kind, live: Obj) -> tuple[Any, ...]:
    """What tells one state of a live child from another, for the drift check: its resourceVersion,
    or for GENERATION_KINDS its generation and the metadata the generation does not count."""
    meta = live["metadata"]
    if kind.kind not in GENERATION_KINDS or meta.get("generation") is None:
        return meta.get("uid"), meta.get("resourceVersion")
    extra = json.dumps([meta.get("labels"), meta.get("annotations"), meta.get("ownerReferences")], sort_keys=True)
    return meta.get("uid"), meta.get("generation"), extra


def unchanged(want: Want, live: Obj | None) -> bool:
    """Whether `live` is known to hold exactly what `want` builds (no write, no build needed)."""
    if live is None:
        return False
    wished = _HASHES.recall(want.key)
    annotations = live["metadata"].get("annotations") or {}
    return wished is not None and annotations.get(names.ANNOTATION_SPEC_HASH) == wished \
        and _VERIFIED.recall((wished, live_identity(want.kind, live))) is not None


def verified(kind: owned.Kind, desired: Obj, live: Obj) -> None:
    """`live` was compared with `desired` and holds it: the next pass need not build or compare."""
    wished = desired["metadata"]["annotations"][names.ANNOTATION_SPEC_HASH]
    _VERIFIED.remember((wished, live_identity(kind, live)), True)


# What the host pods' template is not made from (tests/unit/test_plan.py holds them to it): the
# recorded key and the restore mode's value (both read from the ConfigMap), the hosts running now
# and the upgrade brake's partition.
NOT_IN_TEMPLATE = {"base_key": None, "host_replicas": 1, "partition": 0, "restore": None}


def template_hash(made: Inputs) -> str:
    """`children.statefulset.template_hash`, computed once per template inputs (the upgrade brake
    asks it on every pass of every topic)."""
    key = replace(made, **NOT_IN_TEMPLATE).key
    found = _TEMPLATES.recall(key)
    if found is None:
        found = statefulset.template_hash(made)
        _TEMPLATES.remember(key, found)
    return str(found)


def forget() -> None:
    """The memories emptied (tests)."""
    _HASHES.clear()
    _VERIFIED.clear()
    _TEMPLATES.clear()
