"""Records what the API server streams while a case runs, to check the ordering invariant.

Two `kubectl get -w` streams (pods and SwarmTopics of one namespace) are read in threads; each
event is kept with the time it arrived and its resourceVersion. A client pod that appears before
the topic's `status.baseKey` is a violation. Arrival order can only make a correct run look wrong
(an event is never delivered before it happened), never hide a violation; where both
resourceVersions are integers (etcd revisions, the simulated API server's counter) they are
compared too.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from e2e_support import GROUP_PLURAL, Cluster, kubectl_binary


@dataclass
class Event:
    arrived: float
    type: str
    obj: dict[str, Any]

    @property
    def resource_version(self) -> int | None:
        rv = self.obj.get("metadata", {}).get("resourceVersion", "")
        return int(rv) if str(rv).isdigit() else None


@dataclass
class History:
    events: list[Event] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, event: Event) -> None:
        with self.lock:
            self.events.append(event)

    def snapshot(self) -> list[Event]:
        with self.lock:
            return sorted(self.events, key=lambda e: e.arrived)

    def first_base_key(self, topic: str) -> Event | None:
        for event in self.snapshot():
            obj = event.obj
            if (obj.get("kind") == "SwarmTopic" and obj["metadata"]["name"] == topic
                    and obj.get("status", {}).get("baseKey")):
                return event
        return None

    def client_pod_events(self, topic: str) -> list[Event]:
        return [e for e in self.snapshot()
                if e.obj.get("kind") == "Pod" and e.type == "ADDED"
                and e.obj["metadata"].get("labels", {}).get("swarm-operator.dev/topic") == topic
                and e.obj["metadata"]["labels"].get("app.kubernetes.io/component") == "client"]

    def base_keys_seen(self, topic: str) -> set[str]:
        return {e.obj["status"]["baseKey"] for e in self.snapshot()
                if e.obj.get("kind") == "SwarmTopic" and e.obj["metadata"]["name"] == topic
                and e.obj.get("status", {}).get("baseKey")}


def assert_ordering(history: History, topic: str) -> None:
    """No client pod of `topic` was created before its base key was recorded."""
    recorded = history.first_base_key(topic)
    pods = history.client_pod_events(topic)
    assert pods, f"no client pod of {topic} was ever seen: the history recorded nothing"
    assert recorded is not None, f"client pods of {topic} exist but no base key was ever recorded"
    for pod in pods:
        name = pod.obj["metadata"]["name"]
        assert pod.arrived >= recorded.arrived, (
            f"client pod {name} was streamed before status.baseKey of {topic} was recorded")
        if pod.resource_version is not None and recorded.resource_version is not None:
            assert pod.resource_version > recorded.resource_version, (
                f"client pod {name} (rv {pod.resource_version}) precedes the base key "
                f"(rv {recorded.resource_version})")
    assert len(history.base_keys_seen(topic)) == 1, "status.baseKey changed during the case"


class Recorder:
    """`with Recorder(cluster, namespace) as history:` streams pods and topics into `history`."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.history = History()
        self._procs: list[subprocess.Popen[str]] = []
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> History:
        for resource in ("pods", GROUP_PLURAL):
            self._watch(resource)
        time.sleep(0.5)  # let both watches open before the case acts
        return self.history

    def __exit__(self, *exc: object) -> None:
        for proc in self._procs:
            proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        for thread in self._threads:
            thread.join(5)

    def _watch(self, resource: str) -> None:
        env = dict(os.environ)
        if self.cluster.kubeconfig:
            env["KUBECONFIG"] = self.cluster.kubeconfig
        proc = subprocess.Popen(
            [kubectl_binary(), "get", resource, "-n", self.namespace, "--watch",
             "--output-watch-events", "-o", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )
        self._procs.append(proc)
        thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def _read(self, proc: subprocess.Popen[str]) -> None:
        # kubectl prints one pretty-printed JSON object per event; decode them back to back.
        decoder = json.JSONDecoder()
        buffer = ""
        assert proc.stdout is not None
        for line in proc.stdout:
            buffer += line
            while buffer.strip():
                try:
                    obj, end = decoder.raw_decode(buffer.lstrip())
                except json.JSONDecodeError:
                    break
                buffer = buffer.lstrip()[end:]
                self.history.add(Event(time.monotonic(), obj.get("type", ""), obj.get("object", {})))
