"""kwok (Kubernetes WithOut Kubelet, v0.8.0, built from the Go module proxy) for many pods: fake
Nodes that kwok keeps Ready (a Lease heartbeat), and pods bound to them that kwok marks Running and
Ready with an address from `cidr`, without running anything (shared notes, real-node-facts.md 5).

Its stages (node initialize + lease heartbeat, pod ready/complete/delete) ship in the kwok module
itself; scripts/build-node.sh copies them to `.tools/bin/kwok-stages.yaml`.
"""

from __future__ import annotations

from pathlib import Path

from .controlplane import BIN, ControlPlane
from .procs import Component, wait_until

LABEL = ("type", "kwok")
CIDR = "10.250.0.0/16"  # never the Service range (kwok's default --cidr is 10.0.0.0/24, ours)
NODE_IP = "10.249.0.1"


def node_object(name: str, max_pods: int) -> dict[str, object]:
    capacity = {"cpu": "1000", "memory": "4Ti", "pods": str(max_pods)}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {LABEL[0]: LABEL[1], "kubernetes.io/hostname": name},
                         "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"}},
            "status": {"allocatable": capacity, "capacity": capacity}}


class Kwok:
    """`Kwok(plane, logs).start(nodes=["kwok-0"], max_pods=...)`; `stop()` ends it (the Nodes stay)."""

    def __init__(self, plane: ControlPlane, logs: Path, cidr: str = CIDR) -> None:
        self.plane = plane
        self.logs = logs
        self.cidr = cidr
        self.component: Component | None = None

    def start(self, nodes: list[str], max_pods: int) -> None:
        stages = BIN / "kwok-stages.yaml"
        if not (BIN / "kwok").exists() or not stages.exists():
            raise FileNotFoundError(f"kwok or its stages missing in {BIN}: run scripts/build-node.sh")
        self.component = Component("kwok", [
            str(BIN / "kwok"), f"--kubeconfig={self.plane.kubeconfig}",
            f"--manage-nodes-with-label-selector={LABEL[0]}={LABEL[1]}", f"--cidr={self.cidr}",
            f"--node-ip={NODE_IP}", "--node-lease-duration-seconds=40", f"--config={stages}",
        ], self.logs)
        self.component.start()
        for name in nodes:
            self.plane.apply_object("/api/v1/nodes", node_object(name, max_pods))
        for name in nodes:
            wait_until(f"the kwok Node {name} Ready", lambda n=name: self._ready(n), 60, self.component)

    def _ready(self, name: str) -> bool:
        node = self.plane.get(f"/api/v1/nodes/{name}")
        return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))

    def stop(self) -> None:
        if self.component is not None:
            self.component.stop()
            self.component = None
