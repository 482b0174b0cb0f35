"""NetworkPolicy enforcement on the local node: kube-router v2.1.0's network-policy controller
(built from the Go module proxy by scripts/build-node.sh), alone: no routing, no service proxy
(kube-proxy serves Services), no CNI of its own. It watches pods, namespaces and NetworkPolicies and
filters the pods' traffic with iptables chains (`KUBE-ROUTER-*`, `KUBE-POD-FW-*`, `KUBE-NWPLCY-*`)
and ipsets; bridged traffic reaches iptables through br_netfilter (built into this kernel).

Off by default (`NodeCluster(..., network_policy=True)`, `localcluster up --network-policy`); the
node's teardown removes its chains (KUBE-ROUTER-*, KUBE-POD-FW-*, ...) and ipsets.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

from .controlplane import BIN, SERVICE_RANGE, ControlPlane
from .node_config import NodeLayout
from .procs import Component, wait_until

HEALTH_PORT = 20244  # kube-router's default health port (127.0.0.1 is not selectable: it binds all)


class PolicyController:
    def __init__(self, plane: ControlPlane, layout: NodeLayout, logs: Path) -> None:
        self.plane = plane
        self.layout = layout
        self.logs = logs
        self.component: Component | None = None

    def start(self) -> None:
        binary = BIN / "kube-router"
        if not binary.exists():
            raise FileNotFoundError(f"{binary} missing: run scripts/build-node.sh")
        self.component = Component("kube-router", [
            str(binary), f"--kubeconfig={self.plane.kubeconfig}", f"--hostname-override={self.layout.name}",
            "--run-firewall=true", "--run-router=false", "--run-service-proxy=false", "--enable-cni=false",
            "--enable-pod-egress=false", f"--health-port={HEALTH_PORT}", "--metrics-port=0",
            f"--service-cluster-ip-range={SERVICE_RANGE}",
            "--iptables-sync-period=30s", "--v=1",
        ], self.logs)
        self.component.start()
        wait_until("kube-router's network-policy controller healthy", self._healthy, 60, self.component)

    def _healthy(self) -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{HEALTH_PORT}/healthz", timeout=2) as rsp:
            return rsp.status == 200

    def stop(self) -> None:
        # Not `kube-router --cleanup-config`: v2.1.0's crashes here (a nil pointer in its service
        # proxy's clean-up, with no IPVS in this kernel) and leaves its KUBE-ROUTER-* chains; the
        # node's teardown removes those chains and the ipsets.
        if self.component is not None:
            self.component.stop()
            self.component = None
