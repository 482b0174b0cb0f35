"""Network namespaces for the process runtime: a bridge of the kubelet's own (`lcbr<tag>`,
10.89.0.1/24 by default) and, per pod, a namespace named `lc-<tag>-<pod uid>` holding
`eth0` (one end of a veth pair whose other end is on the bridge) with the pod's address, `lo`,
and a default route through the bridge. The host reaches every pod IP directly, so ports need no
rewriting. The tag comes from the kubelet's instance id (its state directory). Two process-mode
kubelets on one machine need different subnets (`--pod-subnet`). Needs root and iproute2.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
from dataclasses import dataclass

DEFAULT_SUBNET = "10.89.0.0/24"  # the process runtime's pods (`--pod-subnet` chooses another)
DEFAULT_GATEWAY = str(next(ipaddress.ip_network(DEFAULT_SUBNET).hosts()))  # the bridge's address


class NetnsError(Exception):
    pass


async def ip(*args: str, check: bool = True) -> str:
    proc = await asyncio.create_subprocess_exec("ip", *args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if check and proc.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {err.decode().strip()}")
    return out.decode()


@dataclass
class Network:
    instance: str  # the kubelet's instance_id: names of namespaces and bridge derive from it
    subnet: str = DEFAULT_SUBNET

    def __post_init__(self) -> None:
        self.net = ipaddress.ip_network(self.subnet)
        self.gateway = str(next(self.net.hosts()))
        self.tag = self.instance[:6]
        self.bridge = f"lcbr{self.tag}"
        self.used: dict[str, str] = {}  # netns name -> IP
        self._lock = asyncio.Lock()

    @property
    def prefix(self) -> str:
        return f"lc-{self.tag}-"

    def name(self, uid: str) -> str:
        return f"{self.prefix}{uid}"

    async def ensure_bridge(self) -> None:
        if await ip("link", "show", self.bridge, check=False):
            return
        # Another bridge on the same subnet (a running process-mode kubelet, or one killed before
        # it cleaned up) would take the pods' routes: their probes would never answer.
        for line in (await ip("-o", "-4", "addr", "show")).splitlines():
            dev, addr = line.split()[1], line.split()[3]
            if ipaddress.ip_interface(addr).network.overlaps(self.net):
                raise NetnsError(f"{dev} already holds {addr}, in this node's pod subnet {self.subnet}: "
                                 f"another process-mode kubelet runs, or one killed before its clean-up "
                                 f"left it (then: ip link delete {dev}); or give this node another "
                                 "--pod-subnet")
        await ip("link", "add", self.bridge, "type", "bridge")
        await ip("addr", "add", f"{self.gateway}/{self.net.prefixlen}", "dev", self.bridge)
        await ip("link", "set", self.bridge, "up")

    async def namespaces(self) -> list[str]:
        out = await ip("netns", "list")
        return [line.split()[0] for line in out.splitlines() if line.startswith(self.prefix)]

    async def cleanup(self) -> int:
        """Delete the namespaces of this node (their veth pairs go with them)."""
        names = await self.namespaces()
        for name in names:
            await ip("netns", "delete", name, check=False)
        self.used.clear()
        return len(names)

    async def _allocate(self, name: str) -> str:
        async with self._lock:
            taken = set(self.used.values()) | {self.gateway}
            for host in self.net.hosts():
                if str(host) not in taken:
                    self.used[name] = str(host)
                    return str(host)
        raise NetnsError(f"no free address left in {self.subnet}")

    async def create(self, uid: str) -> tuple[str, str]:
        """A namespace for the pod with this uid: returns (its name, its IP)."""
        await self.ensure_bridge()
        name = self.name(uid)
        await ip("netns", "delete", name, check=False)
        address = await self._allocate(name)
        host_end = f"lcv{hashlib.sha256(name.encode()).hexdigest()[:10]}"
        await ip("netns", "add", name)
        try:
            await ip("link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", name)
            await ip("link", "set", host_end, "master", self.bridge, "up")
            await ip("-n", name, "addr", "add", f"{address}/{self.net.prefixlen}", "dev", "eth0")
            await ip("-n", name, "link", "set", "eth0", "up")
            await ip("-n", name, "link", "set", "lo", "up")
            await ip("-n", name, "route", "add", "default", "via", self.gateway)
        except NetnsError:
            await self.delete(name)
            raise
        return name, address

    async def delete(self, name: str) -> None:
        await ip("netns", "delete", name, check=False)
        self.used.pop(name, None)

    async def remove_bridge(self) -> None:
        await ip("link", "delete", self.bridge, check=False)
