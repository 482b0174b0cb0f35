"""The scale benchmark's floor: what the same topics cost the control plane with no operator.

Each SwarmTopic is created, then its children are posted straight away, all at once and in no
order: the three Secrets, the ConfigMap (with a base key already in it), the Service, the
StatefulSet and the client Deployment at its full replicas. The children are made by the
operator's own builders from the topic's spec (every kind its table builds), so they are the very
objects the operator would write (same labels, templates, owner reference to the topic). No one
reads a host report, records a key or writes a status: a topic is done when its StatefulSet has its host Ready and its
Deployment all its clients Ready.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from swarm_operator import owned
from swarm_operator.children import Inputs, client_deployment, encryption_secret, identity_secret, member_secret
from swarm_operator.config import DEFAULT_PEER_IMAGE
from swarm_operator.identity import new_seed, public_key_of
from swarm_operator.validation import parse_spec

Key = tuple[str, str]


def children_of(topic: dict[str, Any]) -> list[tuple[owned.Kind, dict[str, Any]]]:
    """The objects the operator makes for `topic` (as the API server returned it), by kind."""
    spec, error = parse_spec(topic)
    assert spec is not None, error
    seed = new_seed()
    made = Inputs(topic, spec, DEFAULT_PEER_IMAGE, public_key_of(seed), base_key=secrets.token_hex(32))
    out: list[tuple[owned.Kind, dict[str, Any]]] = [
        (owned.SECRET, identity_secret(topic, seed)),
        (owned.SECRET, member_secret(topic, secrets.token_hex(32))),
        (owned.SECRET, encryption_secret(topic, secrets.token_hex(32))),
    ]
    for kind in owned.built():  # the ConfigMap, the Service, the StatefulSet, ... as the operator's table says
        assert kind.build is not None
        child = kind.build(made)
        if child is not None:
            out.append((kind, child))
    out += [(owned.DEPLOYMENT, client_deployment(made, group, group.start_replicas())) for group in spec.clients]
    return out


class FloorDone:
    """Which topics have every pod Ready, from the StatefulSets' and Deployments' status."""

    def __init__(self, clients: int) -> None:
        self.clients = clients
        self.host: set[Key] = set()
        self.members: set[Key] = set()
        self.ready: dict[Key, float] = {}

    def _topic(self, obj: dict[str, Any]) -> Key | None:
        meta = obj["metadata"]
        topic = (meta.get("labels") or {}).get("swarm-operator.dev/topic")
        return (meta["namespace"], topic) if topic else None

    def _check(self, key: Key) -> None:
        if key in self.host and key in self.members:
            self.ready.setdefault(key, time.time())

    def statefulset(self, obj: dict[str, Any]) -> None:
        key = self._topic(obj)
        if key and ((obj.get("status") or {}).get("readyReplicas") or 0) >= 1:
            self.host.add(key)
            self._check(key)

    def deployment(self, obj: dict[str, Any]) -> None:
        key = self._topic(obj)
        if key and ((obj.get("status") or {}).get("readyReplicas") or 0) >= self.clients:
            self.members.add(key)
            self._check(key)


async def post_floor(api: Any, group_path: str, bodies: list[dict[str, Any]], concurrency: int = 32) -> None:
    """Create each topic, then all its children at once; `concurrency` topics at a time."""
    limit = asyncio.Semaphore(concurrency)

    async def one(body: dict[str, Any]) -> None:
        async with limit:
            ns = body["metadata"]["namespace"]
            topic = await api.post(f"{group_path}/namespaces/{ns}/swarmtopics", body)
            await asyncio.gather(*(api.post(kind.path(ns), child) for kind, child in children_of(topic)))

    await asyncio.gather(*(one(body) for body in bodies))
