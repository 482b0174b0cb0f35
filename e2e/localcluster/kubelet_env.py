"""A container's environment and security settings, resolved as the kubelet resolves them.

env values with `$(VAR)` expansion, the downward API (`fieldRef`), ConfigMap and Secret refs
(a missing non-optional one is CreateContainerConfigError), envFrom, the KUBERNETES_SERVICE_*
variables of the API server, `$(VAR)` in command and args, and the securityContext (pod-level
defaults under container-level values, the runAsNonRoot check against the image's user).
"""

from __future__ import annotations

import base64
import re
from typing import Any

from .kubelet_api import Api
from .runtime import ImageInfo, SecurityConfig

VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
LABEL_REF = re.compile(r"metadata\.(labels|annotations)\['([^']+)'\]")


class ConfigError(Exception):
    """The container cannot be configured: its status is waiting CreateContainerConfigError."""


def expand(text: str, env: dict[str, str]) -> str:
    return VAR_REF.sub(lambda m: env.get(m.group(1), m.group(0)), text)


def field_value(pod: dict[str, Any], path: str) -> str:
    meta, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
    simple = {
        "metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"), "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"), "status.podIP": status.get("podIP"),
        "status.hostIP": status.get("hostIP"),
    }
    if path in simple:
        return str(simple[path] or "")
    if path == "status.podIPs":
        return ",".join(p["ip"] for p in status.get("podIPs", []))
    if path in ("metadata.labels", "metadata.annotations"):
        items = meta.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    match = LABEL_REF.fullmatch(path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    raise ConfigError(f"unsupported fieldPath {path}")


async def _ref_value(api: Api, ns: str, kind: str, ref: dict[str, Any]) -> str | None:
    obj = await api.get_or_none(f"/api/v1/namespaces/{ns}/{kind}s/{ref['name']}")
    data = (obj or {}).get("data") or {}
    if ref["key"] not in data:
        if ref.get("optional"):
            return None
        if obj is None:
            raise ConfigError(f'{kind} "{ref["name"]}" not found')
        raise ConfigError(f"couldn't find key {ref['key']} in {kind} {ns}/{ref['name']}")
    value = data[ref["key"]]
    return base64.b64decode(value).decode(errors="replace") if kind == "secret" else str(value)


async def _env_from(api: Api, ns: str, sources: list[dict[str, Any]], env: dict[str, str]) -> None:
    for source in sources:
        kind = "secret" if "secretRef" in source else "configmap"
        ref = source.get("secretRef") or source.get("configMapRef") or {}
        obj = await api.get_or_none(f"/api/v1/namespaces/{ns}/{kind}s/{ref.get('name')}")
        if obj is None:
            if ref.get("optional"):
                continue
            raise ConfigError(f'{kind} "{ref.get("name")}" not found')
        for key, value in (obj.get("data") or {}).items():
            text = base64.b64decode(value).decode(errors="replace") if kind == "secret" else value
            env[source.get("prefix", "") + key] = text


async def container_env(api: Api, pod: dict[str, Any], container: dict[str, Any],
                        service: tuple[str, int]) -> dict[str, str]:
    ns = pod["metadata"]["namespace"]
    host, port = service
    env: dict[str, str] = {
        "KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": str(port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(port), "KUBERNETES_PORT": f"tcp://{host}:{port}",
        f"KUBERNETES_PORT_{port}_TCP": f"tcp://{host}:{port}",
        f"KUBERNETES_PORT_{port}_TCP_PROTO": "tcp", f"KUBERNETES_PORT_{port}_TCP_PORT": str(port),
        f"KUBERNETES_PORT_{port}_TCP_ADDR": host,
    }
    await _env_from(api, ns, container.get("envFrom", []), env)
    for item in container.get("env", []):
        name, source = item["name"], item.get("valueFrom")
        if source is None:
            env[name] = expand(str(item.get("value", "")), env)
        elif "fieldRef" in source:
            env[name] = field_value(pod, source["fieldRef"]["fieldPath"])
        elif "configMapKeyRef" in source or "secretKeyRef" in source:
            kind = "secret" if "secretKeyRef" in source else "configmap"
            value = await _ref_value(api, ns, kind, source.get("secretKeyRef") or source["configMapKeyRef"])
            if value is not None:
                env[name] = value
        elif "resourceFieldRef" in source:
            env[name] = "0"
    return env


def security(pod: dict[str, Any], container: dict[str, Any], image: ImageInfo | None) -> SecurityConfig:
    pod_sc = pod["spec"].get("securityContext") or {}
    sc = {**pod_sc, **(container.get("securityContext") or {})}
    caps = sc.get("capabilities") or {}
    groups = list(pod_sc.get("supplementalGroups") or [])
    if pod_sc.get("fsGroup") is not None:
        groups.append(int(pod_sc["fsGroup"]))
    config = SecurityConfig(
        user=sc.get("runAsUser"), group=sc.get("runAsGroup"), supplemental_groups=groups,
        read_only_root=bool(sc.get("readOnlyRootFilesystem")),
        no_new_privileges=sc.get("allowPrivilegeEscalation") is False,
        cap_drop=[c.lower() for c in caps.get("drop", [])], cap_add=[c.lower() for c in caps.get("add", [])],
        privileged=bool(sc.get("privileged")))
    if sc.get("runAsNonRoot"):
        _check_non_root(config.user, image)
    return config


def _check_non_root(user: int | None, image: ImageInfo | None) -> None:
    """The kubelet's verifyRunAsNonRoot, with its messages."""
    if user is not None:
        if int(user) == 0:
            raise ConfigError("container's runAsUser breaks non-root policy")
        return
    image_user = (image.user if image else "").split(":", 1)[0]
    if not image_user or image_user in ("0", "root"):
        raise ConfigError("container has runAsNonRoot and image will run as root")
    if not image_user.isdigit():
        raise ConfigError(f"container has runAsNonRoot and image has non-numeric user ({image_user}), "
                          "cannot verify user is non-root")
