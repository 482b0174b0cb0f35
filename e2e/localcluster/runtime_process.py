"""The fallback runtime for a machine without podman: containers as local processes, chosen
explicitly (`--runtime process`), never silently.

Each pod gets a network namespace of its own with an address on the suite's bridge (netns.py),
so ports and DNS names need no rewriting. A container is `ip netns exec <ns> sh -c <setup>`:
in the mount namespace that `ip netns exec` makes, the setup bind-mounts the pod's volumes and
hosts file at their real paths (missing mount points are created on the host, recorded, and
removed again by `cleanup` at the kubelet's next start or stop when empty), remounts the root
read-only when readOnlyRootFilesystem asks, then execs the command under `setpriv` with the
securityContext's user, groups, no-new-privs and capability bounding set. The machine's own
root file system stands in for the image: images named `*swarm-peer*` run the repository's
images/swarm-peer/program/bin/swarm-peer.js with node, `*autokv*` examples/kv-app/index.js,
`*swarm-operator*` the venv's swarm-operator (each with its Dockerfile's ENTRYPOINT/CMD/USER);
any other image needs a command of the pod.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal
import sys
import time
import uuid
from pathlib import Path

from .netns import DEFAULT_SUBNET, Network, ip
from .runtime import ContainerConfig, ContainerState, ImageInfo, Sandbox, SandboxConfig, StartError, instance_id

REPO = Path(__file__).resolve().parents[2]
KV_APP = REPO / "examples" / "kv-app"
PEER_BIN = Path(os.environ.get("SWARM_PEER_BIN", REPO / "images" / "swarm-peer" / "program" / "bin" / "swarm-peer.js"))


def _operator_bin() -> str:
    return shutil.which("swarm-operator") or str(Path(sys.executable).parent / "swarm-operator")


def _repository(image: str) -> str:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name.rsplit(":", 1)[0] if ":" in last else name


def local_image(image: str) -> tuple[list[str], list[str], str, str] | None:
    """(entrypoint, default args, user, working dir) standing in for a known image."""
    repo = _repository(image)
    if repo.endswith("swarm-peer"):
        return [shutil.which("node") or "node", str(PEER_BIN)], ["host"], "10001", str(PEER_BIN.parents[1])
    if repo.endswith("swarm-operator"):
        return [_operator_bin()], ["run", "--all-namespaces"], "10001", "/"
    if repo.endswith("autokv"):  # the example app (examples/kv-app/Dockerfile's ENTRYPOINT)
        return [shutil.which("node") or "node", str(KV_APP / "index.js")], [], "10001", str(KV_APP)
    return None


def _alias(command: list[str]) -> list[str]:
    """Commands naming the images' own binaries (their Dockerfiles' paths) map to local equivalents."""
    if command[0] in ("swarm-peer", "/usr/local/bin/swarm-peer", "/app/program/bin/swarm-peer.js"):
        return [shutil.which("node") or "node", str(PEER_BIN), *command[1:]]
    if command[0] in ("swarm-operator", "/usr/local/bin/swarm-operator"):
        return [_operator_bin(), *command[1:]]
    return command


def _executable(argv0: str, env: dict[str, str]) -> bool:
    if "/" in argv0:
        return os.access(argv0, os.X_OK)
    return shutil.which(argv0, path=env.get("PATH")) is not None


class ProcessRuntime:
    name = "process"

    def __init__(self, node: str, state_dir: Path, subnet: str = DEFAULT_SUBNET) -> None:
        self.node = node
        self.network = Network(instance_id(state_dir), subnet=subnet)
        self.log_dir = state_dir / "process-logs"
        self.mount_points = state_dir / "process-mount-points"
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.started: dict[str, float] = {}
        self.finished: dict[str, float] = {}

    async def gateway(self) -> str:
        await self.network.ensure_bridge()
        return self.network.gateway

    async def cleanup(self) -> int:
        """Kill every process left in this node's namespaces, then delete the namespaces."""
        killed = 0
        for name in await self.network.namespaces():
            for pid in (await ip("netns", "pids", name, check=False)).split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
        removed = killed + await self.network.cleanup()
        self._remove_mount_points()
        return removed

    async def image(self, ref: str) -> ImageInfo | None:
        known = local_image(ref)
        return ImageInfo(ref=ref, user=known[2] if known else "", image_id=f"process://{_repository(ref)}")

    async def create_sandbox(self, config: SandboxConfig) -> Sandbox:
        name, address = await self.network.create(config.uid)
        return Sandbox(config=config, ip=address, ref=name)

    async def remove_sandbox(self, sandbox: Sandbox) -> None:
        for pid in (await ip("netns", "pids", sandbox.ref, check=False)).split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        await self.network.delete(sandbox.ref)

    def _argv(self, config: ContainerConfig) -> tuple[list[str], str, str]:
        known = local_image(config.image)
        if config.command:
            argv = _alias(config.command) + list(config.args or [])
        elif known:
            argv = known[0] + (list(config.args) if config.args is not None else known[1])
        else:
            raise StartError("StartError", f"process runtime: image {config.image} has no local entrypoint "
                             "(only swarm-peer and swarm-operator images do); the pod must give a command", 128)
        workdir = config.working_dir or (known[3] if known else "/")
        return argv, workdir, known[2] if known else ""

    @staticmethod
    def _setup_script(sandbox: Sandbox, config: ContainerConfig, workdir: str, user: str) -> str:
        sec = config.security
        lines = ["set -e"]
        mounts = [(str(sandbox.config.hosts_file), "/etc/hosts", True)]
        mounts += [(str(m.source), m.target, m.read_only) for m in config.mounts]
        for source, target, read_only in mounts:
            lines.append(f"mount --bind {shlex.quote(source)} {shlex.quote(target)}")
            if read_only:
                lines.append(f"mount -o remount,bind,ro {shlex.quote(target)}")
        if sec.read_only_root:  # last: the volumes are mounts of their own and stay writable
            lines.append("mount -o remount,bind,ro /")
        lines.append(f"cd {shlex.quote(workdir)} 2>/dev/null || cd /")
        uid = sec.user if sec.user is not None else (int(user) if user.isdigit() else None)
        priv = ["setpriv"]
        if uid is not None:
            gid = sec.group if sec.group is not None else uid
            groups = ",".join(str(g) for g in sec.supplemental_groups)
            priv += [f"--reuid={uid}", f"--regid={gid}", f"--groups={groups}" if groups else "--clear-groups"]
        if sec.no_new_privileges:
            priv.append("--no-new-privs")
        if "all" in sec.cap_drop and not sec.privileged:
            priv += ["--inh-caps=-all", "--bounding-set=-all"]
        lines.append(f"exec {' '.join(priv)} -- \"$@\"")
        return "\n".join(lines)

    def _mount_points(self, config: ContainerConfig) -> None:
        """Create missing mount points on the host, remembered so that `cleanup` removes them."""
        created: list[str] = []
        for mount in config.mounts:
            missing = []
            path = Path(mount.target)
            while not path.exists():
                missing.append(path)
                path = path.parent
            for item in reversed(missing):
                if item == Path(mount.target) and mount.source.is_file():
                    item.touch()
                else:
                    item.mkdir()
                created.append(str(item))
        if created:
            with open(self.mount_points, "a") as record:
                record.write("".join(f"{item}\n" for item in created))

    def _remove_mount_points(self) -> None:
        if not self.mount_points.exists():
            return
        for item in sorted(set(self.mount_points.read_text().split("\n")) - {""}, key=len, reverse=True):
            path = Path(item)
            with contextlib.suppress(OSError):  # only what is still empty goes
                if path.is_dir():
                    path.rmdir()
                elif path.is_file() and path.stat().st_size == 0:
                    path.unlink()
        self.mount_points.unlink()

    async def start(self, sandbox: Sandbox, config: ContainerConfig, attempt: int) -> str:
        argv, workdir, user = self._argv(config)
        self._mount_points(config)
        env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "HOME": "/", **config.env}
        if not _executable(argv[0], env):  # runc's words
            reason = f"stat {argv[0]}: no such file or directory" if "/" in argv[0] else \
                "executable file not found in $PATH"
            raise StartError("StartError", f'exec: "{argv[0]}": {reason}', 128)
        container_id = f"{sandbox.ref}-{config.name}-{uuid.uuid4().hex[:8]}"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        script = self._setup_script(sandbox, config, workdir, user)
        with open(self.log_dir / f"{container_id}.log", "ab") as log:  # noqa: ASYNC230 - opened once per start
            proc = await asyncio.create_subprocess_exec(
                "ip", "netns", "exec", sandbox.ref, "sh", "-c", script, "sh", *argv, env=env, stdout=log,
                stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL, start_new_session=True)
        self.procs[container_id] = proc
        self.started[container_id] = time.time()
        asyncio.get_running_loop().create_task(self._reap(container_id, proc))
        return container_id

    async def _reap(self, container_id: str, proc: asyncio.subprocess.Process) -> None:
        await proc.wait()
        self.finished[container_id] = time.time()

    async def state(self, container_id: str) -> ContainerState | None:
        proc = self.procs.get(container_id)
        if proc is None:
            return None
        return ContainerState(running=proc.returncode is None, exit_code=proc.returncode,
                              started_at=self.started.get(container_id), finished_at=self.finished.get(container_id))

    async def stop(self, container_id: str, grace: float) -> None:
        proc = self.procs.get(container_id)
        if proc is None or proc.returncode is not None:
            return
        self._signal(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), max(grace, 0.01))
        except TimeoutError:
            self._signal(proc.pid, signal.SIGKILL)
            await proc.wait()

    @staticmethod
    def _signal(pgid: int, sig: signal.Signals) -> None:
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass

    async def remove(self, container_id: str) -> None:
        self.procs.pop(container_id, None)

    async def exec(self, container_id: str, command: list[str], limit: float) -> int:
        proc = self.procs.get(container_id)
        if proc is None or proc.returncode is not None:
            return 1
        probe = await asyncio.create_subprocess_exec(
            "nsenter", f"--target={proc.pid}", "--mount", "--net", "--", *command,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        try:
            return await asyncio.wait_for(probe.wait(), limit)
        except TimeoutError:
            probe.kill()
            await probe.wait()
            return 1

    async def logs(self, container_id: str) -> str:
        path = self.log_dir / f"{container_id}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    async def close(self) -> None:
        await self.network.remove_bridge()
