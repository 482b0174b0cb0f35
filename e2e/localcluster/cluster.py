"""A control plane plus everything that makes it a cluster: the local registry (with the images
pushed to it), the real node, CoreDNS and the local-path provisioner. `start()` / `stop()`.

The registry keeps its storage in the cache (`~/.cache/swarm-operator/registry`) and listens on a
fixed loopback port (5000, or $SWARM_REGISTRY_PORT), so a session pushes only what changed since
the last one.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from . import addons, images
from .controlplane import ControlPlane
from .netpol import PolicyController
from .node import Node
from .node_config import CACHE
from .registry import Registry

REGISTRY_PORT = int(os.environ.get("SWARM_REGISTRY_PORT", "5000"))


class NodeCluster:
    """`network_policy` adds kube-router's network-policy controller (NetworkPolicies enforced)."""

    def __init__(self, plane: ControlPlane, state_dir: Path, max_pods: int = 110,
                 network_policy: bool = False) -> None:
        self.plane = plane
        self.state = state_dir
        self.registry = Registry(CACHE / "registry", port=REGISTRY_PORT)
        self.node = Node(plane, self.registry.address, state_dir / "logs", max_pods=max_pods)
        self.policy = PolicyController(plane, self.node.layout, state_dir / "logs") if network_policy else None
        self.timings: dict[str, float] = {}
        self.pushed: list[str] = []

    def start(self) -> None:
        started = time.monotonic()
        self.state.mkdir(parents=True, exist_ok=True)
        self.registry.start()
        errors: list[BaseException] = []
        pusher = threading.Thread(target=self._push, args=(errors,), daemon=True)
        pusher.start()  # the node comes up meanwhile; its pods pull once the images are there
        try:
            self.node.start()
            self.timings.update({f"node: {k}": v for k, v in self.node.timings.items()})
            pusher.join()
            if errors:
                raise errors[0]
            self.timings["images pushed"] = round(time.monotonic() - started, 2)
            served = {ref: self.registry.digest(*images.registry_path(ref).rsplit(":", 1)) for ref in self.pushed}
            self.node.forget_stale(served)  # the node's cached tags follow what was just pushed
            if self.policy is not None:
                self.policy.start()
                self.timings["network policy controller"] = round(time.monotonic() - started, 2)
            addons.install(self.plane.kubeconfig)
            addons.wait_ready(self.plane.kubeconfig)
            self.timings["add-ons Ready"] = round(time.monotonic() - started, 2)
        except BaseException:
            self.stop()
            raise

    def _push(self, errors: list[BaseException]) -> None:
        try:
            self.pushed = list(images.push(self.registry.address, log=self.state / "pushed.txt"))
        except BaseException as exc:  # handed to start()
            errors.append(exc)

    def stop(self) -> list[str]:
        try:
            if self.policy is not None:
                self.policy.stop()
            return self.node.stop()
        finally:
            self.registry.stop()
