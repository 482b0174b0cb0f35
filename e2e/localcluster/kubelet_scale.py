"""The node's scale mode: pods of a marked class run no container at all.

A pod annotated `localcluster.swarm-operator.dev/simulated: scale` (the scale benchmark puts it
on a topic's host and client templates) is reported Running and Ready at once, with an address
of its own on the loopback range 127.240.0.0/12. For a bootstrap-host pod, this one process also
serves a correctly signed `GET /status?nonce=...` on that address and the pod's status port, as
the host contract says: signed with the host identity seed the pod mounts (read from the topic's
identity Secret, as the admin when the kubelet has `--admin-kubeconfig`, else as the node, which
the Node authorizer lets read it once its graph links the pod), for the topic in the pod's
SWARM_TOPIC, with a base key derived from the seed, echoing the nonce. So thousands of topics
fit on one machine, and what is measured is the operator and the control plane, not podman.

On deletion the pod's address is released and the pod object deleted, as a kubelet does once
its containers are gone.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import json
import logging
import resource
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from nacl.signing import SigningKey

from .kubelet_api import Api, ApiError
from .kubelet_container import rfc3339
from .kubelet_node import NodeAgent

log = logging.getLogger("localcluster.kubelet.scale")
ANNOTATION = "localcluster.swarm-operator.dev/simulated"
MODE = "scale"
FIRST_IP = ipaddress.IPv4Address("127.240.0.1")
HOST_COMPONENT = ("app.kubernetes.io/component", "bootstrap-host")
STATUS_PORT = ("status", 8080)  # the host contract's port name and default


def claims(pod: dict[str, Any]) -> bool:
    return ((pod.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION) == MODE


def _status_port(pod: dict[str, Any]) -> int:
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == STATUS_PORT[0]:
                return int(port["containerPort"])
    return STATUS_PORT[1]


def _topic(pod: dict[str, Any]) -> str:
    for container in (pod.get("spec") or {}).get("containers") or []:
        for env in container.get("env") or []:
            if env.get("name") == "SWARM_TOPIC" and env.get("value"):
                return str(env["value"])
    return str(pod["metadata"]["labels"].get("swarm-operator.dev/topic", ""))


def _identity_secret(pod: dict[str, Any]) -> str | None:
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        if volume.get("name") == "identity" and volume.get("secret"):
            return str(volume["secret"]["secretName"])
    return None


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


class ScaleNode:
    """Every claimed pod of the node: its address, its status, and (hosts) its `/status`."""

    def __init__(self, api: Api, node_ip: str, secrets: Api | None = None, concurrency: int = 16) -> None:
        self.api, self.node_ip, self.secrets = api, node_ip, secrets or api
        self._limit = asyncio.Semaphore(concurrency)
        self._ips: dict[str, str] = {}  # pod uid -> address
        self._free: list[str] = []
        self._next = FIRST_IP
        self._hosts: dict[str, SimHost] = {}  # address -> host
        self._sites: dict[str, web.TCPSite] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._removing: set[str] = set()
        self._runner: web.AppRunner | None = None
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # one listening socket per host

    def observe(self, pod: dict[str, Any], deleted: bool = False) -> None:
        uid = pod["metadata"]["uid"]
        if deleted or pod["metadata"].get("deletionTimestamp"):
            if uid in self._ips and uid not in self._removing:
                self._removing.add(uid)
                self._spawn(uid, self._remove(pod, deleted, self._tasks.get(uid)))
            return
        if uid not in self._ips:
            self._ips[uid] = self._allocate()
            self._spawn(uid, self._start(pod))

    def _spawn(self, uid: str, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks[uid] = task
        task.add_done_callback(lambda done: self._tasks.pop(uid) if self._tasks.get(uid) is done else None)

    def _allocate(self) -> str:
        if self._free:
            return self._free.pop()
        ip, self._next = str(self._next), self._next + 1
        return ip

    async def _start(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        ip = self._ips[meta["uid"]]
        try:
            async with self._limit:
                if meta.get("labels", {}).get(HOST_COMPONENT[0]) == HOST_COMPONENT[1]:
                    await self._serve(pod, ip)
                await self._report(pod, ip)
        except (ApiError, OSError) as err:
            log.warning("scale pod %s/%s: %s", meta["namespace"], meta["name"], err)

    async def _serve(self, pod: dict[str, Any], ip: str) -> None:
        secret_name = _identity_secret(pod)
        path = f"/api/v1/namespaces/{pod['metadata']['namespace']}/secrets/{secret_name}"
        seed = None
        for _ in range(60):  # the operator creates it before the StatefulSet; the node's right lags
            try:
                secret = await self.secrets.get_or_none(path)
            except ApiError as err:
                if err.status != 403:
                    raise
                secret = None
            seed = ((secret or {}).get("data") or {}).get("seed")
            if seed is not None or not secret_name:
                break
            await asyncio.sleep(1.0)
        seed_hex = base64.b64decode(seed or "").decode().strip()
        policy = next((e.get("value") for c in pod["spec"]["containers"] for e in c.get("env") or []
                       if e.get("name") == "SWARM_WRITERS_POLICY"), "Clients")
        self._hosts[ip] = SimHost(SigningKey(bytes.fromhex(seed_hex)), _topic(pod),
                                  hashlib.sha256(bytes.fromhex(seed_hex)).hexdigest(), str(policy))
        site = web.TCPSite(await self._app(), ip, _status_port(pod), reuse_address=True)
        await site.start()
        self._sites[ip] = site

    async def _app(self) -> web.AppRunner:
        if self._runner is None:
            app = web.Application()
            app.router.add_get("/status", self._status)
            app.router.add_get("/readyz", self._ok)
            app.router.add_get("/healthz", self._ok)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
        return self._runner

    async def _ok(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _status(self, request: web.Request) -> web.Response:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        host = self._hosts.get(sockname[0]) if sockname else None
        if host is None:
            return web.Response(status=503, text="no host on this address")
        return web.Response(body=host.envelope(request.query.get("nonce")), content_type="application/json")

    async def _report(self, pod: dict[str, Any], ip: str) -> None:
        meta, now = pod["metadata"], rfc3339()
        conditions = [{"type": t, "status": "True", "lastTransitionTime": now}
                      for t in ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready")]
        containers = [{"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": True,
                       "started": True, "restartCount": 0, "state": {"running": {"startedAt": now}}}
                      for c in pod["spec"]["containers"]]
        status = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": self.node_ip,
                  "hostIPs": [{"ip": self.node_ip}], "startTime": now, "conditions": conditions,
                  "containerStatuses": containers}
        await self.api.patch(f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
                             {"metadata": {"uid": meta["uid"]}, "status": status}, kind="strategic-merge")

    async def _remove(self, pod: dict[str, Any], deleted: bool, starting: asyncio.Task[None] | None) -> None:
        meta = pod["metadata"]
        if starting is not None:
            await asyncio.gather(starting, return_exceptions=True)
        self._removing.discard(meta["uid"])
        ip = self._ips.pop(meta["uid"])
        site = self._sites.pop(ip, None)
        self._hosts.pop(ip, None)
        if site is not None:
            await site.stop()
        self._free.append(ip)
        if deleted:
            return
        try:
            async with self._limit:
                await self.api.delete(f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                                      {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}})
        except ApiError as err:
            if err.status not in (404, 409):
                log.warning("scale pod %s/%s: delete: %s", meta["namespace"], meta["name"], err)

    async def stop(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()


class ScaleNodeAgent(NodeAgent):
    """The Node with room for `max_pods` pods (a real kubelet's --max-pods), for scale runs."""

    def __init__(self, *args: Any, max_pods: int) -> None:
        super().__init__(*args)
        self.max_pods = max_pods

    def status(self) -> dict[str, Any]:
        status = super().status()
        for key in ("capacity", "allocatable"):
            status[key] = {**status[key], "pods": str(self.max_pods)}
        return status
