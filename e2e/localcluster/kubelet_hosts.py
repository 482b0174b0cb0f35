"""Cluster DNS names for pods without a DNS server: a hosts file per pod, mounted as /etc/hosts.

Each pod's file names the pod itself (as the kubelet's own /etc/hosts does), then every name
cluster DNS would answer with a pod IP: `<hostname>.<subdomain>.<ns>.svc[.cluster.local]` of
pods with a subdomain (known to the kubelet at once) and, from the EndpointSlices of headless
Services, `<hostname>.<service>.<ns>.svc` of each endpoint with a hostname and
`<service>.<ns>.svc` for every ready endpoint. Files are rewritten in place (the same inode
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
SLICES_EVERY = 1.0
HEADER = ("# Kubernetes-managed hosts file (localcluster kubelet).\n127.0.0.1\tlocalhost\n"
          "::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\n")


def _names(*labels: str) -> list[str]:
    base = ".".join(labels)
    return [f"{base}.svc.{DOMAIN}", f"{base}.svc"]


def slice_entries(slices: Iterable[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    entries: list[tuple[str, list[str]]] = []
    for item in slices:
        meta = item["metadata"]
        service = (meta.get("labels") or {}).get("kubernetes.io/service-name")
        if not service:
            continue
        for endpoint in item.get("endpoints") or []:
            ready = (endpoint.get("conditions") or {}).get("ready") is not False
            for address in endpoint.get("addresses", []):
                if endpoint.get("hostname"):
                    entries.append((address, _names(endpoint["hostname"], service, meta["namespace"])))
                if ready:
                    entries.append((address, _names(service, meta["namespace"])))
    return entries


class HostsTable:
    def __init__(self, api: Api, workers: Callable[[], Iterable[PodWorker]]) -> None:
        self.api = api
        self.workers = workers
        self.services: list[tuple[str, list[str]]] = []
        self._shared = ""

    def shared(self) -> str:
        entries: dict[str, list[str]] = {}
        for worker in self.workers():
            if worker.ip and worker.subdomain:
                entries.setdefault(worker.ip, []).extend(
                    _names(worker.hostname, worker.subdomain, worker.namespace))
        for ip, names in self.services:
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
        """Runs until cancelled: polls the EndpointSlices of headless Services."""
        while True:
            try:
                answer = await self.api.get("/apis/discovery.k8s.io/v1/endpointslices",
                                            {"labelSelector": "service.kubernetes.io/headless"})
                services = sorted(slice_entries(answer.get("items", [])))
                if services != self.services:
                    self.services = services
                    self.changed()
            except (ApiError, OSError) as err:
                log.warning("endpointslices: %s", err)
            await asyncio.sleep(SLICES_EVERY)
