"""The operator under API faults, on the real control plane.

The real operator process talks to the API server only through the fault proxy
(tests/integration/faultproxy.py: 500s, 429s, 409s on writes, lost responses, connection resets,
410 Gone on watches, cut watches; seeded by FAULT_SEED) and is SIGKILLed and restarted every 1-3 s,
while six topics bootstrap and half of their hosts flip their reported base key once it is
recorded. The test's own admin client (not proxied) checks, every 50-100 ms, what must hold at every
moment: no client Deployment wants replicas before its topic's status.baseKey and its ConfigMap's
baseKey exist, and neither key ever changes once set. Then the faults stop, the operator is left
running, and every topic must converge on its host's original key, the flipped ones with
Degraded=True/BaseKeyConflict.

Run alone with the figures printed: `pytest tests/integration/test_api_faults.py -s`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from fakehost import FakeHost, host_pod_status
from faultproxy import FaultProxy, FaultRates
from integration_support import Api, Operator, example_topic, wait_for
from localcluster.controlplane import ControlPlane
from localcluster.testing import operator_kubeconfig
from nacl.signing import SigningKey

NS = "apps"
SEED = int(os.environ.get("FAULT_SEED", "10"))
CHAOS_SECONDS = 40.0  # at least; longer until MIN_KILLS (a loaded machine starts the operator slowly)
MIN_KILLS, MAX_CHAOS_SECONDS = 10, 180.0
KILL_EVERY = (1.0, 3.0)  # seconds between an operator's first request and its SIGKILL
TOPICS = [f"f{i}" for i in range(6)]
KEYS = {name: f"{i + 1:x}{i + 1:x}" * 32 for i, name in enumerate(TOPICS)}  # each host's own base key
FLIPPED_KEY = "e7" * 32
CLIENTS = 2
RATES = FaultRates(internal_error=0.03, throttled=0.02, conflict=0.04, lost_response=0.04, reset=0.02,
                   gone=0.1, watch_cut=0.3, watch_seconds=(0.2, 2.0), retry_after=1)
TOPIC_LABEL = "swarm-operator.dev/topic"
KOPF_FATAL = re.compile(r"kopf\._core\.reactor\.running: .* has failed")  # kopf's reactor gave up
T = TypeVar("T")
# What the real API server may answer the test's own (unproxied) reads for a moment, e.g. 429
# "storage is (re)initializing" while a just-installed CRD's watch cache starts: read again.
TRANSIENT = re.compile(r": (429|5\d\d) b['\"]")


def transient(exc: Exception) -> bool:
    return isinstance(exc, OSError) or (isinstance(exc, AssertionError) and bool(TRANSIENT.search(str(exc))))


class FleetWatcher:
    """integration_support.Watcher for every topic of the namespace at once (three list calls a
    sample): flags any moment where a client Deployment wants replicas while its topic has no
    status.baseKey or its ConfigMap no baseKey, and any change of either key once set."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.violations: list[str] = []
        self.errors: list[str] = []
        self.retried: list[str] = []  # samples the API server answered 429/5xx: taken again
        self.samples = 0
        self.recorded: dict[str, str] = {}  # topic -> status.baseKey, as first seen
        self._configmap_keys: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet-watcher", daemon=True)

    def __enter__(self) -> FleetWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample()
            except Exception as exc:  # the test's own reads: recorded, never fatal to the watch
                (self.retried if transient(exc) else self.errors).append(repr(exc)[:200])
            self._stop.wait(0.03)

    def sample(self) -> None:
        # Deployments first: keys written before a Deployment wanted replicas are in the later reads too.
        deployments = self.api.items(f"/apis/apps/v1/namespaces/{NS}/deployments")
        topics = {t["metadata"]["name"]: t for t in self.api.items(self.api.topic_path(NS))}
        configmaps = {c["metadata"]["name"]: c for c in self.api.items(f"/api/v1/namespaces/{NS}/configmaps")}
        for dep in deployments:
            name = (dep["metadata"].get("labels") or {}).get(TOPIC_LABEL, "")
            if dep["spec"].get("replicas", 1) <= 0:
                continue
            if not ((topics.get(name) or {}).get("status") or {}).get("baseKey"):
                self.violations.append(f"{dep['metadata']['name']} wants replicas before status.baseKey")
            if not ((configmaps.get(f"{name}-swarm") or {}).get("data") or {}).get("baseKey"):
                self.violations.append(f"{dep['metadata']['name']} wants replicas before the ConfigMap key")
        for name, topic in topics.items():
            key = (topic.get("status") or {}).get("baseKey")
            self._check_once_set(self.recorded, name, key, "status.baseKey")
            cm_key = ((configmaps.get(f"{name}-swarm") or {}).get("data") or {}).get("baseKey")
            self._check_once_set(self._configmap_keys, name, cm_key, "the ConfigMap's baseKey")
            if key and cm_key and key != cm_key:
                self.violations.append(f"{name}: the ConfigMap says {cm_key[:12]}, the status {key[:12]}")
        self.samples += 1

    def _check_once_set(self, seen: dict[str, str], name: str, key: str | None, what: str) -> None:
        if name in seen and key != seen[name]:
            self.violations.append(f"{name}: {what} changed from {seen[name][:12]} to {(key or 'nothing')[:12]}")
        elif key and name not in seen:
            seen[name] = key


class Chaos:
    """SIGKILLs the operator 1-3 s (from the seed) after each start's first request to the API
    server, and starts it again, until stopped (counted from its first request, not its start: on
    a loaded machine a Python process may take longer than that to import kopf); an operator that
    exits by itself meanwhile is started again at once (its exit codes noted)."""

    def __init__(self, operator: Operator, rng: random.Random, requests: Callable[[], int]) -> None:
        self.operator = operator
        self.rng = rng
        self.requests = requests  # requests the API server has had from the operator so far
        self.kills = 0
        self.exits: list[int] = []  # exit codes of the operator's own exits
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos", daemon=True)

    def __enter__(self) -> Chaos:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
        self.revive()  # left running

    def revive(self) -> None:
        """Start the operator again if it exited by itself."""
        proc = self.operator.proc
        if proc is not None and proc.poll() is not None:
            self.exits.append(proc.returncode)
            self.operator.start()

    def _run(self) -> None:
        seen, next_kill = self.requests(), None
        while not self._stop.wait(0.1):
            self.revive()
            if next_kill is None and self.requests() > seen:
                next_kill = time.monotonic() + self.rng.uniform(*KILL_EVERY)
            if next_kill is not None and time.monotonic() >= next_kill:
                self.operator.kill()
                self.operator.start()
                self.kills += 1
                seen, next_kill = self.requests(), None


class Node:
    """The test's kubelet for the six host pods. A pod runs on the identity seed its Secret holds
    when the pod starts (a real host reads the mounted seed once; the operator replaces a Secret
    whose key it never recorded, and the StatefulSet rolls the pod onto the new one): a FakeHost
    per topic, signing with the seed of its current pod, and that pod reported Running and Ready on
    the host's address. Once a topic's key is recorded, the hosts chosen to flip report another."""

    def __init__(self, api: Api, stack: contextlib.ExitStack, to_flip: set[str]) -> None:
        self.api = api
        self.stack = stack
        self.to_flip = to_flip
        self.hosts: dict[str, FakeHost] = {}
        self.seeds: dict[str, list[str]] = {}  # topic -> the seeds its pods started on, in order
        self.pods: set[str] = set()  # uids of the pods started
        self.flipped: set[str] = set()

    def tick(self, recorded: dict[str, str]) -> None:
        secrets = {s["metadata"]["name"].removesuffix("-identity"): base64.b64decode(s["data"]["seed"]).decode()
                   for s in self.api.items(f"/api/v1/namespaces/{NS}/secrets")
                   if s["metadata"]["name"].endswith("-identity") and (s.get("data") or {}).get("seed")}
        for pod in self.api.items(f"/api/v1/namespaces/{NS}/pods"):
            meta = pod["metadata"]
            name = (meta.get("labels") or {}).get(TOPIC_LABEL, "")
            if name not in TOPICS or meta.get("deletionTimestamp"):
                continue
            if meta["uid"] not in self.pods:
                if name not in secrets:
                    continue  # no Secret to mount: the pod does not start
                self._start(name, secrets[name])
                self.pods.add(meta["uid"])
            host = self.hosts[name]
            if not _reported(pod, host.ip):
                with contextlib.suppress(AssertionError):  # the pod went meanwhile: next tick
                    self.api.merge(f"/api/v1/namespaces/{NS}/pods/{meta['name']}/status",
                                   {"status": host_pod_status(host.ip, True)})
        for name in self.to_flip - self.flipped:
            if name in recorded and name in self.hosts:
                self.hosts[name].base_key = FLIPPED_KEY  # e.g. its volume swapped for another base
                self.flipped.add(name)

    def _start(self, name: str, seed: str) -> None:
        if name not in self.hosts:
            self.hosts[name] = self.stack.enter_context(FakeHost(seed, name, KEYS[name]))
        self.hosts[name].key = SigningKey(bytes.fromhex(seed))
        if seed not in self.seeds.setdefault(name, []):
            self.seeds[name].append(seed)

    def public_key(self, name: str) -> str | None:
        host = self.hosts.get(name)
        return host.key.verify_key.encode().hex() if host else None

    def rotations(self) -> int:
        return sum(len(seeds) - 1 for seeds in self.seeds.values())


def _reported(pod: dict[str, Any], ip: str) -> bool:
    status = pod.get("status") or {}
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
    return status.get("podIP") == ip and ready


def _condition(topic: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next((c for c in (topic.get("status") or {}).get("conditions", []) if c["type"] == ctype), {})


def converged(api: Api, node: Node) -> list[str]:
    """What is not yet as it must end; empty when every topic is there."""
    waiting = []
    configmaps = {c["metadata"]["name"]: c for c in api.items(f"/api/v1/namespaces/{NS}/configmaps")}
    replicas = {(d["metadata"].get("labels") or {}).get(TOPIC_LABEL): d["spec"].get("replicas")
                for d in api.items(f"/apis/apps/v1/namespaces/{NS}/deployments")}
    for name in TOPICS:
        topic = api.topic(NS, name)
        status = topic.get("status") or {}
        degraded = _condition(topic, "Degraded")
        if status.get("baseKey") != KEYS[name]:
            waiting.append(f"{name}: baseKey {status.get('baseKey')!r}, {status.get('phase')}/{status.get('reason')}")
        elif status.get("hostPublicKey") != node.public_key(name):
            waiting.append(f"{name}: hostPublicKey {status.get('hostPublicKey')}, the host's {node.public_key(name)}")
        elif (cm_key := ((configmaps.get(f"{name}-swarm") or {}).get("data") or {}).get("baseKey")) != KEYS[name] \
                and not (name in node.to_flip and cm_key is None):
            # A flipped topic whose host contradicted the record before the ConfigMap got the key keeps
            # a ConfigMap without one (a key the host contradicts is given to no child: issue 23); it
            # never carries another key.
            waiting.append(f"{name}: the ConfigMap's key {cm_key!r}")
        elif name in node.to_flip and (name not in node.flipped or (degraded.get("status"), degraded.get(
                "reason")) != ("True", "BaseKeyConflict")):
            waiting.append(f"{name}: flipped {name in node.flipped}, Degraded {degraded}")
        elif name not in node.to_flip and (degraded.get("status") != "False"
                                           or status.get("phase") not in ("RollingOut", "Ready")
                                           or replicas.get(name) != CLIENTS):
            waiting.append(f"{name}: phase {status.get('phase')}/{status.get('reason')}, replicas {replicas.get(name)}")
    return waiting


def retried(watcher: FleetWatcher, action: Callable[[], T]) -> T | None:
    """`action` (the test's own API calls); None when the API server answered 429/5xx for now."""
    try:
        return action()
    except (AssertionError, OSError) as exc:
        if not transient(exc):
            raise
        watcher.retried.append(repr(exc)[:200])
        return None


def proxied_kubeconfig(plane: ControlPlane, proxy: FaultProxy, target: Path) -> str:
    """The operator's kubeconfig (the chart's ServiceAccount token) with the proxy as its server."""
    doc = yaml.safe_load(operator_kubeconfig(plane).read_text())
    doc["clusters"][0]["cluster"]["server"] = proxy.url
    target.write_text(yaml.safe_dump(doc))
    return str(target)


def log_summary(log: str) -> dict[str, int]:
    """The operator log's errors, by message shape (time stamps, numbers and keys blurred)."""
    shapes: Counter[str] = Counter()
    for line in log.splitlines():
        if re.search(r"\b(ERROR|CRITICAL)\b", line):
            message = re.sub(r"^\S+ \S+ ", "", line)
            shapes[re.sub(r"\b[0-9a-f]{8,}\b|\b\d+(\.\d+)?\b", "#", message)[:200]] += 1
    return dict(shapes.most_common(15))


def test_the_invariant_holds_under_api_faults_and_kills(api_server: ControlPlane, api: Api, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    to_flip = set(rng.sample(TOPICS, len(TOPICS) // 2))
    serving = api_server.pki.serving("fault-proxy", ["127.0.0.1"])
    with contextlib.ExitStack() as stack:
        proxy = stack.enter_context(FaultProxy(api_server.server, RATES, SEED, upstream_ca=api_server.pki.ca_crt,
                                               serving=serving))
        node = Node(api, stack.enter_context(contextlib.ExitStack()), to_flip)
        watcher = stack.enter_context(FleetWatcher(api))
        operator = Operator(proxied_kubeconfig(api_server, proxy, tmp_path / "proxied.kubeconfig"),
                            tmp_path / "operator.log")
        operator.start()
        stack.callback(operator.stop)  # first: no host or watcher goes while it runs
        for name in TOPICS:
            api.create(api.topic_path(NS), example_topic(name, clients=CLIENTS))

        # On leaving, the operator is left running.
        with Chaos(operator, rng, lambda: sum(proxy.requests().values())) as chaos:
            started = time.monotonic()
            while time.monotonic() - started < CHAOS_SECONDS or (
                    chaos.kills < MIN_KILLS and time.monotonic() - started < MAX_CHAOS_SECONDS):
                retried(watcher, lambda: node.tick(watcher.recorded))
                time.sleep(0.2)
            chaos_seconds = round(time.monotonic() - started, 1)
            under_faults = dict(watcher.recorded)
            flipped_under_faults = set(node.flipped)
        proxy.enabled = False

        def settled() -> bool:
            retried(watcher, lambda: node.tick(watcher.recorded))
            return retried(watcher, lambda: converged(api, node)) == []

        settle_start = time.monotonic()
        try:
            wait_for("every topic on its host's original key, the flipped ones BaseKeyConflict", settled, 90)
        finally:
            figures = {
                "seed": SEED, "faultSeconds": chaos_seconds, "topics": len(TOPICS), "flipped": sorted(node.flipped),
                "keysRecordedUnderFaults": len(under_faults), "flippedUnderFaults": len(flipped_under_faults),
                "kills": chaos.kills, "operatorExits": chaos.exits, "samples": watcher.samples,
                "violations": len(watcher.violations), "injected": proxy.injected(), "requests": proxy.requests(),
                "secondsToConvergeAfterFaults": round(time.monotonic() - settle_start, 1),
                "identityRotations": node.rotations(), "kopfFatal": len(KOPF_FATAL.findall(operator.log())),
                "testReadsRetried": watcher.retried[:3], "testReadErrors": watcher.errors[:3],
                "waiting": retried(watcher, lambda: converged(api, node)),
            }
            print("API faults:", json.dumps(figures))
            print("operator log, errors by shape:", json.dumps(log_summary(operator.log()), indent=1))
    assert watcher.violations == [], watcher.violations[:20]
    assert watcher.errors == [], watcher.errors[:5]
    assert watcher.samples > 100, "the watcher stopped sampling"
    assert node.flipped == to_flip
    injected = proxy.injected()  # how many of each kind depends on how long watches live: all are printed
    assert injected["409"] + injected["lost-response"] > 0 and injected["500"] + injected["429"] + injected["reset"] > 0
    assert injected["410-status"] + injected["410-event"] + injected["watch-cut"] > 0
    assert chaos.kills >= MIN_KILLS
