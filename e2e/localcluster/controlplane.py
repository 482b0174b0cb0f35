"""A real Kubernetes control plane on this machine: etcd, kube-apiserver, kube-controller-manager
and kube-scheduler, built from source by scripts/build-control-plane.sh (see docs/localcluster.md).

The API server listens on every address (pods reach it through the `kubernetes` Service, whose
endpoint is the first of `extra_server_ips`: the node's bridge address) with a certificate valid
for 127.0.0.1, the Service's ClusterIP and those addresses; authorization is Node,RBAC and
OwnerReferencesPermissionEnforcement is on (PodSecurity admission too, as by default). Every request is audited to
`<state>/audit.log` (metadata only), so tests can count the answers a user got.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .pki import Identity, Pki, kubeconfig
from .procs import Component, free_port, wait_until

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("SWARM_TOOLS_BIN", REPO / ".tools" / "bin"))
SERVICE_RANGE = "10.0.0.0/24"
ADMISSION = "NodeRestriction,OwnerReferencesPermissionEnforcement"

AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    users: ["system:kube-controller-manager", "system:kube-scheduler", "system:apiserver"]
  - level: None
    userGroups: ["system:nodes"]
  - level: None
    users: ["system:kube-proxy"]
  - level: Metadata
"""


HOSTPATH_CLASS = {
    "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
    "metadata": {"name": "local-hostpath", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
    "provisioner": "kubernetes.io/host-path", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate",
}


@dataclass(frozen=True)
class Endpoints:
    etcd_client: int
    etcd_peer: int
    apiserver: int


class ControlPlane:
    """Start with `start()`, stop with `stop()`; `kubeconfig` is the admin's (system:masters)."""

    def __init__(self, state_dir: Path, extra_server_ips: list[str] | None = None,
                 node_name: str = "swarm-node", controller_qps: int | None = None,
                 hostpath_provisioner: bool = False) -> None:
        """`controller_qps` lifts the controller-manager's and the scheduler's client rate limits
        (20 and 50 requests per second by default), as large clusters do, for the scale benchmark:
        there the control plane's own throttle must not be what is measured. `hostpath_provisioner`
        turns on the controller-manager's HostPath provisioner behind a default StorageClass
        `local-hostpath` (PVs bound at once, for pods no node runs: the scale benchmark's; with the
        real node the local-path provisioner serves the default class instead)."""
        self.controller_qps = controller_qps
        self.hostpath_provisioner = hostpath_provisioner
        self.state = state_dir
        self.logs = state_dir / "logs"
        self.pki = Pki(state_dir / "pki")
        self.node_name = node_name
        self.server_ips = extra_server_ips or []
        self.ports = Endpoints(free_port(), free_port(), free_port())
        self.server = f"https://127.0.0.1:{self.ports.apiserver}"
        self.kubeconfig = state_dir / "admin.kubeconfig"
        self.audit_log = state_dir / "audit.log"
        self.components: list[Component] = []

    # -- set-up ------------------------------------------------------------------------------

    def _kubeconfigs(self) -> dict[str, Path]:
        idents = {
            "admin": Identity("admin", "admin", ("system:masters",)),
            "controller-manager": Identity("controller-manager", "system:kube-controller-manager"),
            "scheduler": Identity("scheduler", "system:kube-scheduler"),
            "node": Identity("node", f"system:node:{self.node_name}", ("system:nodes",)),
            "kube-proxy": Identity("kube-proxy", "system:kube-proxy"),
        }
        paths = {}
        for name, ident in idents.items():
            crt, key = self.pki.client(ident)
            target = self.kubeconfig if name == "admin" else self.state / f"{name}.kubeconfig"
            paths[name] = kubeconfig(target, self.server, self.pki.ca_crt, crt, key, ident.user)
        return paths

    def _etcd(self) -> Component:
        p = self.ports
        url = f"http://127.0.0.1:{p.etcd_client}"
        peer = f"http://127.0.0.1:{p.etcd_peer}"
        return Component("etcd", [
            str(BIN / "etcd"), "--name=node0", f"--data-dir={self.state / 'etcd'}",
            f"--listen-client-urls={url}", f"--advertise-client-urls={url}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=node0={peer}", "--auto-compaction-retention=1",
            "--quota-backend-bytes=4294967296", "--unsafe-no-fsync=true", "--log-level=warn",
        ], self.logs)

    def _apiserver(self) -> Component:
        pki = self.pki
        policy = self.state / "audit-policy.yaml"
        policy.write_text(AUDIT_POLICY)
        advertise = self.server_ips[0] if self.server_ips else "127.0.0.1"
        kubelet_crt, kubelet_key = pki.client(Identity("apiserver-kubelet-client", "kube-apiserver-kubelet-client",
                                                       ("system:masters",)))
        return Component("kube-apiserver", [
            str(BIN / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{self.ports.etcd_client}",
            "--bind-address=0.0.0.0", f"--secure-port={self.ports.apiserver}",
            # The `kubernetes` Service's endpoint is the advertised address (the node's bridge, which
            # pods reach): kept by the lease reconciler, as on any cluster.
            f"--advertise-address={advertise}", "--endpoint-reconciler-type=lease",
            # logs, exec, port-forward: the API server dials the kubelet at the node's InternalIP
            # (its name does not resolve on this machine) with a client certificate of its own.
            f"--kubelet-client-certificate={kubelet_crt}", f"--kubelet-client-key={kubelet_key}",
            "--kubelet-preferred-address-types=InternalIP",
            f"--tls-cert-file={pki.server_crt}", f"--tls-private-key-file={pki.server_key}",
            f"--client-ca-file={pki.ca_crt}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            "--authorization-mode=Node,RBAC", f"--service-cluster-ip-range={SERVICE_RANGE}",
            f"--enable-admission-plugins={ADMISSION}", "--allow-privileged=true",
            f"--audit-policy-file={policy}", f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json", "--audit-log-mode=batch", "--audit-log-batch-max-wait=1s",
            "--profiling=false", "--v=1",
        ], self.logs)

    def _controller_manager(self, kubeconfig_path: Path) -> Component:
        return Component("kube-controller-manager", [
            str(BIN / "kube-controller-manager"), f"--kubeconfig={kubeconfig_path}",
            f"--service-account-private-key-file={self.pki.sa_key}",
            f"--root-ca-file={self.pki.ca_crt}", "--use-service-account-credentials",
            "--controllers=*", "--leader-elect=false", "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}", f"--authentication-kubeconfig={kubeconfig_path}",
            f"--authorization-kubeconfig={kubeconfig_path}",
            *(["--enable-hostpath-provisioner=true"] if self.hostpath_provisioner else []),
            f"--cluster-signing-cert-file={self.pki.ca_crt}",
            f"--cluster-signing-key-file={self.pki.ca_key}", "--profiling=false", "--v=1",
            *self._throughput(),
        ], self.logs)

    def _throughput(self) -> list[str]:
        if not self.controller_qps:
            return []
        qps = self.controller_qps
        return [f"--kube-api-qps={qps}", f"--kube-api-burst={2 * qps}", "--concurrent-statefulset-syncs=20",
                "--concurrent-deployment-syncs=20", "--concurrent-replicaset-syncs=20"]

    def _scheduler(self, kubeconfig_path: Path) -> Component:
        config = self.state / "scheduler.yaml"
        config.write_text(json.dumps({
            "apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
            "clientConnection": {"kubeconfig": str(kubeconfig_path),
                                 **({"qps": self.controller_qps, "burst": 2 * self.controller_qps}
                                    if self.controller_qps else {})},
            "leaderElection": {"leaderElect": False},
        }))
        return Component("kube-scheduler", [
            str(BIN / "kube-scheduler"), f"--config={config}", "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}", f"--authentication-kubeconfig={kubeconfig_path}",
            f"--authorization-kubeconfig={kubeconfig_path}", "--profiling=false", "--v=1",
        ], self.logs)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        self.pki.create(self.server_ips)
        kcs = self._kubeconfigs()
        etcd = self._start(self._etcd())
        wait_until("etcd", lambda: _http_ok(f"http://127.0.0.1:{self.ports.etcd_client}/health"),
                   timeout, etcd)
        apiserver = self._start(self._apiserver())
        wait_until("kube-apiserver /readyz", lambda: self.get("/readyz", raw=True) == "ok",
                   timeout, apiserver)
        self._start(self._controller_manager(kcs["controller-manager"]))
        self._start(self._scheduler(kcs["scheduler"]))
        if self.hostpath_provisioner:
            self.apply_object("/apis/storage.k8s.io/v1/storageclasses", HOSTPATH_CLASS)
        wait_until("the default ServiceAccount and kube-root-ca.crt",
                   self._namespace_ready, timeout, self.components[2])

    def _start(self, component: Component) -> Component:
        component.start()
        self.components.append(component)
        return component

    def _namespace_ready(self) -> bool:
        self.get("/api/v1/namespaces/default/serviceaccounts/default")
        self.get("/api/v1/namespaces/default/configmaps/kube-root-ca.crt")
        return True

    def stop(self) -> None:
        for component in reversed(self.components):
            component.stop()
        self.components.clear()

    def node_kubeconfig(self) -> Path:
        return self.state / "node.kubeconfig"

    def proxy_kubeconfig(self) -> Path:
        return self.state / "kube-proxy.kubeconfig"

    def version(self) -> str:
        return str(self.get("/version")["gitVersion"])

    # -- a tiny admin client (set-up only; tests use kubectl or the operator's own client) ---

    def _ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki.ca_crt))
        ctx.load_cert_chain(str(self.pki.dir / "admin.crt"), str(self.pki.dir / "admin.key"))
        return ctx

    def get(self, path: str, raw: bool = False) -> Any:
        with urllib.request.urlopen(self.server + path, context=self._ssl(), timeout=5) as resp:
            body = resp.read().decode()
        return body if raw else json.loads(body)

    def request(self, method: str, path: str, body: Any = None,
                content_type: str = "application/json") -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method,
                                     headers={"Content-Type": content_type})
        with urllib.request.urlopen(req, context=self._ssl(), timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def delete(self, path: str, grace: int | None = None) -> None:
        """DELETE `path` (a 404 is fine: already gone)."""
        body = None if grace is None else {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": grace}
        try:
            self.request("DELETE", path, body)
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise

    def apply_object(self, collection: str, obj: dict[str, Any]) -> None:
        req = urllib.request.Request(self.server + collection, data=json.dumps(obj).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(req, context=self._ssl(), timeout=5).close()
        except urllib.error.HTTPError as exc:
            if exc.code != 409:
                raise


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return resp.status == 200


def audit_events(path: Path) -> list[dict[str, Any]]:
    """The audit log's events (one JSON object per line)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
