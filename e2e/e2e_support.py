"""What the e2e suite needs from a cluster, behind one interface for `local` and `real`.

Tests talk to the cluster only through `kubectl` (and, for the peers' own reports, the pod's
status port), so the same cases run on the local cluster and on any other.
"""

from __future__ import annotations

import abc
import atexit
import copy
import json
import os
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

REPO = Path(__file__).resolve().parent.parent
TOOLS_BIN = REPO / ".tools" / "bin"
EXAMPLES = REPO / "examples"
GROUP_PLURAL = "swarmtopics.swarm-operator.dev"
DHT_NAMESPACE = "default"
APP_PORT = 8081  # the app API of the suite's own client pods (`open_app_api`)
HOSTS = "app.kubernetes.io/component=bootstrap-host"  # the host pods' label selector
# The Pod Security Standard the e2e and demo namespaces enforce: the API server itself refuses any
# pod (the operator's children included) that is not `restricted`-compliant.
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted",
              "pod-security.kubernetes.io/enforce-version": "latest"}


def restricted(pod_spec: dict[str, Any], uid: int = 10001) -> dict[str, Any]:
    """`pod_spec` made compliant with the restricted Pod Security Standard (for a test's own pods
    in the e2e namespaces, which enforce it): non-root `uid`, RuntimeDefault seccomp, no privilege
    escalation, every capability dropped."""
    pod_spec.setdefault("securityContext", {}).update(
        {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid,
         "seccompProfile": {"type": "RuntimeDefault"}})
    for container in pod_spec.get("containers", []):
        container.setdefault("securityContext", {}).update(
            {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}})
    return pod_spec

T = TypeVar("T")


class WaitTimeout(AssertionError):
    pass


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 120.0,
             interval: float = 0.5) -> T:
    """Poll `probe` until it returns a truthy value; fail naming `what` and the last answer.

    A kubectl error counts as "not yet": objects come and go while the cluster converges.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            value = probe()
            if value:
                return value
            last = value
        except subprocess.CalledProcessError as exc:
            last = exc.stderr
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


def kubectl_binary() -> str:
    local = TOOLS_BIN / "kubectl"
    return str(local) if local.exists() else "kubectl"


class Cluster(abc.ABC):
    """A cluster the suite drives with kubectl. Subclasses add how it starts and what it can do."""

    name = "cluster"
    kubeconfig: str | None = None
    operator_namespace = "swarm-operator"

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        env = dict(os.environ)
        if self.kubeconfig:
            env["KUBECONFIG"] = self.kubeconfig
        proc = subprocess.run(
            [kubectl_binary(), *args], input=input, capture_output=True, text=True, env=env,
            timeout=60,
        )
        if check and proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, proc.args, proc.stdout, proc.stderr)
        return proc.stdout

    def apply(self, obj: dict[str, Any] | str) -> None:
        text = obj if isinstance(obj, str) else yaml.safe_dump(obj)
        self.kubectl("apply", "-f", "-", input=text)

    def get_json(self, kind: str, name: str | None = None, namespace: str | None = None,
                 selector: str | None = None) -> dict[str, Any] | None:
        args = ["get", kind]
        if name:
            args.append(name)
        if namespace:
            args += ["-n", namespace]
        if selector:
            args += ["-l", selector]
        args += ["-o", "json"]
        try:
            return json.loads(self.kubectl(*args))
        except subprocess.CalledProcessError as exc:
            if "NotFound" in (exc.stderr or "") or "not found" in (exc.stderr or ""):
                return None
            raise

    def topic(self, name: str, namespace: str) -> dict[str, Any] | None:
        return self.get_json(GROUP_PLURAL, name, namespace)

    def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        listing = self.get_json("pods", namespace=namespace, selector=selector)
        return listing["items"] if listing else []

    def create_namespace(self, namespace: str, labels: dict[str, str] | None = None) -> None:
        meta: dict[str, Any] = {"name": namespace}
        if labels:
            meta["labels"] = labels
        self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": meta})

    def delete(self, kind: str, name: str, namespace: str, wait: bool = False) -> None:
        self.kubectl("delete", kind, name, "-n", namespace, "--ignore-not-found",
                     f"--wait={'true' if wait else 'false'}")

    def operator_pods(self) -> list[dict[str, Any]]:
        return self.pods(self.operator_namespace, "app.kubernetes.io/name=swarm-operator")

    def operator_leader(self) -> str | None:
        """The operator pod holding the leader Lease."""
        lease = self.get_json("lease", "swarm-operator", self.operator_namespace)
        return ((lease or {}).get("spec") or {}).get("holderIdentity") or None

    def kill_operator_pod(self, name: str) -> None:
        """Kill one operator pod at once (no grace: as when its node dies)."""
        self.kubectl("delete", "pod", name, "-n", self.operator_namespace, "--grace-period=0", "--force")

    @abc.abstractmethod
    def peer_status(self, pod: dict[str, Any]) -> dict[str, Any]:
        """The pod's own `GET /status` (the peer's report, not the operator's view)."""

    @abc.abstractmethod
    def restart_operator(self) -> None:
        """Restart the operator the way this cluster runs it."""

    def close(self) -> None:  # noqa: B027 - optional hook, a real cluster has nothing to stop
        """Stop what the suite started."""


def status_port(pod: dict[str, Any]) -> int:
    for container in pod["spec"]["containers"]:
        for port in container.get("ports", []):
            if port.get("name") == "status":
                return int(port["containerPort"])
    raise AssertionError(f"pod {pod['metadata']['name']} has no port named status")


class LocalCluster(Cluster):
    """The local cluster: the real control plane (shared by the pytest session), the real node
    (containerd, kubelet, kube-proxy; CoreDNS and the local-path provisioner as pods; images pulled
    from the local registry), and the operator installed by the chart's helm release."""

    name = "local"

    def __init__(self, state_dir: Path, reconcile_interval: float = 1.0) -> None:
        self.state_dir = state_dir
        self.reconcile_interval = reconcile_interval
        self.nodes: Any = None

    def start(self) -> None:
        from localcluster.cluster import NodeCluster
        from localcluster.testing import shared_control_plane
        self.plane = shared_control_plane()
        self.kubeconfig = str(self.plane.kubeconfig)
        # E2E_LOCAL_NETWORK_POLICY=1: the node enforces NetworkPolicies (kube-router's controller), for
        # e2e/test_network_policy.py; off by default (every case would pay for the controller).
        policy = os.environ.get("E2E_LOCAL_NETWORK_POLICY", "").lower() in ("1", "true", "yes")
        self.nodes = NodeCluster(self.plane, self.state_dir, network_policy=policy)
        self.nodes.start()
        self.set_operator_replicas(2)  # the chart's default: a leader and a standby

    def node_info(self) -> dict[str, str]:
        """The node's kubelet and container runtime, with their versions, as the Node reports them."""
        return dict(self.nodes.node.describe())

    def set_operator_replicas(self, replicas: int) -> None:
        from localcluster.testing import OPERATOR_NAMESPACE, RELEASE, helm
        helm(self.plane, "upgrade", RELEASE, str(REPO / "charts" / "swarm-operator"), "-n",
             OPERATOR_NAMESPACE, "--reuse-values", "--set", f"replicaCount={replicas}",
             "--set-json", f"reconcileInterval={json.dumps(self.reconcile_interval)}", "--wait",
             "--timeout", "180s")

    def operator_metrics_urls(self) -> dict[str, str]:
        """Each Ready operator replica's /metrics, by pod name (a ServiceMonitor scrapes them all)."""
        def url(pod: dict[str, Any]) -> str:
            port = next(p["containerPort"] for c in pod["spec"]["containers"]
                        for p in c.get("ports", []) if p.get("name") == "metrics")
            return f"http://{pod['status']['podIP']}:{port}/metrics"
        pods = wait_for("the operator pods Ready", lambda: [p for p in self.operator_pods() if pod_ready(p)],
                        timeout=120)
        return {p["metadata"]["name"]: url(p) for p in pods}

    def operator_metrics_url(self) -> str:
        """The leader's /metrics (the per-topic series come from the leader only)."""
        leader = wait_for("the operator leader", lambda: self.operator_leader(), timeout=120)
        return wait_for("the leader Ready", lambda: self.operator_metrics_urls().get(leader), timeout=120)

    def restart_operator(self) -> None:
        """Kill the operator's pods at once (no grace: as when their node dies); the Deployment
        starts new ones."""
        from localcluster.testing import OPERATOR_NAMESPACE
        old = {p["metadata"]["uid"] for p in self.operator_pods()}
        self.kubectl("delete", "pod", "-n", OPERATOR_NAMESPACE, "-l",
                     "app.kubernetes.io/name=swarm-operator", "--grace-period=0", "--force")
        wait_for("a new operator pod Ready", lambda: [
            p for p in self.operator_pods() if p["metadata"]["uid"] not in old and pod_ready(p)],
            timeout=120)

    def peer_status(self, pod: dict[str, Any]) -> dict[str, Any]:
        ip = pod["status"]["podIP"]
        with urllib.request.urlopen(f"http://{ip}:{status_port(pod)}/status", timeout=5) as rsp:
            return json.loads(rsp.read())

    def close(self) -> None:
        try:
            if hasattr(self, "plane") and self.nodes is not None and self.nodes.node.kubelet_alive():
                self.set_operator_replicas(0)
        except RuntimeError:
            pass
        if self.nodes is not None:
            from localcluster.testing import remove_state

            self.nodes.stop()
            self.nodes = None
            remove_state(self.state_dir)


class RealCluster(Cluster):
    """The current KUBECONFIG, with the chart installed (see README: running e2e on kind)."""

    name = "real"

    def __init__(self) -> None:
        self.kubeconfig = os.environ.get("KUBECONFIG")
        self.operator_namespace = os.environ.get("E2E_OPERATOR_NAMESPACE", "swarm-operator")
        self.operator_deployment = os.environ.get("E2E_OPERATOR_DEPLOYMENT", "swarm-operator")

    def start(self) -> None:
        self.kubectl("get", "crd", GROUP_PLURAL)

    def restart_operator(self) -> None:
        self.kubectl("-n", self.operator_namespace, "rollout", "restart",
                     f"deployment/{self.operator_deployment}")

    def peer_status(self, pod: dict[str, Any]) -> dict[str, Any]:
        # Through the API server's pod proxy: the test machine need not reach pod IPs.
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        raw = self.kubectl("get", "--raw",
                           f"/api/v1/namespaces/{ns}/pods/{name}:{status_port(pod)}/proxy/status")
        return json.loads(raw)


_shared_local: LocalCluster | None = None


def shared_local_cluster() -> LocalCluster:
    """The session's local cluster (one node, one operator release), started on first use and
    closed when the process exits; every suite that needs pods running shares it."""
    global _shared_local
    if _shared_local is None:
        cluster = LocalCluster(Path(tempfile.mkdtemp(prefix="swarm-node-")))
        try:
            cluster.start()
        except BaseException:
            cluster.close()
            raise
        # After start(): atexit runs last-registered first, so the node is torn down (its pods
        # deleted through the API) before the session's control plane stops.
        atexit.register(cluster.close)
        _shared_local = cluster
    return _shared_local


def start_cluster() -> Cluster:
    kind = os.environ.get("E2E_CLUSTER", "local")
    if kind == "local":
        return shared_local_cluster()
    if kind != "real":
        raise ValueError(f"E2E_CLUSTER must be local or real, not {kind!r}")
    cluster = RealCluster()
    cluster.start()
    return cluster


def ensure_dht(cluster: Cluster) -> None:
    """The private DHT of examples/dht.yaml, Ready in the default namespace."""
    cluster.apply((EXAMPLES / "dht.yaml").read_text())
    wait_for("the private DHT node Ready", lambda: pod_ready(
        cluster.get_json("pods", "swarm-dht-0", DHT_NAMESPACE)), timeout=120)


def pod_ready(pod: dict[str, Any] | None) -> bool:
    if not pod or pod["metadata"].get("deletionTimestamp"):
        return False
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in pod.get("status", {}).get("conditions", []))


def example_topic() -> dict[str, Any]:
    return yaml.safe_load((EXAMPLES / "topic.yaml").read_text())


def topic_manifest(name: str, namespace: str, clients: int = 3, announce_timeout: int | None = None,
                   hosts: int | None = 1, **spec: Any) -> dict[str, Any]:
    """examples/topic.yaml renamed into `namespace`, with `clients` replicas in its first group and
    `hosts` bootstrap hosts: one unless a case is about several (e2e/test_several_hosts.py; the
    demo runs the product's default of three): two cores carry the suite's topics side by side.
    None leaves the replicas to the product's default."""
    obj = copy.deepcopy(example_topic())
    obj["metadata"] = {"name": name, "namespace": namespace}
    obj["spec"]["clients"][0]["replicas"] = clients
    if hosts is not None:
        obj["spec"].setdefault("bootstrapHost", {})["replicas"] = hosts
    if announce_timeout is not None:
        obj["spec"].setdefault("bootstrapHost", {})["announceTimeoutSeconds"] = announce_timeout
    obj["spec"].update(spec)
    image = os.environ.get("E2E_PEER_IMAGE")  # a real cluster runs the image you built
    if image:
        for group in obj["spec"]["clients"]:
            for container in group["template"]["spec"]["containers"]:
                container["image"] = image
    return obj


def condition(topic: dict[str, Any] | None, ctype: str) -> dict[str, Any] | None:
    for cond in (topic or {}).get("status", {}).get("conditions", []):
        if cond["type"] == ctype:
            return cond
    return None


def wait_ready(cluster: Cluster, name: str, namespace: str, timeout: float = 180) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        topic = cluster.topic(name, namespace)
        cond = condition(topic, "Ready")
        return topic if cond and cond["status"] == "True" else None
    return wait_for(f"SwarmTopic {namespace}/{name} Ready", ready, timeout=timeout)


def client_pods(cluster: Cluster, name: str, namespace: str) -> list[dict[str, Any]]:
    return [p for p in cluster.pods(namespace, f"swarm-operator.dev/topic={name},"
                                              "app.kubernetes.io/component=client")
            if not p["metadata"].get("deletionTimestamp")]


def client_reported_keys(cluster: Cluster, name: str, namespace: str) -> list[str]:
    """The base key each ready client pod reports itself."""
    keys = []
    for pod in client_pods(cluster, name, namespace):
        if pod_ready(pod):
            keys.append(cluster.peer_status(pod)["baseKey"])
    return keys


def assert_clients_report(cluster: Cluster, topic: str, namespace: str, base_key: str,
                          expected: int) -> None:
    """Every client pod reports the recorded key itself (its own /status, not the operator's).

    Readiness can flap for a moment (a client that just lost its host reconnects), so the count
    is awaited briefly; the keys themselves are asserted exactly.
    """
    try:
        keys = wait_for(f"{expected} ready clients of {topic}", lambda: (
            found if len(found := client_reported_keys(cluster, topic, namespace)) == expected else None),
            timeout=30)
    except WaitTimeout:
        keys = client_reported_keys(cluster, topic, namespace)
    assert len(keys) == expected, f"{len(keys)} ready clients report a key, expected {expected}"
    assert set(keys) == {base_key}, f"clients report {set(keys)}, recorded {base_key}"


def clients_ready(cluster: Cluster, name: str, ns: str, replicas: int) -> bool:
    topic = cluster.topic(name, ns) or {}
    groups = topic.get("status", {}).get("clients", [])
    ready = [p for p in client_pods(cluster, name, ns) if pod_ready(p)]
    return bool(groups) and groups[0].get("readyReplicas") == replicas and len(ready) == replicas


def host_reported_key(cluster: Cluster, name: str, ns: str) -> str:
    pod = cluster.get_json("pods", f"{name}-host-0", ns)
    assert pod is not None, "the host pod is gone"
    envelope = cluster.peer_status(pod)
    return json.loads(envelope["payload"])["baseKey"]


def pod_http(pod: dict[str, Any], port: int, path: str, body: Any = None,
             timeout: float = 5) -> tuple[int, Any]:
    """GET `path` on the pod's IP (POST `body` as JSON when given): (status code, JSON or None).

    For a peer's app API, which a test pod template opens on 0.0.0.0 (the local node's pod
    addresses are reachable from this machine; faster than a `kubectl exec` per request);
    4xx/5xx answers are returned, not raised.
    """
    url = f"http://{pod['status']['podIP']}:{port}{path}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as rsp:
            code, raw = rsp.status, rsp.read()
    except urllib.error.HTTPError as exc:
        code, raw = exc.code, exc.read()
    try:
        return code, json.loads(raw) if raw else None
    except ValueError:
        return code, None


def open_app_api(group: dict[str, Any], port: int = 8081) -> None:
    """Bind the app API of a client group's containers to 0.0.0.0 and name its port `app`.

    Only for the suite's own topics: the test reaches each replica's API from outside the pod
    (`pod_http`); the default, 127.0.0.1, keeps it inside the pod.
    """
    for container in group["template"]["spec"]["containers"]:
        container.setdefault("env", []).append({"name": "SWARM_APP_HOST", "value": "0.0.0.0"})
        container.setdefault("ports", []).append(
            {"name": "app", "containerPort": port, "protocol": "TCP"})


def printed_columns(table: str) -> list[dict[str, str]]:
    """The rows of a `kubectl get` table as {HEADER: value}, split at the header's column starts
    (headers like `BASE KEY` hold a space, so splitting on whitespace would not do)."""
    lines = [line for line in table.splitlines() if line.strip()]
    header = lines[0]
    # kubectl pads columns with 3 spaces: a column starts after two spaces (or at 0).
    starts = [i for i, ch in enumerate(header) if ch != " " and (i == 0 or header[i - 2:i] == "  ")]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    return [{header[a:b].strip(): line[a:b].strip() for a, b in bounds} for line in lines[1:]]


def hold_for(what: str, probe: Callable[[], T], holds: Callable[[T], bool], seconds: float,
             interval: float = 1.0) -> T:
    """Poll `probe` for `seconds`; fail naming `what` and the answer the first time `holds` of it
    is false; return the last answer.

    For "never happens" claims (an outsider never becomes a writer): bounded, so a pass says
    "not within this wait", which is what the case states.
    """
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if not holds(value):
            raise AssertionError(f"{what} stopped holding; got: {value!r}")
        if time.monotonic() > deadline:
            return value
        time.sleep(interval)


def hosts_ready(cluster: Cluster, name: str, ns: str, count: int) -> bool:
    topic = cluster.topic(name, ns) or {}
    hosts = (topic.get("status") or {}).get("hosts") or []
    return sum(1 for h in hosts if h.get("ready") and h.get("indexer")) == count


def every_view_holds(cluster: Cluster, name: str, ns: str, acked: list[str]) -> dict[str, int]:
    """How many acknowledged entries each client pod's view lacks (all must be 0)."""
    missing = {}
    for pod in client_pods(cluster, name, ns):
        if not pod_ready(pod):
            continue
        seen: set[str] = set()
        start = 0
        while True:
            code, log = pod_http(pod, APP_PORT, f"/log?start={start}", timeout=10)
            assert code == 200, (pod["metadata"]["name"], code, log)
            seen.update(e.get("key") for e in log["entries"] if isinstance(e, dict))
            start += len(log["entries"])
            if start >= log["length"] or not log["entries"]:
                break
        missing[pod["metadata"]["name"]] = len(set(acked) - seen)
    return missing
