"""What the kubelet asks of a container runtime, and what a runtime answers.

The kubelet resolves everything Kubernetes-specific (env, volumes, security context) into a
`ContainerConfig`; a runtime only creates sandboxes (one network namespace and IP per pod) and
runs containers in them. Two runtimes exist, chosen explicitly: `podman` (runtime_podman.py,
real containers from images) and `process` (runtime_process.py, local processes in a network
namespace each). Every object a runtime creates carries the node's name, so the leftovers of a
crashed run can be found and removed at the next start (`cleanup`), and its state directory's
`instance_id`, so that kubelets of other clusters on the same machine are left alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

LABEL_NODE = "localcluster.node"
LABEL_INSTANCE = "localcluster.instance"
LABEL_POD_UID = "localcluster.pod-uid"


def instance_id(state_dir: Path) -> str:
    """The identity of one kubelet's objects: several clusters on one machine may all have a node
    of the same name, so leftovers are found by the kubelet's state directory, not its node name."""
    return hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]


class StartError(Exception):
    """A container could not be started; `reason` is what the container status shows."""

    def __init__(self, reason: str, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.reason, self.message, self.exit_code = reason, message, exit_code


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool = False


@dataclass
class SecurityConfig:
    user: int | None = None
    group: int | None = None
    supplemental_groups: list[int] = field(default_factory=list)
    read_only_root: bool = False
    no_new_privileges: bool = False
    cap_drop: list[str] = field(default_factory=list)
    cap_add: list[str] = field(default_factory=list)
    privileged: bool = False


@dataclass
class ContainerConfig:
    name: str
    image: str
    command: list[str] | None
    args: list[str] | None
    env: dict[str, str]
    working_dir: str | None = None
    mounts: list[Mount] = field(default_factory=list)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    stop_signal: str | None = None


@dataclass
class SandboxConfig:
    namespace: str
    name: str
    uid: str
    hostname: str
    hosts_file: Path
    state_dir: Path


@dataclass
class Sandbox:
    config: SandboxConfig
    ip: str
    ref: str  # the runtime's own name for it


@dataclass
class ContainerState:
    running: bool
    exit_code: int | None = None
    started_at: float | None = None
    finished_at: float | None = None


@dataclass
class ImageInfo:
    """What a runtime knows of an image: its user, for the runAsNonRoot check."""

    ref: str
    user: str = ""
    image_id: str = ""


class Runtime(Protocol):
    name: str

    async def gateway(self) -> str:
        """The host's address as the pods see it (where the API server is reached)."""
        ...

    async def cleanup(self) -> int:
        """Remove everything a previous run of this node left; returns how many objects."""
        ...

    async def image(self, ref: str) -> ImageInfo | None:
        """The image if present (None when it is not: pods fail with ErrImageNeverPull)."""
        ...

    async def create_sandbox(self, config: SandboxConfig) -> Sandbox: ...

    async def remove_sandbox(self, sandbox: Sandbox) -> None: ...

    async def start(self, sandbox: Sandbox, config: ContainerConfig, attempt: int) -> str:
        """Start a container; returns its id. Raises StartError when it cannot start."""
        ...

    async def state(self, container_id: str) -> ContainerState | None: ...

    async def stop(self, container_id: str, grace: float) -> None:
        """SIGTERM (or the image's stop signal), SIGKILL after `grace` seconds."""
        ...

    async def remove(self, container_id: str) -> None: ...

    async def exec(self, container_id: str, command: list[str], limit: float) -> int:
        """Run `command` in the container; its exit code (non-zero after `limit` seconds)."""
        ...

    async def logs(self, container_id: str) -> str: ...

    async def close(self) -> None: ...
