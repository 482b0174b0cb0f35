"""Cluster DNS names for pods without a DNS server: a hosts file per pod, mounted as /etc/hosts.

Each pod's file names the pod itself (as the kubelet's own /etc/hosts does), then every name
cluster DNS would answer with a pod IP: `<hostname>.<subdomain>.<ns>.svc[.cluster.local]` of
pods with a subdomain (known to the kubelet at once) and, for headless Services selecting this
node's pods, `<service>.<ns>.svc` for every ready pod (every pod with publishNotReadyAddresses).
The Services are polled (a node's credentials may list Services, not EndpointSlices); the pods
are the node's own, which on this one-node cluster are all of them. Files are rewritten in place (the same inode
stays bind-mounted) whenever the set changes. ClusterIP Services have no entry: there is no
kube-proxy on this node to make their virtual IPs reachable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .kubelet_api import Api, ApiError

if TYPE_CHECKING:
    from .kubelet_pod import PodWorker

log = logging.getLogger("localcluster.kubelet")
DOMAIN = "cluster.local"
SERVICES_EVERY = 1.0
HEADER = ("# Kubernetes-managed hosts file (localcluster kubelet).\n127.0.0.1\tlocalhost\n"
          "::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\n")


def _names(*labels: str) -> list[str]:
    base = ".".join(labels)
    return [f"{base}.svc.{DOMAIN}", f"{base}.svc"]


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def service_entries(services: Iterable[dict[str, Any]], workers: Iterable[PodWorker]) -> list[tuple[str, list[str]]]:
    """What cluster DNS answers for headless Services, from the Services and this node's pods."""
    entries: list[tuple[str, list[str]]] = []
    pods = [w for w in workers if w.ip and w.pod is not None]
    for service in services:
        spec, meta = service.get("spec") or {}, service["metadata"]
        if spec.get("clusterIP") != "None":
            continue
        for worker in pods:
            assert worker.pod is not None and worker.ip is not None
            if worker.namespace != meta["namespace"] or not _selects(spec.get("selector") or {},
                                                                    worker.pod["metadata"].get("labels") or {}):
                continue
            if worker.subdomain == meta["name"]:
                entries.append((worker.ip, _names(worker.hostname, meta["name"], meta["namespace"])))
            if spec.get("publishNotReadyAddresses") or worker.ready():
                entries.append((worker.ip, _names(meta["name"], meta["namespace"])))
    return entries


class HostsTable:
    def __init__(self, api: Api, workers: Callable[[], Iterable[PodWorker]]) -> None:
        self.api = api
        self.workers = workers
        self.services: list[dict[str, Any]] = []
        self._shared = ""

    def shared(self) -> str:
        entries: dict[str, list[str]] = {}
        for worker in self.workers():
            if worker.ip and worker.subdomain:
                entries.setdefault(worker.ip, []).extend(
                    _names(worker.hostname, worker.subdomain, worker.namespace))
        for ip, names in service_entries(self.services, self.workers()):
            entries.setdefault(ip, []).extend(names)
        lines = []
        for ip in sorted(entries):
            unique = list(dict.fromkeys(entries[ip]))
            lines.append(f"{ip}\t{' '.join(unique)}\n")
        return "".join(lines)

    def content(self, worker: PodWorker) -> str:
        own = ""
        if worker.ip:
            fqdn = f"{worker.hostname}.{worker.subdomain}.{worker.namespace}.svc.{DOMAIN}\t" \
                if worker.subdomain else ""
            own = f"{worker.ip}\t{fqdn}{worker.hostname}\n"
        return HEADER + own + "# cluster names\n" + self._shared

    def write_for(self, worker: PodWorker) -> None:
        text = self.content(worker)
        path = worker.hosts_file
        if path.exists() and path.read_text() == text:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "r+" if path.exists() else "w") as handle:  # in place: the mount keeps the inode
            handle.write(text)
            handle.truncate()

    def changed(self) -> None:
        self._shared = self.shared()
        for worker in list(self.workers()):
            if worker.sandbox is not None or worker.hosts_file.exists():
                try:
                    self.write_for(worker)
                except OSError as err:
                    log.warning("hosts file of %s: %s", worker.key, err)

    async def follow_services(self) -> None:
        """Runs until cancelled: polls the Services (a node may list them) and pod readiness."""
        while True:
            try:
                answer = await self.api.get("/api/v1/services")
                self.services = answer.get("items", [])
                if self.shared() != self._shared:
                    self.changed()
            except (ApiError, OSError) as err:
                log.warning("services: %s", err)
            await asyncio.sleep(SERVICES_EVERY)
