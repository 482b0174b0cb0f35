"""The local cluster's OCI registry (Debian's docker-registry): an image pushed through the
distribution API is served by digest, and stays across a restart on the same storage."""

from __future__ import annotations

import hashlib
import json
import shutil
import urllib.request
from pathlib import Path

import pytest
from localcluster.registry import Registry, RegistryError

pytestmark = pytest.mark.skipif(shutil.which("docker-registry") is None,
                                reason="docker-registry is not installed (apt-get install docker-registry)")

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _request(url: str, method: str, body: bytes = b"", content_type: str = "application/octet-stream"):  # type: ignore[no-untyped-def]
    request = urllib.request.Request(url, data=body if method != "POST" else None, method=method,
                                     headers={"Content-Type": content_type})
    return urllib.request.urlopen(request, timeout=10)


def _push_blob(registry: Registry, repo: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with _request(f"{registry.url}/v2/{repo}/blobs/uploads/", "POST") as rsp:
        location = rsp.headers["Location"]
    if location.startswith("/"):
        location = registry.url + location
    sep = "&" if "?" in location else "?"
    with _request(f"{location}{sep}digest={digest}", "PUT", data) as rsp:
        assert rsp.status == 201
    return digest


def _push_image(registry: Registry, repo: str, tag: str) -> str:
    """A one-layer OCI image pushed the way podman pushes one: blobs, then the manifest by tag."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = b"not really a tarball, but the registry stores any blob"
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config),
                   "digest": _push_blob(registry, repo, config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "size": len(layer),
                    "digest": _push_blob(registry, repo, layer)}],
    }).encode()
    with _request(f"{registry.url}/v2/{repo}/manifests/{tag}", "PUT", manifest, OCI_MANIFEST) as rsp:
        assert rsp.status == 201
        return rsp.headers["Docker-Content-Digest"]


def test_a_pushed_image_is_served_by_digest_and_survives_a_restart(tmp_path: Path) -> None:
    with Registry(tmp_path) as registry:
        assert registry.ready()
        assert registry.tags("swarm-operator/swarm-peer") == []
        pushed = _push_image(registry, "swarm-operator/swarm-peer", "0.1.0")
        assert pushed.startswith("sha256:")
        assert registry.digest("swarm-operator/swarm-peer", "0.1.0") == pushed
        assert registry.digest("swarm-operator/swarm-peer", pushed) == pushed
        assert registry.tags("swarm-operator/swarm-peer") == ["0.1.0"]
        port = registry.port
    assert not registry.ready(), "the registry still answers after stop()"
    with Registry(tmp_path) as again:  # same storage, another free port
        assert again.digest("swarm-operator/swarm-peer", "0.1.0") == pushed
    assert port and (tmp_path / "storage" / "docker" / "registry" / "v2").is_dir()


def test_it_listens_on_the_loopback_only(tmp_path: Path) -> None:
    with Registry(tmp_path) as registry:
        assert f"addr: 127.0.0.1:{registry.port}" in registry.config.read_text()


def test_a_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="apt-get install docker-registry"):
        Registry(tmp_path, binary=str(tmp_path / "no-such-registry")).start()
