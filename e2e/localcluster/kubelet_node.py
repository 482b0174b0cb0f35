"""The Node object and its heartbeats: registration with capacity, addresses, labels and the
Ready condition; the Lease in kube-node-lease renewed every LEASE_RENEW seconds; node status
re-posted every STATUS_EVERY seconds (with a fresh lease the node controller needs no more).
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

from .kubelet_api import Api, ApiError
from .kubelet_container import rfc3339

log = logging.getLogger("localcluster.kubelet")
KUBELET_VERSION = "v1.35.4"
LEASE_SECONDS = 40
LEASE_RENEW = 10.0
STATUS_EVERY = 20.0
ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def _memory_ki() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


class NodeAgent:
    def __init__(self, api: Api, node: str, node_ip: str, runtime_version: str, kubelet_port: int = 0) -> None:
        self.api, self.node, self.node_ip, self.runtime_version = api, node, node_ip, runtime_version
        self.kubelet_port = kubelet_port
        self.uid = ""
        self.since = rfc3339()

    def labels(self) -> dict[str, str]:
        return {"kubernetes.io/hostname": self.node, "kubernetes.io/os": "linux", "kubernetes.io/arch": ARCH,
                "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": ARCH}

    def status(self) -> dict[str, Any]:
        capacity = {"cpu": str(os.cpu_count() or 1), "memory": f"{_memory_ki()}Ki", "pods": "110",
                    "ephemeral-storage": "20Gi"}
        stamp = rfc3339()

        def condition(ctype: str, value: str, reason: str, message: str) -> dict[str, str]:
            return {"type": ctype, "status": value, "reason": reason, "message": message,
                    "lastHeartbeatTime": stamp, "lastTransitionTime": self.since}

        return {
            "capacity": capacity, "allocatable": capacity,
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            # No Hostname address: the API server would dial it first (it does not resolve) for `kubectl logs`.
            "addresses": [{"type": "InternalIP", "address": self.node_ip}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet_port}},
            "nodeInfo": {
                "machineID": _read("/etc/machine-id"), "systemUUID": _read("/etc/machine-id"),
                "bootID": _read("/proc/sys/kernel/random/boot_id"), "kernelVersion": platform.release(),
                "osImage": "localcluster node", "containerRuntimeVersion": self.runtime_version,
                "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": "", "operatingSystem": "linux",
                "architecture": ARCH,
            },
        }

    async def register(self) -> None:
        body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.node, "labels": self.labels()}}
        try:
            node = await self.api.post("/api/v1/nodes", body)
        except ApiError as err:
            if err.status != 409:
                raise
            node = await self.api.patch(f"/api/v1/nodes/{self.node}", {"metadata": {"labels": self.labels()}})
        self.uid = node["metadata"]["uid"]
        await self.post_status()
        await self.renew_lease()
        log.info("node %s registered (InternalIP %s)", self.node, self.node_ip)

    async def post_status(self) -> None:
        await self.api.patch(f"/api/v1/nodes/{self.node}/status", {"status": self.status()})

    async def renew_lease(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.node}"
        now = time.time()
        renew = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
        spec = {"holderIdentity": self.node, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": renew}
        lease = await self.api.get_or_none(path)
        if lease is None:
            owner = {"apiVersion": "v1", "kind": "Node", "name": self.node, "uid": self.uid}
            await self.api.post("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.node, "namespace": "kube-node-lease", "ownerReferences": [owner]},
                "spec": spec})
        else:
            lease["spec"].update(spec)
            await self.api.request("PUT", path, lease)

    async def heartbeat(self) -> None:
        """Runs until cancelled: lease renewals, and node status every STATUS_EVERY seconds."""
        last_status = time.monotonic()
        while True:
            await asyncio.sleep(LEASE_RENEW)
            try:
                await self.renew_lease()
                if time.monotonic() - last_status >= STATUS_EVERY:
                    await self.post_status()
                    last_status = time.monotonic()
            except (ApiError, OSError) as err:
                log.warning("node heartbeat: %s", err)
            except Exception:
                log.exception("node heartbeat failed")
