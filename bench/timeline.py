"""A cold start's timeline as the API server tells it, seen by watches of this process (arrival
times, not the API's one-second timestamps), and the operator's own share of it.

The operator's share is the time in which only the operator could act, summed over the steps
where it holds the critical path:
- the topic created (its watch event) -> the host StatefulSet created (the topic's first pass);
- the host pod scheduled -> its encryption Secret there, when the Secret comes later (the pod
  cannot start without it; it is made once the PVC exists);
- the host pod Ready -> the client Deployment created (the key read, verified, recorded), or,
  when the operator read the key from the host's report as soon as its announce flushed (before
  the pod's Ready), the host's announce -> the client Deployment;
- the last client pod Ready -> the topic Ready (the status written).
Everything else is the control plane's controllers, the scheduler, the node and the peers.

`breakdown()` splits the whole of apply -> all clients Ready along its critical path (the host, then
the last client to turn Ready) into consecutive segments, each charged to one of: control plane
(API server, controllers, scheduler, volume provisioning), operator, node (the kubelet: sandbox,
volumes, image, container start, up to the program's first log line), peer (the program's first log
line -> its own ready moment: the host's announce flushed, a client's base replicated) and probe
(that moment -> the pod Ready as the watch sees it: the readiness probe's period and the kubelet's
status update). The watch arrivals and the peers' log lines (milliseconds, wall clock, mapped onto
this process's monotonic clock) are fine-grained; the only coarse figures (the API's one-second
timestamps) are the node's split at the container's `state.running.startedAt`, printed apart.
"""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from localcluster.controlplane import ControlPlane

WATCHED = ("/apis/swarm-operator.dev/v1beta1/namespaces/{ns}/swarmtopics",
           "/apis/apps/v1/namespaces/{ns}/statefulsets", "/apis/apps/v1/namespaces/{ns}/deployments",
           "/api/v1/namespaces/{ns}/secrets", "/api/v1/namespaces/{ns}/pods")


def _ready(obj: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


# The critical path of apply -> all clients Ready: (segment, who it is charged to, the milestone
# ending it), from the milestone "applied". "client ..." milestones are the last client's to turn Ready.
CRITICAL_PATH: tuple[tuple[str, str, str], ...] = (
    ("kubectl apply -> topic seen", "control plane", "created"),
    ("topic -> host StatefulSet", "operator", "statefulset"),
    ("StatefulSet -> host pod", "control plane", "host created"),
    ("host pod -> scheduled (PVC bound)", "control plane", "host scheduled"),
    ("host scheduled -> its key Secret", "operator", "encryption"),
    ("host: -> program's first log line", "node", "host started"),
    ("host: first log -> announce flushed", "peer", "host announced"),
    ("host: announced -> pod Ready", "probe", "host ready"),
    ("host Ready (or its report) -> client Deployment", "operator", "deployment"),
    ("Deployment -> last client's pod", "control plane", "client created"),
    ("client pod -> scheduled", "control plane", "client scheduled"),
    ("client: -> program's first log line", "node", "client started"),
    ("client: first log -> replicated", "peer", "client replicated"),
    ("client: replicated -> pod Ready", "probe", "client ready"),
    ("last client Ready -> topic Ready", "operator", "topic ready"),
    ("topic Ready -> the bench's poll", "bench", "converged"),
)
# A milestone that is on the path only when it comes before another: the operator reads the host's
# signed report as soon as its announce has flushed (`reconciler/flushwait.py`), so the client
# Deployment usually comes before the host pod's Ready, which is then off the path (its segment 0,
# and the operator's next one runs from the announce).
OFF_PATH_AFTER = {"host ready": "deployment"}
CATEGORIES = ("control plane", "operator", "node", "peer", "probe", "bench")
COARSE = "~ "  # the prefix of figures from the API's one-second timestamps


def critical_path(milestones: dict[str, float]) -> dict[str, float]:
    """Each segment of CRITICAL_PATH (seconds), then each category's sum ("= control plane", ...)
    and the total. A milestone that came before the one preceding it (a Secret made before the pod
    was scheduled) gives 0 and the path goes on from the later one, so the segments sum to the
    total; a missing one gives NaN and the next segment takes its time; one off the path
    (`OFF_PATH_AFTER`) gives 0."""
    nan = float("nan")
    at = milestones.get("applied", nan)
    out: dict[str, float] = {}
    for label, _, milestone in CRITICAL_PATH:
        t = milestones.get(milestone, nan)
        if t > milestones.get(OFF_PATH_AFTER.get(milestone, ""), math.inf):
            out[label] = 0.0  # not on the way (see OFF_PATH_AFTER)
            continue
        out[label] = nan if math.isnan(t) else max(0.0, t - at)
        at = at if math.isnan(t) else max(at, t)
    for category in CATEGORIES:
        out[f"= {category}"] = sum(out[label] for label, who, _ in CRITICAL_PATH
                                   if who == category and not math.isnan(out[label]))
    out["= total"] = at - milestones.get("applied", nan)
    return out


def node_split(milestones: dict[str, float]) -> dict[str, float]:
    """The node's segments split at the container's `state.running.startedAt` (a one-second
    timestamp: coarse): the kubelet up to the container's start, then the program's own boot."""
    nan = float("nan")
    out = {}
    for who in ("host", "client"):
        since = milestones.get(f"{who} scheduled", nan)
        if who == "host":  # the host's container cannot start before its key Secret is there
            since = max(since, milestones.get("encryption", since))
        running, first_log = milestones.get(f"{who} container", nan), milestones.get(f"{who} started", nan)
        out[f"{COARSE}{who}: scheduled -> container startedAt"] = running - since
        out[f"{COARSE}{who}: startedAt -> first log line"] = first_log - running
    return out


def log_marks(text: str, wanted: tuple[str, ...]) -> dict[str, float]:
    """From a peer's JSON-lines log: "started" (its first line) and the first line of each `wanted`
    message, as epoch seconds (the lines' own millisecond timestamps)."""
    marks: dict[str, float] = {}
    for line in text.splitlines():
        try:
            entry = json.loads(line)
            at = epoch(entry["time"])
        except (ValueError, KeyError, TypeError):
            continue
        marks.setdefault("started", at)
        if entry.get("msg") in wanted:
            marks.setdefault(entry["msg"], at)
    return marks


def epoch(stamp: str) -> float:
    """An RFC 3339 timestamp (the API's, a peer's log line's) as epoch seconds."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _key_readable(seen: dict[str, float]) -> float:
    """When the operator could first read the key: the host pod's Ready, or its announce when the
    client Deployment came before that Ready (the report read as soon as it existed)."""
    ready, deployment = seen.get("host ready", math.nan), seen.get("deployment", math.nan)
    return seen.get("host announced", math.nan) if ready > deployment else ready


@dataclass
class Timeline:
    """First arrival (time.monotonic()) of each milestone of one topic."""

    clients: int
    seen: dict[str, float] = field(default_factory=dict)
    client_ready: dict[str, float] = field(default_factory=dict)
    # Each client pod's own milestones ("created", "scheduled", then the peer's from its log).
    pods: dict[str, dict[str, float]] = field(default_factory=dict)
    # time.time() - time.monotonic(): maps the peers' wall-clock log lines onto this clock.
    wall_offset: float = field(default_factory=lambda: time.time() - time.monotonic())

    def mark(self, what: str, at: float) -> None:
        self.seen.setdefault(what, at)

    def from_wall(self, at: float) -> float:
        return at - self.wall_offset

    def last_client(self) -> str | None:
        """The client pod that turned Ready last (the end of the critical path)."""
        if len(self.client_ready) < self.clients:
            return None
        return max(self.client_ready, key=lambda name: self.client_ready[name])

    def milestones(self) -> dict[str, float]:
        """`seen`, with the last client's own as "client ..."."""
        out = dict(self.seen)
        last = self.last_client()
        if last is not None:
            out.update({f"client {k}": v for k, v in self.pods.get(last, {}).items()})
            out["client ready"] = self.client_ready[last]
        return out

    def breakdown(self) -> dict[str, float]:
        """Where each second of apply -> all clients Ready went (see the module's doc)."""
        milestones = self.milestones()
        return {**critical_path(milestones), **node_split(milestones)}

    def ahead_of_ready(self) -> float:
        """How long before the host pod's Ready its client Deployment was made (the key read from the
        host's report as soon as its announce flushed); negative: after it; NaN: not both seen."""
        return self.seen.get("host ready", math.nan) - self.seen.get("deployment", math.nan)

    def share(self) -> dict[str, float]:
        """The operator's steps (seconds) and their sum; NaN when a milestone was not seen."""
        s, nan = self.seen, float("nan")
        last_client = max(self.client_ready.values()) if len(self.client_ready) >= self.clients else nan
        created = s.get("created", nan)
        steps = {
            "apply->host StatefulSet": s.get("statefulset", nan) - created,
            "host scheduled->its key Secret": max(0.0, s.get("encryption", nan) - s.get("host scheduled", nan)),
            # From the host pod's Ready, or from its announce when the key was read from its report first.
            "host Ready (or its report)->client Deployment": s.get("deployment", nan) - _key_readable(s),
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
                t.mark("host created", at)
                if (obj.get("spec") or {}).get("nodeName"):
                    t.mark("host scheduled", at)
                if _ready(obj):
                    t.mark("host ready", at)
            elif kind == "Pod":
                pod = t.pods.setdefault(name, {})
                pod.setdefault("created", at)
                if (obj.get("spec") or {}).get("nodeName"):
                    pod.setdefault("scheduled", at)
                if _ready(obj):
                    t.client_ready.setdefault(name, at)
