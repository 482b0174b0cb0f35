"""Kubernetes Events about a SwarmTopic (core/v1), posted without ever failing a reconcile, and
limited per topic, reason and child (a standing or flapping problem posts one event per 10 minutes).

Events expire (about an hour): what a state event says is kept in status too (its conditions and
phase); the events of single actions (`DriftRepaired`, `ReplicasHeld`, ...) are told only here and
in the operator's log.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from .. import names, owned
from ..api.client import Kube
from ..api.errors import ApiError
from ..conditions import now_rfc3339

log = logging.getLogger(__name__)
COMPONENT = "swarm-operator"
QUIET_SECONDS = 600.0  # a standing or flapping problem posts at most one event per reason per 10 min
INSTANCE = os.environ.get("POD_NAME") or socket.gethostname()


def event_body(topic: dict[str, Any], event_type: str, reason: str, message: str) -> dict[str, Any]:
    meta = topic["metadata"]
    stamp = now_rfc3339()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": names.API_VERSION,
            "kind": names.KIND,
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        },
        "type": event_type,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": INSTANCE,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


async def post_event(kube: Kube, topic: dict[str, Any], event_type: str, reason: str, message: str) -> None:
    body = event_body(topic, event_type, reason, message)
    try:
        await kube.create(owned.EVENT.path(topic["metadata"]["namespace"]), body)
    except (ApiError, OSError) as exc:  # an event is a courtesy, never a reason to fail
        log.warning("could not post event %s on %s: %s", reason, topic["metadata"]["name"], exc)


class EventLimiter:
    """At most one event per topic, reason (and child) per `QUIET_SECONDS` (per process)."""

    def __init__(self, quiet: float = QUIET_SECONDS) -> None:
        self.quiet = quiet
        self._last: dict[tuple[str, str, str], float] = {}

    def allow(self, uid: str, reason: str, about: str = "") -> bool:
        now = time.monotonic()
        key = (uid, reason, about)
        if now - self._last.get(key, -self.quiet - 1) < self.quiet:
            return False
        self._last[key] = now
        if len(self._last) > 100_000:  # forget the oldest half, bounded memory
            for old in sorted(self._last, key=self._last.__getitem__)[:50_000]:
                del self._last[old]
        return True
