"""Pod volumes as host directories that the runtime bind-mounts at the containers' mount paths.

configMap, secret, downwardAPI and projected volumes (with serviceAccountToken sources, as the
ServiceAccount admission plugin injects them) are written the way the kubelet's atomic writer
does: the files live in a timestamped `..<ts>` directory, `..data` points at it, and each key is
a symlink through `..data`, so a refresh swaps every file at once inside running containers.
emptyDir is a directory of the pod (mode 0777) that goes with it; a persistentVolumeClaim is the
hostPath of the PersistentVolume bound to it (KCM's hostpath provisioner makes them), which
outlives the pod. With a pod `fsGroup`, files and claim directories get that group, as a volume
plugin with ownership management would give them.
"""

from __future__ import annotations

import base64
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .kubelet_api import Api, ApiError
from .kubelet_env import ConfigError, field_value

TOKEN_REFRESH_FRACTION = 0.8


class VolumePending(Exception):
    """A volume cannot be set up yet (claim unbound, object missing): the pod stays Pending."""


@dataclass
class File:
    data: bytes
    mode: int


@dataclass
class PodVolumes:
    """The host paths of one pod's volumes, and when its tokens need renewing."""

    paths: dict[str, Path] = field(default_factory=dict)
    token_deadline: float = float("inf")


def atomic_write(target: Path, files: dict[str, File], gid: int | None) -> None:
    target.mkdir(parents=True, exist_ok=True)
    stamp = target / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns()}"
    stamp.mkdir()
    for rel, item in files.items():
        path = stamp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(item.data)
        path.chmod(item.mode)
        if gid is not None:
            os.chown(path, -1, gid)
    for directory in [stamp, *(p for p in stamp.rglob("*") if p.is_dir())]:
        directory.chmod(0o755)
    tmp = target / "..data_tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(stamp.name)
    tmp.rename(target / "..data")
    tops = {rel.split("/", 1)[0] for rel in files}
    for top in tops:
        link = target / top
        if not link.is_symlink():
            link.symlink_to(f"..data/{top}")
    for old in target.iterdir():
        if old.name.startswith("..") and old.name not in ("..data", stamp.name):
            shutil.rmtree(old, ignore_errors=True)
        elif not old.name.startswith("..") and old.name not in tops:
            old.unlink(missing_ok=True)


def claim_dir(path: Path, gid: int | None) -> Path:
    """A claim's directory, group-writable by the pod's fsGroup (setgid, as ownership management does)."""
    path.mkdir(parents=True, exist_ok=True)
    if gid is not None and path.stat().st_gid != gid:
        os.chown(path, -1, gid)
        path.chmod(path.stat().st_mode | 0o2070)
    return path


def host_dir(path: Path, create: bool) -> Path:
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def _key_files(data: dict[str, bytes], items: list[dict[str, Any]] | None, mode: int,
               what: str) -> dict[str, File]:
    if not items:
        return {key: File(value, mode) for key, value in data.items()}
    files = {}
    for item in items:
        if item["key"] not in data:
            raise VolumePending(f"couldn't find key {item['key']} in {what}")
        files[item["path"]] = File(data[item["key"]], item.get("mode", mode))
    return files


class VolumeBuilder:
    """Materialises the volumes of pods on the host (one instance per kubelet)."""

    def __init__(self, api: Api) -> None:
        self.api = api

    async def _get(self, path: str) -> dict[str, Any] | None:
        """An object, or None; a 403 while the Node authorizer has not yet linked the pod's objects
        to this node is a volume not ready yet, as for a real kubelet."""
        try:
            return await self.api.get_or_none(path)
        except ApiError as err:
            if err.status == 403:
                raise VolumePending(f"not yet authorized to read {path}") from err
            raise

    async def _object_data(self, kind: str, ns: str, name: str, optional: bool) -> dict[str, bytes] | None:
        obj = await self._get(f"/api/v1/namespaces/{ns}/{kind}/{name}")
        if obj is None:
            if optional:
                return None
            raise VolumePending(f'{kind[:-1]} "{name}" not found')
        if kind == "secrets":
            return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
        data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
        return data

    async def _ref_files(self, kind: str, source: dict[str, Any], ns: str, mode: int) -> dict[str, File]:
        name = source.get("secretName") or source.get("name", "")
        data = await self._object_data(kind, ns, name, bool(source.get("optional")))
        if data is None:
            return {}
        return _key_files(data, source.get("items"), source.get("defaultMode", mode), f"{kind[:-1]} {ns}/{name}")

    @staticmethod
    def _downward_files(pod: dict[str, Any], items: list[dict[str, Any]], mode: int) -> dict[str, File]:
        files = {}
        for item in items:
            try:
                value = field_value(pod, item["fieldRef"]["fieldPath"]) if "fieldRef" in item else ""
            except ConfigError as err:
                raise VolumePending(str(err)) from err
            files[item["path"]] = File(value.encode(), item.get("mode", mode))
        return files

    async def _token(self, pod: dict[str, Any], source: dict[str, Any], volumes: PodVolumes) -> File:
        meta = pod["metadata"]
        sa = pod["spec"].get("serviceAccountName") or "default"
        expiration = int(source.get("expirationSeconds", 3600))
        spec: dict[str, Any] = {"expirationSeconds": expiration,
                                "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": meta["name"],
                                                   "uid": meta["uid"]}}
        if source.get("audience"):
            spec["audiences"] = [source["audience"]]
        try:
            answer = await self.api.post(f"/api/v1/namespaces/{meta['namespace']}/serviceaccounts/{sa}/token",
                                         {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                          "spec": spec})
        except ApiError as err:
            raise VolumePending(f"failed to fetch token: {err}") from err
        granted = int(answer["spec"].get("expirationSeconds") or expiration)
        volumes.token_deadline = min(volumes.token_deadline, time.monotonic() + TOKEN_REFRESH_FRACTION * granted)
        return File(answer["status"]["token"].encode(), source.get("mode", 0o600))

    async def _projected_files(self, pod: dict[str, Any], projected: dict[str, Any],
                               volumes: PodVolumes) -> dict[str, File]:
        ns = pod["metadata"]["namespace"]
        mode = projected.get("defaultMode", 0o644)
        files: dict[str, File] = {}
        for source in projected.get("sources", []):
            if "configMap" in source:
                files.update(await self._ref_files("configmaps", source["configMap"], ns, mode))
            elif "secret" in source:
                files.update(await self._ref_files("secrets", source["secret"], ns, mode))
            elif "downwardAPI" in source:
                files.update(self._downward_files(pod, source["downwardAPI"].get("items", []), mode))
            elif "serviceAccountToken" in source:
                token = source["serviceAccountToken"]
                files[token["path"]] = await self._token(pod, {**token, "mode": mode}, volumes)
        return files

    async def _claim_path(self, ns: str, claim: str, gid: int | None) -> Path:
        pvc = await self._get(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{claim}")
        if pvc is None or pvc["metadata"].get("deletionTimestamp"):
            raise VolumePending(f'persistentvolumeclaim "{claim}" not found')
        volume = pvc["spec"].get("volumeName")
        if not volume or (pvc.get("status") or {}).get("phase") != "Bound":
            raise VolumePending(f'persistentvolumeclaim "{claim}" is not bound')
        pv = await self._get(f"/api/v1/persistentvolumes/{volume}")
        host_path = ((pv or {}).get("spec") or {}).get("hostPath", {}).get("path")
        if not host_path:
            raise VolumePending(f"persistentvolume {volume} has no hostPath (only hostPath volumes mount here)")
        return claim_dir(Path(host_path), gid)

    async def _volume(self, pod: dict[str, Any], volume: dict[str, Any], pod_dir: Path, gid: int | None,
                      volumes: PodVolumes) -> Path:
        ns = pod["metadata"]["namespace"]
        target = pod_dir / "volumes" / volume["name"]
        if "emptyDir" in volume:
            target.mkdir(parents=True, exist_ok=True)
            target.chmod(0o777)
            return target
        if "persistentVolumeClaim" in volume:
            return await self._claim_path(ns, volume["persistentVolumeClaim"]["claimName"], gid)
        if "hostPath" in volume:
            return host_dir(Path(volume["hostPath"]["path"]), volume["hostPath"].get("type") == "DirectoryOrCreate")
        if "configMap" in volume:
            files = await self._ref_files("configmaps", volume["configMap"], ns, 0o644)
        elif "secret" in volume:
            files = await self._ref_files("secrets", volume["secret"], ns, 0o644)
        elif "downwardAPI" in volume:
            source = volume["downwardAPI"]
            files = self._downward_files(pod, source.get("items", []), source.get("defaultMode", 0o644))
        elif "projected" in volume:
            files = await self._projected_files(pod, volume["projected"], volumes)
        else:
            kind = next((k for k in volume if k != "name"), "?")
            raise VolumePending(f"volume type {kind} is not supported by this node")
        atomic_write(target, files, gid)
        return target

    async def build(self, pod: dict[str, Any], pod_dir: Path, volumes: PodVolumes) -> None:
        """(Re)write every volume of the pod; raises VolumePending for one that cannot be set up."""
        gid = (pod["spec"].get("securityContext") or {}).get("fsGroup")
        volumes.token_deadline = float("inf")
        for volume in pod["spec"].get("volumes", []):
            volumes.paths[volume["name"]] = await self._volume(pod, volume, pod_dir, gid, volumes)
