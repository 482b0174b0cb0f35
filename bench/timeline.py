"""A cold start's timeline as the API server tells it, seen by watches of this process (arrival
times, not the API's one-second timestamps), and the operator's own share of it.

The operator's share is the time in which only the operator could act, summed over the steps
where it holds the critical path:
- the topic created (its watch event) -> the host StatefulSet created (the topic's first pass);
- the host pod scheduled -> its encryption Secret there, when the Secret comes later (the pod
  cannot start without it; it is made once the PVC exists);
- the host pod Ready -> the client Deployment created (the key read, verified, recorded);
- the last client pod Ready -> the topic Ready (the status written).
Everything else is the control plane's controllers, the scheduler, the node and the peers.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from localcluster.controlplane import ControlPlane

WATCHED = ("/apis/swarm-operator.dev/v1beta1/namespaces/{ns}/swarmtopics",
           "/apis/apps/v1/namespaces/{ns}/statefulsets", "/apis/apps/v1/namespaces/{ns}/deployments",
           "/api/v1/namespaces/{ns}/secrets", "/api/v1/namespaces/{ns}/pods")


def _ready(obj: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


@dataclass
class Timeline:
    """First arrival (time.monotonic()) of each milestone of one topic."""

    clients: int
    seen: dict[str, float] = field(default_factory=dict)
    client_ready: dict[str, float] = field(default_factory=dict)

    def mark(self, what: str, at: float) -> None:
        self.seen.setdefault(what, at)

    def share(self) -> dict[str, float]:
        """The operator's steps (seconds) and their sum; NaN when a milestone was not seen."""
        s, nan = self.seen, float("nan")
        last_client = max(self.client_ready.values()) if len(self.client_ready) >= self.clients else nan
        created = s.get("created", nan)
        steps = {
            "apply->host StatefulSet": s.get("statefulset", nan) - created,
            "host scheduled->its key Secret": max(0.0, s.get("encryption", nan) - s.get("host scheduled", nan)),
            "host Ready->client Deployment": s.get("deployment", nan) - s.get("host ready", nan),
            # Two watch streams: the topic's Ready may arrive a hair before the last pod's.
            "last client Ready->topic Ready": max(0.0, s.get("topic ready", nan) - last_client),
        }
        steps["operator"] = sum(steps.values())
        steps["total"] = s.get("topic ready", nan) - created
        return steps


class Watcher:
    """Watches of the bench's namespace, feeding the timeline of whichever topic is running."""

    def __init__(self, plane: ControlPlane, namespace: str) -> None:
        self.plane, self.namespace = plane, namespace
        self.timeline: Timeline | None = None
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._follow, args=(path.format(ns=namespace),), daemon=True)
                         for path in WATCHED]
        for thread in self._threads:
            thread.start()

    def begin(self, name: str, clients: int) -> Timeline:
        with self._lock:
            self.name = name
            self.timeline = Timeline(clients)
            return self.timeline

    def _follow(self, path: str) -> None:
        while True:
            try:
                version = self.plane.get(path)["metadata"]["resourceVersion"]
                url = f"{self.plane.server}{path}?watch=1&resourceVersion={version}&timeoutSeconds=3600"
                with urllib.request.urlopen(url, context=self.plane._ssl(), timeout=3700) as stream:
                    for line in stream:
                        event = json.loads(line)
                        if event.get("type") in ("ADDED", "MODIFIED"):
                            self._see(event["object"], time.monotonic())
            except (OSError, ValueError, KeyError):
                time.sleep(0.5)

    def _see(self, obj: dict[str, Any], at: float) -> None:
        with self._lock:
            t = self.timeline
            if t is None:
                return
            meta = obj["metadata"]
            kind, name = obj.get("kind"), meta["name"]
            labels = meta.get("labels") or {}
            mine = labels.get("swarm-operator.dev/topic") == self.name or name == self.name
            if not mine:
                return
            if kind == "SwarmTopic":
                t.mark("created", at)
                if (obj.get("status") or {}).get("phase") == "Ready":
                    t.mark("topic ready", at)
            elif kind == "StatefulSet":
                t.mark("statefulset", at)
            elif kind == "Deployment":
                t.mark("deployment", at)
            elif kind == "Secret" and name == f"{self.name}-encryption":
                t.mark("encryption", at)
            elif kind == "Pod" and labels.get("app.kubernetes.io/component") == "bootstrap-host":
                if (obj.get("spec") or {}).get("nodeName"):
                    t.mark("host scheduled", at)
                if _ready(obj):
                    t.mark("host ready", at)
            elif kind == "Pod" and _ready(obj):
                t.client_ready.setdefault(name, at)
