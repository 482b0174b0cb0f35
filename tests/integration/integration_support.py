"""The real operator process against a real API server, with the test playing the node.

The API server is the local cluster's (kube-apiserver, controller-manager and scheduler 1.35 built
from source; e2e/localcluster), shared by the session; each test gets the namespace `apps` afresh.
The operator runs as the chart's ServiceAccount under the chart's RBAC. No kubelet runs here: the
test itself marks the host pod Ready (its pod IP a loopback address of its own) and serves the
host's `/status` there from a real aiohttp server signed with a real PyNaCl key, so every step of
the ordering can be held still and checked.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from localcluster.controlplane import ControlPlane
from localcluster.testing import OPERATOR_NAMESPACE, RELEASE, operator_kubeconfig, shared_control_plane
from swarm_operator import names

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 20.0, interval: float = 0.1) -> T:
    """Poll `probe` every `interval` seconds until it returns a truthy value; fail naming `what` and
    the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {value!r}")
        time.sleep(interval)


class Api:
    """Plain JSON over HTTPS as the cluster's admin: the test's own hands on the cluster."""

    def __init__(self, plane: ControlPlane) -> None:
        self.url = plane.server
        self.ssl = plane._ssl()

    def call(self, method: str, path: str, body: Any = None,
             content_type: str = "application/json") -> dict[str, Any] | None:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": content_type, "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10, context=self.ssl) as rsp:
                return json.loads(rsp.read() or b"null")
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and method == "GET":
                return None
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read()[:800]!r}") from exc

    def get(self, path: str) -> dict[str, Any] | None:
        return self.call("GET", path)

    def items(self, path: str) -> list[dict[str, Any]]:
        return (self.get(path) or {}).get("items") or []

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        return self.call("POST", path, body)

    def merge(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        return self.call("PATCH", path, body, "application/merge-patch+json")

    def delete(self, path: str) -> None:
        self.call("DELETE", path)

    # SwarmTopic shortcuts
    def topic_path(self, ns: str, name: str = "") -> str:
        return f"/apis/{names.API_VERSION}/namespaces/{ns}/swarmtopics" + (f"/{name}" if name else "")

    def topic(self, ns: str, name: str) -> dict[str, Any]:
        obj = self.get(self.topic_path(ns, name))
        assert obj is not None, f"SwarmTopic {ns}/{name} is gone"
        return obj


class Operator:
    """`python -m swarm_operator run` as a child process, restartable, with its log kept."""

    def __init__(self, kubeconfig: str, log_path: Path, *extra: str, identity: str = "integration") -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.extra = list(extra) or ["--metrics-port", "0", "--liveness-port", "0"]
        # Leader election as in the chart (the Lease in the release's namespace). A restarted
        # process keeps its identity, as a restarted container keeps its pod's name, and so takes
        # its Lease back at once.
        self.identity = identity
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(os.environ, KUBECONFIG=self.kubeconfig)
        interval = [] if "--reconcile-interval" in self.extra else ["--reconcile-interval", "0.3"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "swarm_operator", "run", "--all-namespaces", *interval,
             "--leader-election-namespace", OPERATOR_NAMESPACE, "--leader-identity", self.identity, *self.extra],
            stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


NAMESPACE = "apps"


@pytest.fixture
def api_server() -> ControlPlane:
    return shared_control_plane()


# What a test may leave in its namespace, emptied between tests (as the namespace controller would,
# without the seconds a namespace's termination takes): kube-root-ca.crt and the default
# ServiceAccount stay.
_CLEARED = (f"/apis/{names.API_VERSION}/namespaces/{{ns}}/swarmtopics",
            "/apis/apps/v1/namespaces/{ns}/deployments", "/apis/apps/v1/namespaces/{ns}/replicasets",
            "/apis/apps/v1/namespaces/{ns}/statefulsets", "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
            "/api/v1/namespaces/{ns}/pods", "/api/v1/namespaces/{ns}/services",
            "/api/v1/namespaces/{ns}/configmaps?fieldSelector=metadata.name!%3Dkube-root-ca.crt",
            "/api/v1/namespaces/{ns}/secrets", "/api/v1/namespaces/{ns}/persistentvolumeclaims",
            "/api/v1/namespaces/{ns}/events")


def _clear(api: Api, ns: str) -> None:
    for path in _CLEARED:
        api.call("DELETE", path.format(ns=ns), {"propagationPolicy": "Background", "gracePeriodSeconds": 0})


def _cleared(api: Api, ns: str) -> bool:
    return not any(api.items(path.format(ns=ns)) for path in _CLEARED if "/events" not in path)


@pytest.fixture
def api(api_server: ControlPlane) -> Iterator[Api]:
    """The admin's client, and the namespace `apps` empty: made once, emptied after each test."""
    client = Api(api_server)
    if client.get(f"/api/v1/namespaces/{NAMESPACE}") is None:
        client.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                             "metadata": {"name": NAMESPACE}})
    yield client
    _clear(client, NAMESPACE)
    wait_for("the test's objects gone", lambda: _cleared(client, NAMESPACE), 60)


@pytest.fixture
def operator_kubeconfig_path(api_server: ControlPlane) -> Path:
    return operator_kubeconfig(api_server)


@pytest.fixture
def operator(operator_kubeconfig_path: Path, api: Api, tmp_path: Path) -> Iterator[Operator]:
    op = Operator(str(operator_kubeconfig_path), tmp_path / "operator.log")
    op.start()
    try:
        yield op
    finally:
        op.stop()
        print(op.log()[-4000:])


POLICY_BINDING = f"/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/{RELEASE}-pod-templates"


def accepted(api: Api, topic: dict[str, Any]) -> bool:
    """Whether the API server would store the topic (a dry run)."""
    try:
        api.call("POST", api.topic_path(topic["metadata"]["namespace"]) + "?dryRun=All", topic)
    except AssertionError:
        return False
    return True


@pytest.fixture
def without_policy(api: Api) -> Iterator[None]:
    """The chart's admission policy out of the way (its binding deleted, as on a cluster without
    it): what the operator itself refuses. Restored afterwards."""
    binding = api.get(POLICY_BINDING)
    assert binding is not None, "the chart's release installs the policy"
    api.delete(POLICY_BINDING)
    probe = example_topic("probe")
    probe["spec"]["clients"][0]["template"]["spec"]["hostNetwork"] = True
    wait_for("the policy gone", lambda: accepted(api, probe), 20)
    try:
        yield
    finally:
        kept = {k: v for k, v in binding["metadata"].items() if k in ("name", "labels", "annotations")}
        api.create(POLICY_BINDING.rsplit("/", 1)[0], {**binding, "metadata": kept})
        wait_for("the policy back", lambda: not accepted(api, probe), 20)


def example_topic(name: str = "chat", clients: int = 3, **spec: Any) -> dict[str, Any]:
    obj = yaml.safe_load((REPO / "examples" / "topic.yaml").read_text())
    obj["metadata"] = {"name": name, "namespace": "apps"}
    obj["spec"]["topic"] = name
    obj["spec"]["clients"][0]["replicas"] = clients
    obj["spec"]["bootstrapHost"]["announceTimeoutSeconds"] = 30
    obj["spec"]["bootstrapHost"]["replicas"] = 1  # one fake host; the cases of several hosts ask for them
    obj["spec"].update(spec)
    return obj


class Watcher:
    """Polls the topic and its Deployments in a thread and flags any moment where a client
    Deployment wants replicas while no base key is recorded (the invariant, checked throughout)."""

    def __init__(self, api: Api, ns: str, name: str) -> None:
        self.api, self.ns, self.name = api, ns, name
        self.violations: list[str] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            # Deployments first: if one is seen with replicas > 0, the key must already be there.
            deployments = self.api.items(
                f"/apis/apps/v1/namespaces/{self.ns}/deployments?labelSelector=swarm-operator.dev/topic%3D{self.name}")
            topic = self.api.get(self.api.topic_path(self.ns, self.name)) or {}
            recorded = (topic.get("status") or {}).get("baseKey")
            configmap = self.api.get(f"/api/v1/namespaces/{self.ns}/configmaps/{self.name}-swarm") or {}
            for dep in deployments:
                if dep["spec"].get("replicas", 1) > 0 and not recorded:
                    self.violations.append(f"{dep['metadata']['name']} wants replicas before status.baseKey")
                if dep["spec"].get("replicas", 1) > 0 and not (configmap.get("data") or {}).get("baseKey"):
                    self.violations.append(f"{dep['metadata']['name']} wants replicas before the ConfigMap key")
            self.samples += 1
            time.sleep(0.05)
