"""A pod worker: brings one pod bound to the node up, keeps it to its restartPolicy, reports its
status through `pods/status`, and takes it down on deletion (SIGTERM, the grace period, SIGKILL,
then the DELETE with grace 0 and a uid precondition that lets the API server forget it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from .kubelet_api import Api, ApiError
from .kubelet_container import ContainerRun, rfc3339
from .kubelet_env import ConfigError, container_env, expand, security
from .kubelet_status import pod_status
from .kubelet_volumes import PodVolumes, VolumeBuilder, VolumePending
from .runtime import ContainerConfig, Mount, Runtime, Sandbox, SandboxConfig, StartError

log = logging.getLogger("localcluster.kubelet")
VOLUME_REFRESH = 60.0
STEP = 1.0


class Hosts(Protocol):
    def write_for(self, worker: PodWorker) -> None: ...

    def changed(self) -> None: ...


@dataclass
class NodeContext:
    api: Api
    runtime: Runtime
    node: str
    node_ip: str
    state_dir: Path
    service: tuple[str, int]
    volumes: VolumeBuilder
    http: aiohttp.ClientSession
    hosts: Hosts
    backoff: tuple[float, float] = (10.0, 300.0)


class PodWorker:
    def __init__(self, ctx: NodeContext, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        self.ctx = ctx
        self.pod: dict[str, Any] | None = pod
        self.namespace, self.name, self.uid = meta["namespace"], meta["name"], meta["uid"]
        self.dir = ctx.state_dir / "pods" / f"{self.namespace}_{self.name}_{self.uid}"
        self.hosts_file = self.dir / "hosts"
        spec = pod["spec"]
        self.hostname = str(spec.get("hostname") or self.name)[:63]
        self.subdomain: str | None = spec.get("subdomain")
        self.inits = [ContainerRun(c, init=True, runtime=ctx.runtime.name) for c in spec.get("initContainers", [])]
        self.mains = [ContainerRun(c, runtime=ctx.runtime.name) for c in spec.get("containers", [])]
        self.sandbox: Sandbox | None = None
        self.volumes = PodVolumes()
        self.volumes_at = 0.0
        self.start_time = rfc3339()
        self.pending: tuple[str, str] | None = None
        self.wake = asyncio.Event()
        self.reported: dict[str, Any] | None = None

    @property
    def ip(self) -> str | None:
        return self.sandbox.ip if self.sandbox else None

    def ready(self) -> bool:
        return bool(self.mains) and all(box.ready for box in self.mains)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def update(self, pod: dict[str, Any] | None) -> None:
        self.pod = pod
        self.wake.set()

    # -- the loop ---------------------------------------------------------------------------------
    async def run(self) -> None:
        while self.pod is not None and not self.pod["metadata"].get("deletionTimestamp"):
            try:
                await self.step()
            except (ApiError, aiohttp.ClientError, OSError) as err:
                log.warning("%s: %s", self.key, err)
            except Exception:
                log.exception("%s: pod step failed", self.key)
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), STEP)
        await self.terminate()

    async def step(self) -> None:
        if self.sandbox is None and not await self.setup():
            await self.report()
            return
        if self.phase() in ("Succeeded", "Failed"):
            await self.report()
            return
        await self.refresh_volumes()
        init = next((c for c in self.inits if not (c.terminated and c.terminated["exitCode"] == 0)), None)
        for box in [init] if init else self.mains:
            await self.step_container(box)
        await self.probe()
        await self.report()

    async def setup(self) -> bool:
        """Volumes, then the sandbox (network namespace, IP, hosts file)."""
        assert self.pod is not None
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            await self.ctx.volumes.build(self.pod, self.dir, self.volumes)
        except VolumePending as err:
            self.pending = ("ContainerCreating", f"MountVolume.SetUp failed: {err}")
            return False
        self.volumes_at = time.monotonic()
        self.pending = None
        self.ctx.hosts.write_for(self)
        config = SandboxConfig(self.namespace, self.name, self.uid, self.hostname, self.hosts_file, self.dir)
        self.sandbox = await self.ctx.runtime.create_sandbox(config)
        log.info("%s: sandbox %s with IP %s", self.key, self.sandbox.ref, self.sandbox.ip)
        self.ctx.hosts.changed()
        return True

    async def refresh_volumes(self) -> None:
        now = time.monotonic()
        if self.pod is None or (now - self.volumes_at < VOLUME_REFRESH and now < self.volumes.token_deadline):
            return
        self.volumes_at = now
        try:
            await self.ctx.volumes.build(self.pod, self.dir, self.volumes)
        except VolumePending as err:
            log.warning("%s: volume refresh: %s", self.key, err)

    # -- containers -------------------------------------------------------------------------------
    def restart_policy(self, box: ContainerRun, exit_code: int) -> bool:
        policy = (self.pod or {}).get("spec", {}).get("restartPolicy", "Always")
        if box.init:
            return exit_code != 0 and policy != "Never"
        return policy == "Always" or (policy == "OnFailure" and exit_code != 0)

    async def step_container(self, box: ContainerRun) -> None:
        if box.id:
            state = await self.ctx.runtime.state(box.id)
            if state is not None and state.running:
                return
            code = state.exit_code if state and state.exit_code is not None else 137
            message = ""
            if code != 0 and box.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError":
                message = (await self.ctx.runtime.logs(box.id))[-2048:]
            log.info("%s: container %s exited with %s", self.key, box.name, code)
            box.on_exit(code, self.restart_policy(box, code), self.ctx.backoff, message=message,
                        finished=state.finished_at if state else None)
        if box.terminated is None and time.monotonic() >= box.next_start:
            await self.start(box)

    async def container_config(self, box: ContainerRun, image_user: Any) -> ContainerConfig:
        assert self.pod is not None
        spec = box.spec
        # The downward API sees the IPs this node assigned, whether or not the status is posted yet.
        known = {**(self.pod.get("status") or {}), "podIP": self.ip or "", "hostIP": self.ctx.node_ip,
                 "podIPs": [{"ip": self.ip}] if self.ip else []}
        env = await container_env(self.ctx.api, {**self.pod, "status": known}, spec, self.ctx.service)
        mounts = []
        for mount in spec.get("volumeMounts", []):
            source = self.volumes.paths.get(mount["name"])
            if source is None:
                raise ConfigError(f"volume {mount['name']} is not defined")
            if mount.get("subPath"):
                source = source / mount["subPath"]
            mounts.append(Mount(source, mount["mountPath"], bool(mount.get("readOnly"))))
        command = [expand(a, env) for a in spec["command"]] if spec.get("command") else None
        args = [expand(a, env) for a in spec["args"]] if spec.get("args") else None
        return ContainerConfig(name=box.name, image=spec["image"], command=command, args=args, env=env,
                               working_dir=spec.get("workingDir"), mounts=mounts,
                               security=security(self.pod, spec, image_user))

    async def start(self, box: ContainerRun) -> None:
        assert self.sandbox is not None
        image_ref = box.spec["image"]
        image = await self.ctx.runtime.image(image_ref)
        if image is None:
            never = box.spec.get("imagePullPolicy") == "Never"
            reason = "ErrImageNeverPull" if never else "ErrImagePull"
            box.wait(reason, f'Container image "{image_ref}" is not present'
                     + (" with pull policy of Never" if never else " and this node cannot pull images"), 5.0)
            return
        try:
            config = await self.container_config(box, image)
        except ConfigError as err:
            box.wait("CreateContainerConfigError", str(err), 2.0)
            return
        box.attempt()
        try:
            container_id = await self.ctx.runtime.start(self.sandbox, config, box.restarts)
        except StartError as err:
            log.info("%s: container %s failed to start: %s", self.key, box.name, err.message)
            if err.exit_code is None:
                box.wait(err.reason, err.message, 5.0)
                return
            box.on_exit(err.exit_code, self.restart_policy(box, err.exit_code), self.ctx.backoff,
                        reason=err.reason, message=err.message)
            return
        box.on_started(container_id, image.image_id)
        log.info("%s: started container %s (%s)", self.key, box.name, container_id[:12])

    async def probe(self) -> None:
        assert self.sandbox is not None
        now = time.monotonic()
        jobs = []
        for box in self.mains:
            if not box.id:
                continue
            startup = box.probes.get("startup")
            active = [startup] if startup and startup.result is not True else \
                [p for k, p in box.probes.items() if k != "startup"]
            for prober in active:
                if prober.due(now):
                    jobs.append(prober.run(self.ctx.http, self.ctx.runtime, self.sandbox.ip, box.id))
        await asyncio.gather(*jobs)
        for box in self.mains:
            await self.judge(box)

    async def judge(self, box: ContainerRun) -> None:
        if not box.id:
            box.ready = False
            return
        startup, readiness, liveness = (box.probes.get(k) for k in ("startup", "readiness", "liveness"))
        if startup and startup.result is not True:
            box.ready = False
            if startup.result is False:
                await self.kill_unhealthy(box, "startup")
            return
        box.ready = readiness.result is True if readiness else True
        if liveness and liveness.result is False:
            await self.kill_unhealthy(box, "liveness")

    async def kill_unhealthy(self, box: ContainerRun, kind: str) -> None:
        assert box.id is not None
        log.info("%s: container %s failed its %s probe, killing it", self.key, box.name, kind)
        box.probes = {}
        await self.ctx.runtime.stop(box.id, self.grace(default_only=True))

    # -- status -----------------------------------------------------------------------------------
    def phase(self) -> str:
        return str(pod_status(self)["phase"])

    async def report(self) -> None:
        if self.pod is None:
            return
        status = pod_status(self)
        if status == self.reported:
            return
        try:
            await self.ctx.api.patch(f"/api/v1/namespaces/{self.namespace}/pods/{self.name}/status",
                                     {"metadata": {"uid": self.uid}, "status": status})
        except ApiError as err:
            if err.status not in (404, 409, 422):  # gone, or a new pod of the same name (uid differs)
                raise
        self.reported = status

    # -- termination ------------------------------------------------------------------------------
    def grace(self, default_only: bool = False) -> float:
        meta, spec = (self.pod or {}).get("metadata", {}), (self.pod or {}).get("spec", {})
        default = float(spec.get("terminationGracePeriodSeconds", 30))
        if default_only or meta.get("deletionGracePeriodSeconds") is None:
            return default if self.pod is not None else 0.0
        return float(meta["deletionGracePeriodSeconds"])

    async def terminate(self) -> None:
        grace = self.grace()
        running = [b for b in self.inits + self.mains if b.id]
        log.info("%s: stopping %d container(s), grace %ss", self.key, len(running), grace)
        await asyncio.gather(*(self.ctx.runtime.stop(b.id, grace) for b in running if b.id))
        for box in running:
            box.on_exit(143, False, self.ctx.backoff)
        if self.sandbox is not None:
            await self.ctx.runtime.remove_sandbox(self.sandbox)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.sandbox = None
        if self.pod is not None:
            with contextlib.suppress(ApiError):
                await self.report()
            await self.delete()

    async def delete(self) -> None:
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                "preconditions": {"uid": self.uid}}
        try:
            await self.ctx.api.delete(f"/api/v1/namespaces/{self.namespace}/pods/{self.name}", body)
        except ApiError as err:
            if err.status not in (404, 409):
                raise
        log.info("%s: deleted", self.key)

    async def shutdown(self, grace: float) -> None:
        """The kubelet itself stops: containers go, the pod object stays."""
        running = [b for b in self.inits + self.mains if b.id]
        await asyncio.gather(*(self.ctx.runtime.stop(b.id, grace) for b in running if b.id))
        if self.sandbox is not None:
            await self.ctx.runtime.remove_sandbox(self.sandbox)
