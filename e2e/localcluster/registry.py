"""A real OCI registry on the loopback: Debian's `docker-registry` package (the CNCF distribution
registry, v2.8), run with a config file of ours.

The local cluster pushes the images it built to it and the node pulls them from it, as a user's
cluster pulls from theirs; the release helper pushes the chart to it as an OCI artifact. It speaks
plain HTTP on 127.0.0.1 only (clients: `podman push --tls-verify=false`, `helm push --plain-http`,
containerd through a mirror whose host is `http://127.0.0.1:PORT`).

`Registry(state_dir).start()` serves `<state_dir>/storage` (kept across restarts: pass the same
directory and the blobs pushed before are still there, so a second push uploads nothing) on a free
port, or on `port` when given; `stop()` ends it. `address` is `127.0.0.1:PORT`.
"""

from __future__ import annotations

import json
import secrets
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .procs import Component, free_port, wait_until

BINARY = "docker-registry"  # Debian's package of the same name (apt-get install docker-registry)
DEFAULT_PORT = 5000  # the registry's own default; used only when asked for (`port=DEFAULT_PORT`)

CONFIG = """version: 0.1
log:
  level: warn
  accesslog: {{disabled: true}}
  fields: {{service: registry}}
storage:
  filesystem: {{rootdirectory: {root}}}
  delete: {{enabled: true}}
  cache: {{blobdescriptor: inmemory}}
http:
  addr: 127.0.0.1:{port}
  secret: {secret}
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver: {{enabled: true, interval: 10s, threshold: 3}}
"""


MANIFESTS = ", ".join([
    "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json"])


class RegistryError(RuntimeError):
    pass


class Registry:
    """The distribution registry serving `<state_dir>/storage` on 127.0.0.1."""

    def __init__(self, state_dir: Path, port: int | None = None, binary: str | None = None) -> None:
        self.state = state_dir
        self.storage = state_dir / "storage"
        self.config = state_dir / "config.yml"
        self.port = port or free_port()
        self.binary = binary or shutil.which(BINARY) or f"/usr/bin/{BINARY}"
        self.component: Component | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self, timeout: float = 30.0) -> Registry:
        if not Path(self.binary).exists():
            raise RegistryError(f"{BINARY} is not installed (Debian: apt-get install docker-registry)")
        self.storage.mkdir(parents=True, exist_ok=True)
        # The HTTP secret signs upload state between requests: random per start, never a user secret.
        self.config.write_text(CONFIG.format(root=self.storage, port=self.port, secret=secrets.token_hex(16)))
        self.component = Component("registry", [self.binary, "serve", str(self.config)], self.state / "logs")
        self.component.start()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until `GET /v2/` answers 200 (the API version check every client makes first)."""
        wait_until(f"the registry on {self.address}", self.ready, timeout, self.component)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/v2/", timeout=2) as rsp:
                return rsp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.component is not None:
            self.component.stop()
            self.component = None

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- reads (for tests and set-up checks) ------------------------------------------------

    def tags(self, repository: str) -> list[str]:
        """The tags of `repository` (e.g. `swarm-operator/swarm-peer`); [] when it does not exist."""
        try:
            body = self._get(f"/v2/{repository}/tags/list")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise
        return list(json.loads(body[1]).get("tags") or [])

    def digest(self, repository: str, reference: str) -> str | None:
        """The manifest digest the registry serves for `repository:reference` (None if absent):
        the `sha256:...` a node records in a pod's `imageID` after pulling it."""
        try:
            headers, _ = self._get(f"/v2/{repository}/manifests/{reference}", method="HEAD", accept=MANIFESTS)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise
        return headers.get("Docker-Content-Digest")

    def manifest(self, repository: str, reference: str) -> dict[str, Any]:
        """The manifest (JSON) the registry serves for `repository:reference`."""
        return dict(json.loads(self._get(f"/v2/{repository}/manifests/{reference}", accept=MANIFESTS)[1]))

    def _get(self, path: str, method: str = "GET", accept: str | None = None) -> tuple[Any, bytes]:
        request = urllib.request.Request(self.url + path, method=method,
                                         headers={"Accept": accept} if accept else {})
        with urllib.request.urlopen(request, timeout=10) as rsp:
            return rsp.headers, rsp.read()
