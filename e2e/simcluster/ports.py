"""Loopback addresses for pods: every pod shares 127.0.0.1, so every container port is remapped.

An allocation is stable for the life of the simulated cluster, keyed by (namespace, pod name,
declared containerPort): a StatefulSet pod that restarts comes back on the same address, which a
DHT node needs (peers keep its address). Each allocated number is free for both TCP and UDP.
"""

from __future__ import annotations

import re
import socket

DNS = re.compile(r"\b([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\."
                 r"([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(\.cluster\.local)?:(\d+)\b")


def _free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


class PortMap:
    def __init__(self) -> None:
        self._ports: dict[tuple[str, str, int], int] = {}

    def port(self, namespace: str, pod: str, container_port: int) -> int:
        key = (namespace, pod, container_port)
        if key not in self._ports:
            taken = set(self._ports.values())
            port = _free_port()
            while port in taken:
                port = _free_port()
            self._ports[key] = port
        return self._ports[key]

    def rewrite_dns(self, text: str) -> str:
        """`<pod>.<service>.<ns>.svc[.cluster.local]:<port>` -> `127.0.0.1:<allocated port>`."""
        def local(match: re.Match[str]) -> str:
            pod, namespace, port = match.group(1), match.group(5), int(match.group(8))
            return f"127.0.0.1:{self.port(namespace, pod, port)}"
        return DNS.sub(local, text)
