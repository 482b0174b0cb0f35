"""The tests' own small image: Debian minbase (debootstrap, as containers-facts.md describes) with
the host's Node binary copied in, so test pods can run UDP and HTTP servers. Built once and
cached by tag; the minbase root filesystem is cached under ~/.cache/swarm-operator/localcluster.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from localcluster.runtime_podman import podman_env

BASE = "localhost/localcluster-base:bookworm"
TEST_IMAGE = "localhost/localcluster-test:1"
CACHE = Path(os.environ.get("SWARM_CACHE_DIR", Path.home() / ".cache" / "swarm-operator")) / "localcluster"


def _podman(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], env=podman_env(), text=True, capture_output=True, check=False,
                          **kwargs)  # type: ignore[call-overload]


def image_exists(ref: str) -> bool:
    return _podman("image", "exists", ref).returncode == 0


def ensure_base() -> None:
    if image_exists(BASE):
        return
    rootfs = CACHE / "rootfs"
    if not (rootfs / "bin").exists():
        tmp = CACHE / "rootfs-tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        CACHE.mkdir(parents=True, exist_ok=True)
        print(">> localcluster tests: debootstrap --variant=minbase bookworm (once)", flush=True)
        subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(tmp)], check=True,
                       capture_output=True)
        tmp.rename(rootfs)
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    subprocess.run(["podman", "import", "-", BASE], stdin=tar.stdout, env=podman_env(), check=True,
                   capture_output=True)
    tar.wait()


def ensure_test_image() -> str:
    if image_exists(TEST_IMAGE):
        return TEST_IMAGE
    ensure_base()
    context = CACHE / "test-image"
    context.mkdir(parents=True, exist_ok=True)
    node = shutil.which("node") or "/usr/bin/node"
    shutil.copy2(node, context / "node")
    (context / "Containerfile").write_text(f"FROM {BASE}\nCOPY node /usr/local/bin/node\n")
    done = _podman("build", "--pull=never", "-t", TEST_IMAGE, str(context))
    if done.returncode != 0:
        raise RuntimeError(f"podman build of {TEST_IMAGE} failed: {done.stderr[-2000:]}")
    return TEST_IMAGE
