"""The main runtime: every pod is a podman pod (its own network namespace and an address on
podman's bridge, the pod IP), every container a podman container in it, run from the pod's image
with --pull=never. Podman is daemonless: each call is a `podman` command; container states come
from one `podman ps` shared by every caller within `STATE_TTL` seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import time
from pathlib import Path

from .runtime import (
    LABEL_INSTANCE,
    LABEL_NODE,
    LABEL_POD_UID,
    ContainerConfig,
    ContainerState,
    ImageInfo,
    Sandbox,
    SandboxConfig,
    StartError,
)

REPO = Path(__file__).resolve().parents[2]
STATE_TTL = 1.0
SLOW = 5.0
log = logging.getLogger("localcluster.kubelet")
NETWORK = "podman"


def podman_env() -> dict[str, str]:
    """The project's containers.conf (runc, cgroupfs, no default ulimits) unless one is set."""
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(REPO / "scripts" / "containers" / "containers.conf"))
    return env


class PodmanError(Exception):
    pass


class PodmanRuntime:
    name = "podman"

    def __init__(self, node: str, instance: str, podman: str = "podman") -> None:
        self.node = node
        self.instance = instance
        self.selector = f"label={LABEL_INSTANCE}={instance}"
        self.podman = podman
        self._env = podman_env()
        self._states: dict[str, ContainerState] = {}
        self._states_at = 0.0
        self._states_lock = asyncio.Lock()

    async def _run(self, *args: str, check: bool = True, limit: float = 120.0) -> tuple[int, str, str]:
        began = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            self.podman, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=self._env)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), limit)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise PodmanError(f"podman {args[0]}: timed out after {limit}s") from None
        rc = proc.returncode if proc.returncode is not None else -1
        took = time.monotonic() - began
        if took > SLOW and args[0] != "stop":
            log.warning("podman %s took %.1fs (podman's locks are shared by every podman user of the machine)",
                        " ".join(args[:2]), took)
        if check and rc != 0:
            raise PodmanError(f"podman {' '.join(args[:2])}: {err.decode(errors='replace').strip()}")
        return rc, out.decode(errors="replace"), err.decode(errors="replace")

    def _labels(self, uid: str | None = None) -> list[str]:
        labels = ["--label", f"{LABEL_NODE}={self.node}", "--label", f"{LABEL_INSTANCE}={self.instance}"]
        if uid:
            labels += ["--label", f"{LABEL_POD_UID}={uid}"]
        return labels

    async def gateway(self) -> str:
        _, out, _ = await self._run("network", "inspect", NETWORK)
        return str(json.loads(out)[0]["subnets"][0]["gateway"])

    async def cleanup(self) -> int:
        _, pods, _ = await self._run("pod", "ps", "-q", "--filter", self.selector)
        _, containers, _ = await self._run("ps", "-aq", "--filter", self.selector)
        pod_ids, container_ids = pods.split(), containers.split()
        if container_ids:
            await self._run("rm", "-f", "-t", "0", *container_ids, check=False)
        if pod_ids:
            await self._run("pod", "rm", "-f", "-t", "0", *pod_ids, check=False)
        return len(pod_ids) + len(container_ids)

    async def image(self, ref: str) -> ImageInfo | None:
        rc, out, _ = await self._run("image", "inspect", ref, check=False)
        if rc != 0:
            return None
        data = json.loads(out)[0]
        return ImageInfo(ref=ref, user=str((data.get("Config") or {}).get("User") or ""), image_id=data.get("Id", ""))

    async def create_sandbox(self, config: SandboxConfig) -> Sandbox:
        ref = f"lc-{config.namespace}-{config.name}-{config.uid[:8]}"
        await self._run("pod", "rm", "-f", "-t", "0", ref, check=False)
        await self._run("pod", "create", "--name", ref, "--hostname", config.hostname[:63],
                        "--network", NETWORK, *self._labels(config.uid))
        await self._run("pod", "start", ref)
        _, out, _ = await self._run("pod", "inspect", ref)
        infra = json.loads(out)["InfraContainerID"]
        _, ip, _ = await self._run("inspect", "--format", "{{.NetworkSettings.IPAddress}}", infra)
        return Sandbox(config=config, ip=ip.strip(), ref=ref)

    async def remove_sandbox(self, sandbox: Sandbox) -> None:
        await self._run("pod", "rm", "-f", "-t", "0", sandbox.ref, check=False)

    def _run_args(self, sandbox: Sandbox, config: ContainerConfig, name: str) -> list[str]:
        sec = config.security
        args = ["run", "-d", "--pod", sandbox.ref, "--name", name, "--pull=never", *self._labels(sandbox.config.uid),
                "--mount", f"type=bind,src={sandbox.config.hosts_file},dst=/etc/hosts,ro=true"]
        for key, value in config.env.items():
            args += ["--env", f"{key}={value}"]
        for mount in config.mounts:
            args += ["--mount", f"type=bind,src={mount.source},dst={mount.target}"
                     + (",ro=true" if mount.read_only else "")]
        if config.working_dir:
            args += ["--workdir", config.working_dir]
        if sec.user is not None:
            # --passwd=false: a kubelet's runtime (containerd, CRI-O) adds no /etc/passwd entry for
            # a UID the image does not list; podman would, and hide a crash a real node shows.
            args += ["--user", f"{sec.user}:{sec.group if sec.group is not None else sec.user}", "--passwd=false"]
        for group in sec.supplemental_groups:
            args += ["--group-add", str(group)]
        if sec.read_only_root:
            args += ["--read-only", "--read-only-tmpfs=false"]
        if sec.no_new_privileges:
            args += ["--security-opt", "no-new-privileges"]
        args += [f"--cap-drop={cap}" for cap in sec.cap_drop] + [f"--cap-add={cap}" for cap in sec.cap_add]
        if sec.privileged:
            args.append("--privileged")
        if config.command is not None:
            args += ["--entrypoint", json.dumps(config.command)]
        args.append(config.image)
        return args + list(config.args or [])

    async def start(self, sandbox: Sandbox, config: ContainerConfig, attempt: int) -> str:
        name = f"{sandbox.ref}--{config.name}"
        await self._run("rm", "-f", "-t", "0", name, check=False)
        rc, out, err = await self._run(*self._run_args(sandbox, config, name), check=False)
        self._states_at = 0.0
        if rc != 0:
            message = err.strip().removeprefix("Error: ")
            if "image not known" in message:
                raise StartError("ErrImageNeverPull", message)
            raise StartError("StartError", message, exit_code=128)
        return out.strip()

    async def _refresh(self, force: bool = False) -> None:
        async with self._states_lock:
            if not force and time.monotonic() - self._states_at < STATE_TTL:
                return
            began = time.monotonic()
            _, out, _ = await self._run("ps", "-a", "--format", "json", "--filter", self.selector)
            states: dict[str, ContainerState] = {}
            for item in json.loads(out or "[]"):
                state = item.get("State", "")
                exited = state in ("exited", "stopped", "created", "dead")
                states[item["Id"]] = ContainerState(
                    running=not exited,
                    exit_code=int(item.get("ExitCode", 0)) if exited else None,
                    started_at=float(item["StartedAt"]) if item.get("StartedAt", 0) > 0 else None,
                    finished_at=float(item["ExitedAt"]) if item.get("ExitedAt", 0) > 0 else None)
            self._states, self._states_at = states, began

    async def state(self, container_id: str) -> ContainerState | None:
        await self._refresh()
        if container_id not in self._states:  # started after the shared snapshot was taken
            await self._refresh(force=True)
        return self._states.get(container_id)

    async def stop(self, container_id: str, grace: float) -> None:
        seconds = max(0, math.ceil(grace))
        await self._run("stop", "-t", str(seconds), container_id, check=False, limit=seconds + 60)
        self._states_at = 0.0

    async def remove(self, container_id: str) -> None:
        await self._run("rm", "-f", "-t", "0", container_id, check=False)

    async def exec(self, container_id: str, command: list[str], limit: float) -> int:
        try:
            rc, _, _ = await self._run("exec", container_id, *command, check=False, limit=limit)
        except PodmanError:
            return 1
        return rc

    async def logs(self, container_id: str) -> str:
        _, out, err = await self._run("logs", container_id, check=False)
        return out + err

    async def close(self) -> None:
        return None
