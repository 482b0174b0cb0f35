"""The images the local cluster's pods run, pushed from podman's store (where
scripts/build-images.sh and scripts/build-node.sh build them) to the local registry, under the
names users' manifests use: `ghcr.io/swarm-operator/swarm-peer:0.1.0` is pushed as
`swarm-operator/swarm-peer:0.1.0`, and containerd's mirror for ghcr.io pulls it from there.
A push of an unchanged image uploads nothing (the registry has its blobs).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from .controlplane import REPO
from .node_config import MIRRORED

CONTAINERS_CONF = REPO / "scripts" / "containers" / "containers.conf"
# What the cluster runs: the project's images, the node's own, the Debian base (local-path's helper).
PUSHED = ("ghcr.io/swarm-operator/", "localhost/autokv:", "localhost/swarm-node/", "localhost/swarm-base/debian:")


def podman(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(CONTAINERS_CONF))}
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, env=env)


def registry_path(ref: str) -> str:
    """`ghcr.io/swarm-operator/swarm-peer:0.1.0` -> `swarm-operator/swarm-peer:0.1.0`."""
    host, _, rest = ref.partition("/")
    if host not in MIRRORED:
        raise ValueError(f"{ref}: its registry {host} has no mirror on the node ({', '.join(MIRRORED)})")
    return rest


def local_images() -> list[str]:
    listing = podman("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    return sorted({ref for ref in listing if ref.startswith(PUSHED) and not ref.endswith(":<none>")})


def push(registry: str, refs: list[str] | None = None, log: Path | None = None) -> dict[str, float]:
    """Push `refs` (default: every image the cluster runs) to `registry`; seconds per image."""
    took = {}
    for ref in refs if refs is not None else local_images():
        started = time.monotonic()
        proc = podman("push", "--tls-verify=false", "--quiet", ref, f"docker://{registry}/{registry_path(ref)}")
        if proc.returncode != 0:
            raise RuntimeError(f"podman push {ref} to {registry} failed: {proc.stderr.strip()[-2000:]}")
        took[ref] = round(time.monotonic() - started, 2)
    if log is not None:
        log.write_text("".join(f"{ref} {seconds}s\n" for ref, seconds in took.items()))
    return took
