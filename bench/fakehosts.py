"""The scale benchmark's bootstrap hosts: kwok marks the topics' pods Running and Ready with an
address from its CIDR (10.250.0.0/16) but runs nothing, so this one server answers every host
pod's signed `GET /status?nonce=...` (the host contract) on that pod's own address.

How the operator reaches those addresses: a network namespace of the benchmark's own
(`swarm-kwok`), joined to this machine by a veth pair (10.249.0.1 here, 10.249.0.2 there). This
machine routes kwok's CIDR to it; inside, the whole CIDR is local (`ip route add local ... dev lo`),
so one socket bound to 0.0.0.0:8080 in that namespace accepts a connection to any pod address and
tells the pods apart by the address it was reached on. Everything is removed by `close()`.

A host signs with the seed of its topic's identity Secret (read as the admin), for the topic in
its SWARM_TOPIC, with a base key derived from the seed, echoing the nonce.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import hashlib
import ipaddress
import json
import os
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from kubeapi import Api, ApiError
from nacl.signing import SigningKey

NETNS = "swarm-kwok"
LINK_NET = "10.249.0.0/30"  # the veth pair's addresses: .1 on this machine's side, .2 in the namespace
STATUS_PORT = 8080  # the host contract's default status port
CLONE_NEWNET = 0x40000000
HOST_WAIT = 3.0  # seconds a status request waits for this process to learn its pod (`FakeHosts._status`)


def rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class SimHost:
    """What one simulated bootstrap host signs."""

    key: SigningKey
    topic: str
    base_key: str
    writers_policy: str
    announced_at: str = field(default_factory=rfc3339)  # once, as a real host's announce

    def envelope(self, nonce: str | None) -> bytes:
        from swarm_operator.hashes import bootstrap_topic_hash  # the same hash a real host computes

        payload: dict[str, Any] = {
            "topic": self.topic, "bootstrapTopicHash": bootstrap_topic_hash(self.topic),
            "baseKey": self.base_key, "writerKey": self.base_key, "discoveryKey": self.base_key[::-1],
            "announcedAt": self.announced_at, "announceSeconds": 0.0, "peers": 0, "writable": True,
            "writersPolicy": self.writers_policy,
        }
        if nonce is not None:
            payload["nonce"] = nonce
        text = json.dumps(payload)
        return json.dumps({"payload": text, "signature": self.key.sign(text.encode()).signature.hex(),
                           "publicKey": self.key.verify_key.encode().hex()}).encode()


def _env(pod: dict[str, Any], name: str) -> str | None:
    return next((e.get("value") for c in pod["spec"]["containers"] for e in c.get("env") or []
                 if e.get("name") == name), None)


def _identity_secret(pod: dict[str, Any]) -> str | None:
    return next((v["secret"]["secretName"] for v in pod["spec"].get("volumes") or []
                 if v.get("name") == "identity" and v.get("secret")), None)


def _netns_dir_mounted() -> bool:
    with open("/proc/self/mountinfo") as mounts:
        return any(line.split()[4] == "/run/netns" for line in mounts)


class NetNamespace:
    """The namespace, veth pair and routes that make kwok's CIDR reach a socket of this process."""

    def __init__(self, cidr: str, name: str = NETNS, link_net: str = LINK_NET) -> None:
        """`name` (the namespace; its veth pair is `name`0/`name`1) and `link_net` are the benchmark's
        own: anything else that makes a namespace (a test) takes other ones, since `create()` first
        removes what has this name, and a second route to the same CIDR is refused."""
        self.cidr = cidr
        self.name = name
        self.veth = (f"{name}0", f"{name}1")
        network = ipaddress.ip_network(link_net)
        self.host_side, self.ns_side = str(network.network_address + 1), str(network.network_address + 2)
        self.mounted_before = _netns_dir_mounted()  # `ip netns add` mounts /run/netns the first time

    def create(self) -> None:
        self.remove()  # what a killed run left
        ns, (outer, inner) = ["ip", "netns", "exec", self.name], self.veth
        for argv in (["ip", "netns", "add", self.name],
                     ["ip", "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", self.name],
                     ["ip", "addr", "add", f"{self.host_side}/30", "dev", outer], ["ip", "link", "set", outer, "up"],
                     [*ns, "ip", "addr", "add", f"{self.ns_side}/30", "dev", inner],
                     [*ns, "ip", "link", "set", inner, "up"], [*ns, "ip", "link", "set", "lo", "up"],
                     [*ns, "ip", "route", "add", "local", self.cidr, "dev", "lo"],
                     ["ip", "route", "add", self.cidr, "via", self.ns_side, "dev", outer]):
            subprocess.run(argv, check=True, capture_output=True)

    def remove(self) -> None:
        subprocess.run(["ip", "link", "del", self.veth[0]], capture_output=True)  # the route goes with it
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        if not self.mounted_before and _netns_dir_mounted() and not os.listdir("/run/netns"):
            subprocess.run(["umount", "/run/netns"], capture_output=True)
            os.rmdir("/run/netns")

    def listen(self, port: int) -> socket.socket:
        """A TCP socket bound to 0.0.0.0:`port` inside the namespace (made on a thread that joins it)."""
        made: list[socket.socket | BaseException] = []

        def inside() -> None:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            with open(f"/run/netns/{self.name}") as target:
                if libc.setns(target.fileno(), CLONE_NEWNET) != 0:
                    made.append(OSError(ctypes.get_errno(), "setns"))
                    return
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("0.0.0.0", port))
                sock.listen(1024)
                sock.setblocking(False)
                made.append(sock)
            except OSError as exc:
                made.append(exc)

        thread = threading.Thread(target=inside)  # the thread ends in the namespace: never reused
        thread.start()
        thread.join()
        if isinstance(made[0], BaseException):
            raise made[0]
        return made[0]


class FakeHosts:
    """Serve `/status` for every host pod kwok gave an address; `observe(pod)` from a pod watch."""

    def __init__(self, admin: Api, cidr: str, concurrency: int = 16) -> None:
        self.admin = admin
        self.net = NetNamespace(cidr)
        self.hosts: dict[str, SimHost] = {}
        self._pending: set[str] = set()
        self._known: dict[str, asyncio.Event] = {}
        self._limit = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self.net.create()
        app = web.Application()
        app.router.add_get("/status", self._status)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, self.net.listen(STATUS_PORT)).start()

    def observe(self, pod: dict[str, Any]) -> None:
        ip = (pod.get("status") or {}).get("podIP")
        if ip and ip not in self.hosts and ip not in self._pending:
            self._pending.add(ip)
            task = asyncio.create_task(self._add(pod, ip))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _add(self, pod: dict[str, Any], ip: str) -> None:
        path = f"/api/v1/namespaces/{pod['metadata']['namespace']}/secrets/{_identity_secret(pod)}"
        try:
            async with self._limit:
                secret = await self.admin.get(path)
            seed = bytes.fromhex(base64.b64decode(secret["data"]["seed"]).decode().strip())
            self.hosts[ip] = SimHost(SigningKey(seed), _env(pod, "SWARM_TOPIC") or "",
                                     hashlib.sha256(seed).hexdigest(), _env(pod, "SWARM_WRITERS_POLICY") or "Clients")
        except (ApiError, KeyError, ValueError) as err:
            print(f"  (fake host {ip}: {err})", flush=True)
        finally:
            self._pending.discard(ip)
            self._learnt(ip).set()

    def _learnt(self, ip: str) -> asyncio.Event:
        """Set once this process has tried to learn the host on `ip`."""
        return self._known.setdefault(ip, asyncio.Event())

    async def _status(self, request: web.Request) -> web.Response:
        """A real host answers once its pod is Ready (its readiness probe is this server); kwok marks
        the pod Ready at once, and this process learns the pod from its own watch and reads its
        identity Secret after that: a request that comes first waits for it (at most HOST_WAIT s),
        rather than a 503 that would make the operator's pass see an unreachable host."""
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        ip = sockname[0] if sockname else None
        if ip is not None and ip not in self.hosts:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._learnt(ip).wait(), HOST_WAIT)
        host = self.hosts.get(ip) if ip else None
        if host is None:
            return web.Response(status=503, text="no host on this address (yet)")
        return web.Response(body=host.envelope(request.query.get("nonce")), content_type="application/json")

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
        self.net.remove()
