"""The local cluster's kubelet: one Node, its pods run by an explicitly chosen runtime.

It registers the Node and keeps its Lease fresh (kubelet_node.py), watches the pods bound to it
(fieldSelector spec.nodeName) and gives each a worker (kubelet_pod.py) that sets up volumes,
the sandbox and containers, probes them and reports through pods/status. Pods reach the API
server as in-cluster clients do: KUBERNETES_SERVICE_HOST/PORT name an address of the API server
that the pods can reach (by default the runtime's gateway and the kubeconfig's port).

    PYTHONPATH=e2e python -m localcluster.kubelet --kubeconfig admin.kubeconfig \\
        --runtime podman --state-dir .localcluster/node

Pods annotated for the scale mode run no container (kubelet_scale.py): reported Running and
Ready with a loopback address, a host's signed `/status` served by this process.

SIGTERM or SIGINT stops it cleanly: every container and sandbox it made is removed (the pod
objects stay, as when a real node's kubelet stops). Everything it creates carries the node's
name, and a start first removes what a crashed run of the same node left.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path
from typing import Any

import aiohttp

from .kubelet_api import Api, ApiError, load_kubeconfig
from .kubelet_hosts import HostsTable
from .kubelet_pod import NodeContext, PodWorker
from .kubelet_scale import ScaleNode, ScaleNodeAgent, claims
from .kubelet_server import LogServer
from .kubelet_volumes import VolumeBuilder
from .netns import DEFAULT_SUBNET
from .runtime import Runtime, instance_id

log = logging.getLogger("localcluster.kubelet")
TERMINAL = ("Succeeded", "Failed")


def make_runtime(name: str, node: str, state_dir: Path, pod_subnet: str = DEFAULT_SUBNET) -> Runtime:
    if name == "podman":
        from .runtime_podman import PodmanRuntime
        return PodmanRuntime(node, instance_id(state_dir))
    if name == "process":
        from .runtime_process import ProcessRuntime
        return ProcessRuntime(node, state_dir, subnet=pod_subnet)
    raise ValueError(f"unknown runtime {name!r} (podman or process)")


class Kubelet:
    def __init__(self, api: Api, runtime: Runtime, node: str, state_dir: Path, api_host: str | None = None,
                 api_port: int | None = None, node_ip: str | None = None,
                 backoff: tuple[float, float] = (10.0, 300.0), max_pods: int = 110,
                 admin: Api | None = None) -> None:
        self.api, self.runtime, self.node, self.state_dir = api, runtime, node, state_dir
        self.api_host, self.api_port, self.node_ip, self.backoff = api_host, api_port, node_ip, backoff
        self.max_pods, self.admin = max_pods, admin
        self.workers: dict[str, PodWorker] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.hosts = HostsTable(api, lambda: list(self.workers.values()))
        self._background: list[asyncio.Task[None]] = []
        self.ctx: NodeContext | None = None
        self.scale: ScaleNode | None = None
        self.server: LogServer | None = None
        self.ready = asyncio.Event()

    async def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        removed = await self.runtime.cleanup()
        if removed:
            log.info("removed %d leftover object(s) of a previous run of node %s", removed, self.node)
        gateway = await self.runtime.gateway()
        node_ip = self.node_ip or gateway
        service = (self.api_host or gateway, self.api_port or self.api.config.port)
        http = aiohttp.ClientSession()
        self.ctx = NodeContext(api=self.api, runtime=self.runtime, node=self.node, node_ip=node_ip,
                               state_dir=self.state_dir, service=service, volumes=VolumeBuilder(self.api),
                               http=http, hosts=self.hosts, backoff=self.backoff)
        self.server = LogServer(lambda: list(self.workers.values()), self.state_dir, node_ip)
        port = await self.server.start()
        self.scale = ScaleNode(self.api, node_ip, self.admin)
        agent = ScaleNodeAgent(self.api, self.node, node_ip, f"{self.runtime.name}://localcluster", port,
                               max_pods=self.max_pods)
        await agent.register()
        self._background = [asyncio.create_task(agent.heartbeat()), asyncio.create_task(self.hosts.follow_services()),
                            asyncio.create_task(self.follow_pods())]

    async def follow_pods(self) -> None:
        """List, then watch, the pods bound to this node; relist when the watch ends or fails."""
        path, selector = "/api/v1/pods", {"fieldSelector": f"spec.nodeName={self.node}"}
        while True:
            try:
                listing = await self.api.get(path, selector)
                seen = {pod["metadata"]["uid"] for pod in listing["items"]}
                for pod in listing["items"]:
                    self.observe(pod)
                for uid in set(self.workers) - seen:
                    self.workers[uid].update(None)
                self.ready.set()
                version = listing["metadata"]["resourceVersion"]
                async for event in self.api.watch(path, {**selector, "resourceVersion": version}):
                    if event["type"] == "ERROR":
                        break
                    if event["type"] == "DELETED" and self.scale and claims(event["object"]):
                        self.scale.observe(event["object"], deleted=True)
                    elif event["type"] == "DELETED":
                        worker = self.workers.get(event["object"]["metadata"]["uid"])
                        if worker:
                            worker.update(None)
                    elif event["type"] in ("ADDED", "MODIFIED"):
                        self.observe(event["object"])
            except (ApiError, aiohttp.ClientError, OSError, TimeoutError) as err:
                log.warning("pod watch: %s", err)
                await asyncio.sleep(1.0)

    def observe(self, pod: dict[str, Any]) -> None:
        if self.scale is not None and claims(pod):
            self.scale.observe(pod)
            return
        uid = pod["metadata"]["uid"]
        worker = self.workers.get(uid)
        if worker is not None:
            worker.update(pod)
            return
        if uid in self.tasks:
            return  # its worker is finishing
        phase = (pod.get("status") or {}).get("phase")
        if phase in TERMINAL and not pod["metadata"].get("deletionTimestamp"):
            return  # finished before this kubelet started: nothing to run
        assert self.ctx is not None
        worker = PodWorker(self.ctx, pod)
        self.workers[uid] = worker
        task = asyncio.create_task(worker.run())
        self.tasks[uid] = task
        task.add_done_callback(lambda _t, uid=uid: self._finished(uid))

    def _finished(self, uid: str) -> None:
        self.workers.pop(uid, None)
        self.tasks.pop(uid, None)
        self.hosts.changed()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop every container and sandbox; pod objects stay as they are."""
        workers, tasks = list(self.workers.values()), list(self.tasks.values())
        for task in [*self._background, *tasks]:
            task.cancel()
        await asyncio.gather(*self._background, *tasks, return_exceptions=True)
        await asyncio.gather(*(w.shutdown(grace) for w in workers), return_exceptions=True)
        if self.scale is not None:
            await self.scale.stop()
        if self.server is not None:
            await self.server.stop()
        await self.runtime.cleanup()
        await self.runtime.close()
        if self.ctx is not None:
            await self.ctx.http.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m localcluster.kubelet", description=__doc__.split("\n")[0])
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--runtime", choices=["podman", "process"], required=True,
                        help="podman: pods as containers (main mode); process: local processes in network namespaces")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--node-name", default="localcluster-node")
    parser.add_argument("--api-host", help="API server address given to pods (default: the runtime's gateway)")
    parser.add_argument("--api-port", type=int, help="API server port given to pods (default: the kubeconfig's)")
    parser.add_argument("--node-ip", help="the Node's InternalIP and pods' hostIP (default: the runtime's gateway)")
    parser.add_argument("--pod-subnet", default=DEFAULT_SUBNET,
                        help="process runtime: the pods' subnet (its first address is the node's bridge)")
    parser.add_argument("--backoff", type=float, default=10.0, help="first restart back-off in seconds (kubelet: 10)")
    parser.add_argument("--backoff-max", type=float, default=300.0, help="back-off cap in seconds (kubelet: 300)")
    parser.add_argument("--max-pods", type=int, default=110, help="the Node's pod capacity (kubelet: 110)")
    parser.add_argument("--admin-kubeconfig", type=Path, help="scale mode: read host identity Secrets as this user")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    api = Api(load_kubeconfig(args.kubeconfig))
    admin = Api(load_kubeconfig(args.admin_kubeconfig)) if args.admin_kubeconfig else None
    runtime = make_runtime(args.runtime, args.node_name, args.state_dir, args.pod_subnet)
    kubelet = Kubelet(api, runtime, args.node_name, args.state_dir, api_host=args.api_host,
                      api_port=args.api_port, node_ip=args.node_ip, backoff=(args.backoff, args.backoff_max),
                      max_pods=args.max_pods, admin=admin)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await kubelet.start()
        log.info("kubelet %s running pods with the %s runtime", args.node_name, args.runtime)
        await stop.wait()
    finally:
        log.info("kubelet %s stopping", args.node_name)
        try:
            await kubelet.stop()
        except Exception:
            log.exception("kubelet stop failed")
        await api.close()
        if admin is not None:
            await admin.close()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
