"""The kubelet of the simulated cluster: pods of the swarm-peer image run as local processes.

For every pod it binds (`spec.nodeName`), it remaps container ports to free loopback ports
(`ports.py`, patched into the pod spec so probes, the operator and tests find them), resolves the
environment as a kubelet does (values, `$(VAR)`, downward API, ConfigMap and Secret refs, where a
missing non-optional ref keeps the container waiting in `CreateContainerConfigError`), maps
volumes to directories under the state dir (PVC directories outlive pods and go with their
PVC), rewrites mount paths and pod DNS names in env and args, runs `node $SWARM_PEER_BIN <args>`,
polls readiness probes into the pod's conditions, restarts crashed containers with back-off,
and on deletion sends SIGTERM, then SIGKILL after the grace period.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from .controllers import PVC_PROTECTION, Controllers
from .ports import PortMap
from .store import ApiError, Store, now

log = logging.getLogger("simcluster.kubelet")
NODE = "sim-node"
PEER_IMAGE_SUFFIX = "swarm-peer"
PORTS_ANNOTATION = "simcluster.swarm-operator.dev/original-ports"
PROBE_PERIOD_CAP = 0.5  # seconds: probes run at least this often, whatever periodSeconds says
GRACE_CAP = 10.0
VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
REPO = Path(__file__).resolve().parents[2]


class Waiting(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


@dataclass
class Container:
    name: str
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: str | None = None
    waiting: Waiting | None = None
    ready: bool = False
    failures: int = 0
    last_probe: float = 0.0
    last_exit: int | None = None


@dataclass
class PodRun:
    namespace: str
    name: str
    uid: str
    dir: Path
    containers: dict[str, Container] = field(default_factory=dict)
    terminating: bool = False
    start_time: str = field(default_factory=now)


def is_peer_image(image: str) -> bool:
    repository = image.split("@", 1)[0]
    if ":" in repository.rsplit("/", 1)[-1]:
        repository = repository.rsplit(":", 1)[0]
    return repository.endswith(PEER_IMAGE_SUFFIX)


class Kubelet:
    def __init__(self, store: Store, state_dir: Path, peer_bin: str | None = None) -> None:
        self.store = store
        self.state_dir = state_dir
        self.peer_bin = peer_bin or os.environ.get("SWARM_PEER_BIN") or str(
            REPO / "images" / "swarm-peer" / "bin" / "swarm-peer.js")
        self.node = shutil.which("node") or "node"
        self.ports = PortMap()
        self.controllers = Controllers(store)
        self.runs: dict[str, PodRun] = {}  # by pod uid
        self._http: aiohttp.ClientSession | None = None
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()
        t = store.types
        self.pods, self.pvcs = t["/v1/pods"], t["/v1/persistentvolumeclaims"]
        self.configmaps, self.secrets = t["/v1/configmaps"], t["/v1/secrets"]

    # -- main loop ------------------------------------------------------------------------------
    async def run(self, interval: float = 0.25) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1.0))
        try:
            while not self._stopping:
                try:
                    self.controllers.sync()
                    await self.sync()
                except Exception:  # keep the node alive; the next pass retries
                    log.exception("kubelet pass failed")
                await asyncio.sleep(interval)
        finally:
            await self._http.close()

    async def shutdown(self) -> None:
        self._stopping = True
        await asyncio.gather(*(self._kill(run) for run in list(self.runs.values())), return_exceptions=True)

    async def sync(self) -> None:
        pods = self.store.list(self.pods, None, lambda o: True)
        live_uids = set()
        for pod in pods:
            meta = pod["metadata"]
            live_uids.add(meta["uid"])
            run = self.runs.get(meta["uid"])
            if meta.get("deletionTimestamp"):
                if run is not None and not run.terminating:
                    run.terminating = True
                    self._spawn(self._terminate(run, pod))
                elif run is None:
                    self._remove(pod)
                continue
            if not pod["spec"].get("nodeName"):
                self._bind(pod)
                continue
            if run is None:
                run = PodRun(meta["namespace"], meta["name"], meta["uid"],
                             self.state_dir / "pods" / meta["namespace"] / f"{meta['name']}-{meta['uid'][:8]}")
                self.runs[meta["uid"]] = run
            await self._sync_pod(run, pod)
        for uid, run in list(self.runs.items()):
            if uid not in live_uids and not run.terminating:  # removed without a grace period
                run.terminating = True
                self._spawn(self._terminate(run, None))
        self._release_claims(pods)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- binding --------------------------------------------------------------------------------
    def _bind(self, pod: dict[str, Any]) -> None:
        """Schedule the pod here and give each container port its loopback port."""
        meta = pod["metadata"]
        spec = pod["spec"]
        original: dict[str, int] = {}
        for container in spec.get("containers", []):
            for port in container.get("ports", []):
                allocated = self.ports.port(meta["namespace"], meta["name"], int(port["containerPort"]))
                original[str(allocated)] = int(port["containerPort"])
                port["containerPort"] = allocated
        spec["nodeName"] = NODE
        annotations = meta.setdefault("annotations", {})
        annotations[PORTS_ANNOTATION] = json.dumps(original)
        with contextlib.suppress(ApiError):
            self.store.update(self.pods, meta["namespace"], meta["name"], pod)

    # -- containers -----------------------------------------------------------------------------
    async def _sync_pod(self, run: PodRun, pod: dict[str, Any]) -> None:
        loop_now = time.monotonic()
        for spec in pod["spec"].get("containers", []):
            box = run.containers.setdefault(spec["name"], Container(spec["name"]))
            if box.proc is not None and box.proc.returncode is not None:
                box.last_exit = box.proc.returncode
                box.proc = None
                box.ready = False
                box.restarts += 1
                box.next_start = loop_now + min(5.0, 0.5 * 2 ** min(box.restarts, 4))
                log.info("%s/%s: container %s exited with %s", run.namespace, run.name, box.name, box.last_exit)
            if box.proc is None and loop_now >= box.next_start:
                try:
                    await self._start(run, pod, spec, box)
                    box.waiting = None
                except Waiting as waiting:
                    box.waiting = waiting
                    box.next_start = loop_now + 1.0
            await self._probe(run, pod, spec, box, loop_now)
        self._report(run, pod)

    async def _start(self, run: PodRun, pod: dict[str, Any], spec: dict[str, Any], box: Container) -> None:
        if not is_peer_image(spec.get("image", "")):
            raise Waiting("ImageNotSimulated",
                          f"only images ending in {PEER_IMAGE_SUFFIX} run in the simulated cluster")
        mounts = self._volumes(run, pod, spec)
        env = self._env(pod, spec)
        original = json.loads(pod["metadata"].get("annotations", {}).get(PORTS_ANNOTATION, "{}"))
        by_original = {str(v): k for k, v in original.items()}
        for port in spec.get("ports", []):
            if port.get("name") == "status":
                env["SWARM_STATUS_PORT"] = str(port["containerPort"])
        args = [VAR_REF.sub(lambda m: env.get(m.group(1), m.group(0)), a) for a in spec.get("args", [])]

        def local(text: str) -> str:
            for mount_path, directory in sorted(mounts.items(), key=lambda kv: -len(kv[0])):
                if text == mount_path or text.startswith(mount_path.rstrip("/") + "/"):
                    text = str(directory) + text[len(mount_path.rstrip("/")):]
                    break
            text = self.ports.rewrite_dns(text)
            return by_original.get(text, text)

        env = {k: local(v) for k, v in env.items()}
        args = [local(a) for a in args]
        run.dir.mkdir(parents=True, exist_ok=True)
        log_path = self.state_dir / "logs" / f"{run.namespace}_{run.name}_{box.name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(run.dir)}
        with open(log_path, "ab") as out:  # noqa: ASYNC230 - a local file, opened once per start
            box.proc = await asyncio.create_subprocess_exec(
                self.node, self.peer_bin, *args, env={**base, **env}, stdout=out, stderr=asyncio.subprocess.STDOUT,
                cwd=run.dir, start_new_session=True)
        box.started_at = now()
        box.failures = 0
        log.info("%s/%s: started %s (pid %s): swarm-peer %s", run.namespace, run.name, box.name, box.proc.pid,
                 " ".join(args))

    def _lookup(self, rtype: Any, ns: str, name: str) -> dict[str, Any] | None:
        try:
            return self.store.get(rtype, ns, name)
        except ApiError:
            return None

    def _env(self, pod: dict[str, Any], spec: dict[str, Any]) -> dict[str, str]:
        ns = pod["metadata"]["namespace"]
        env: dict[str, str] = {}
        for source in spec.get("envFrom", []):
            ref = source.get("configMapRef") or source.get("secretRef")
            if not ref:
                continue
            is_secret = "secretRef" in source
            obj = self._lookup(self.secrets if is_secret else self.configmaps, ns, ref["name"])
            if obj is None:
                if ref.get("optional"):
                    continue
                raise Waiting("CreateContainerConfigError", f"{'secret' if is_secret else 'configmap'} "
                              f"\"{ref['name']}\" not found")
            for key, value in (obj.get("data") or {}).items():
                env[source.get("prefix", "") + key] = base64.b64decode(value).decode() if is_secret else value
        fields = {"status.podIP": "127.0.0.1", "status.hostIP": "127.0.0.1", "spec.nodeName": NODE,
                  "metadata.name": pod["metadata"]["name"], "metadata.namespace": ns,
                  "metadata.uid": pod["metadata"]["uid"], "spec.serviceAccountName": "default"}
        for item in spec.get("env", []):
            name = item["name"]
            if "value" in item:
                env[name] = VAR_REF.sub(lambda m: env.get(m.group(1), m.group(0)), str(item["value"]))
                continue
            source = item.get("valueFrom") or {}
            if "fieldRef" in source:
                env[name] = fields.get(source["fieldRef"]["fieldPath"], "")
            elif "configMapKeyRef" in source or "secretKeyRef" in source:
                is_secret = "secretKeyRef" in source
                ref = source["secretKeyRef" if is_secret else "configMapKeyRef"]
                obj = self._lookup(self.secrets if is_secret else self.configmaps, ns, ref["name"])
                data = (obj or {}).get("data") or {}
                if ref["key"] not in data:
                    if ref.get("optional"):
                        continue
                    what = "secret" if is_secret else "configmap"
                    raise Waiting("CreateContainerConfigError",
                                  f"couldn't find key {ref['key']} in {what} {ns}/{ref['name']}")
                value = data[ref["key"]]
                env[name] = base64.b64decode(value).decode() if is_secret else value
        return env

    def _volumes(self, run: PodRun, pod: dict[str, Any], spec: dict[str, Any]) -> dict[str, Path]:
        """mountPath -> local directory (or file, with subPath) for each of the container's mounts."""
        ns = pod["metadata"]["namespace"]
        volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
        mounts: dict[str, Path] = {}
        for mount in spec.get("volumeMounts", []):
            volume = volumes.get(mount["name"])
            if volume is None:
                raise Waiting("CreateContainerConfigError", f"volume {mount['name']} is not defined")
            local = run.dir / "volumes" / mount["name"]
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                pvc = self._lookup(self.pvcs, ns, claim)
                if pvc is None or pvc["metadata"].get("deletionTimestamp"):
                    raise Waiting("ContainerCreating", f"persistentvolumeclaim \"{claim}\" not found")
                local = self.claim_dir(ns, claim)
            elif "secret" in volume or "configMap" in volume:
                is_secret = "secret" in volume
                ref = volume["secret"]["secretName"] if is_secret else volume["configMap"]["name"]
                obj = self._lookup(self.secrets if is_secret else self.configmaps, ns, ref)
                if obj is None:
                    raise Waiting("ContainerCreating", f"{'secret' if is_secret else 'configmap'} \"{ref}\" not found")
                local.mkdir(parents=True, exist_ok=True)
                for key, value in (obj.get("data") or {}).items():
                    content = base64.b64decode(value) if is_secret else value.encode()
                    (local / key).write_bytes(content)
            local.mkdir(parents=True, exist_ok=True)
            mounts[mount["mountPath"]] = local / mount["subPath"] if mount.get("subPath") else local
        return mounts

    def claim_dir(self, namespace: str, claim: str) -> Path:
        return self.state_dir / "pvcs" / namespace / claim

    # -- probes and status -----------------------------------------------------------------------
    async def _probe(self, run: PodRun, pod: dict[str, Any], spec: dict[str, Any], box: Container,
                     loop_now: float) -> None:
        if box.proc is None:
            box.ready = False
            return
        probe = spec.get("readinessProbe")
        if not probe or "httpGet" not in probe:
            box.ready = True
            return
        period = min(float(probe.get("periodSeconds", 10)), PROBE_PERIOD_CAP)
        if loop_now - box.last_probe < period:
            return
        box.last_probe = loop_now
        get = probe["httpGet"]
        port = get["port"]
        if isinstance(port, str) and not port.isdigit():
            port = next((p["containerPort"] for p in spec.get("ports", []) if p.get("name") == port), None)
        ok = False
        if port is not None and self._http is not None:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError):
                async with self._http.get(f"http://127.0.0.1:{port}{get.get('path', '/')}") as rsp:
                    ok = 200 <= rsp.status < 400
        if ok:
            box.failures = 0
            box.ready = True
        else:
            box.failures += 1
            if box.failures >= int(probe.get("failureThreshold", 3)) or not box.ready:
                box.ready = False

    def _report(self, run: PodRun, pod: dict[str, Any]) -> None:
        boxes = [run.containers[c["name"]] for c in pod["spec"].get("containers", [])]
        ready = bool(boxes) and all(b.ready for b in boxes)
        running = any(b.proc is not None for b in boxes)
        old = pod.get("status") or {}
        old_conditions = {c["type"]: c for c in old.get("conditions", [])}

        def condition(ctype: str, value: bool) -> dict[str, Any]:
            text = "True" if value else "False"
            previous = old_conditions.get(ctype)
            stamp = previous["lastTransitionTime"] if previous and previous.get("status") == text else now()
            return {"type": ctype, "status": text, "lastTransitionTime": stamp}

        statuses = []
        for spec, box in zip(pod["spec"].get("containers", []), boxes, strict=True):
            if box.proc is not None:
                state: dict[str, Any] = {"running": {"startedAt": box.started_at}}
            elif box.waiting is not None:
                state = {"waiting": {"reason": box.waiting.reason, "message": box.waiting.message}}
            else:
                state = {"waiting": {"reason": "CrashLoopBackOff" if box.restarts else "ContainerCreating"}}
            statuses.append({"name": box.name, "image": spec.get("image", ""), "imageID": "", "ready": box.ready,
                             "restartCount": box.restarts, "started": box.proc is not None, "state": state})
        status = {
            "phase": "Running" if running else "Pending",
            "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}], "hostIP": "127.0.0.1",
            "startTime": old.get("startTime", run.start_time),
            "conditions": [condition("PodScheduled", True), condition("Initialized", True),
                           condition("ContainersReady", ready), condition("Ready", ready)],
            "containerStatuses": statuses,
        }
        if status != old:
            with contextlib.suppress(ApiError):
                self.store.patch(self.pods, run.namespace, run.name, "application/merge-patch+json",
                                 {"status": status}, "status")

    # -- termination ------------------------------------------------------------------------------
    async def _kill(self, run: PodRun, grace: float = GRACE_CAP) -> None:
        procs = [b.proc for b in run.containers.values() if b.proc is not None and b.proc.returncode is None]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), max(grace, 0.1))
        except TimeoutError:
            for proc in procs:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            await asyncio.gather(*(p.wait() for p in procs), return_exceptions=True)
        for box in run.containers.values():
            box.proc = None

    async def _terminate(self, run: PodRun, pod: dict[str, Any] | None) -> None:
        grace = GRACE_CAP
        if pod is not None:
            grace = min(float(pod["metadata"].get("deletionGracePeriodSeconds", 30)), GRACE_CAP)
        await self._kill(run, grace)
        shutil.rmtree(run.dir, ignore_errors=True)  # emptyDir and projected volumes go with the pod
        self.runs.pop(run.uid, None)
        if pod is not None:
            self._remove(pod)

    def _remove(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        try:
            current = self.store.get(self.pods, meta["namespace"], meta["name"])
        except ApiError:
            return
        if current["metadata"]["uid"] == meta["uid"]:
            with contextlib.suppress(ApiError):
                self.store.delete(self.pods, meta["namespace"], meta["name"], grace_period=0)

    def _release_claims(self, pods: list[dict[str, Any]]) -> None:
        """PVC protection: a claim being deleted goes once no pod uses it, and its data with it."""
        used = {(p["metadata"]["namespace"], v["persistentVolumeClaim"]["claimName"])
                for p in pods for v in p["spec"].get("volumes", []) if "persistentVolumeClaim" in v}
        for pvc in self.store.list(self.pvcs, None, lambda o: bool(o["metadata"].get("deletionTimestamp"))):
            meta = pvc["metadata"]
            if (meta["namespace"], meta["name"]) in used:
                continue
            finalizers = [f for f in meta.get("finalizers", []) if f != PVC_PROTECTION]
            shutil.rmtree(self.claim_dir(meta["namespace"], meta["name"]), ignore_errors=True)
            with contextlib.suppress(ApiError):
                self.store.patch(self.pvcs, meta["namespace"], meta["name"], "application/merge-patch+json",
                                 {"metadata": {"finalizers": finalizers or None}})
