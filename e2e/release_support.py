"""What the release tests share: a real OCI registry on the loopback, and `scripts/release.sh` run
against it.

The registry is Debian's `docker-registry` (the CNCF distribution registry), started with the
smallest config that serves a directory on 127.0.0.1. It has the same surface as the local
cluster's `localcluster.registry.Registry` (start/stop, `address`, `digest`, `tags`), which
replaces it once that module is on main.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RELEASE = REPO / "scripts" / "release.sh"
BINARY = "docker-registry"
MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Registry:
    """`docker-registry serve` on 127.0.0.1:<free port>, storing under `state_dir`."""

    def __init__(self, state_dir: Path) -> None:
        self.state = state_dir
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self) -> Registry:
        binary = shutil.which(BINARY) or f"/usr/bin/{BINARY}"
        if not Path(binary).exists():
            raise RuntimeError(f"{BINARY} is not installed (Debian: apt-get install docker-registry)")
        self.state.mkdir(parents=True, exist_ok=True)
        config = self.state / "config.yml"
        config.write_text(json.dumps({  # JSON is YAML
            "version": 0.1, "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(self.state / "storage")}},
            "http": {"addr": self.address}}))
        self.proc = subprocess.Popen([binary, "serve", str(config)], stdout=open(self.state / "registry.log", "ab"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the registry did not start: {(self.state / 'registry.log').read_text()[-2000:]}")
            time.sleep(0.1)
        return self

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/v2/", timeout=2) as rsp:
                return rsp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def get(self, path: str, accept: str = MANIFEST_TYPES, method: str = "GET") -> tuple[Any, bytes]:
        request = urllib.request.Request(self.url + path, method=method, headers={"Accept": accept})
        with urllib.request.urlopen(request, timeout=10) as rsp:
            return rsp.headers, rsp.read()

    def digest(self, repository: str, reference: str) -> str | None:
        """The manifest digest served for `repository:reference` (None when absent)."""
        try:
            headers, _ = self.get(f"/v2/{repository}/manifests/{reference}", method="HEAD")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise
        return headers.get("Docker-Content-Digest")

    def manifest(self, repository: str, reference: str) -> dict[str, Any]:
        return json.loads(self.get(f"/v2/{repository}/manifests/{reference}")[1])

    def tags(self, repository: str) -> list[str]:
        try:
            return list(json.loads(self.get(f"/v2/{repository}/tags/list", accept="application/json")[1])
                        .get("tags") or [])
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise


def run_release(version: str, registry: str, out: Path, *extra: str,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`scripts/release.sh` as `make release` runs it; its summary is `<out>/release-<version>.json`."""
    tools = str(REPO / ".tools" / "bin")
    environ = {**os.environ, "PATH": f"{tools}:{os.environ.get('PATH', '')}", **(env or {})}
    return subprocess.run(["bash", str(RELEASE), version, "--registry", registry, "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=1800, env=environ)
