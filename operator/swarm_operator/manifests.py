"""The child objects of a SwarmTopic, as plain dicts (pure functions, no API calls).

Every child carries a controller ownerReference to the SwarmTopic (garbage collection does the
cleanup, so no finalizer is needed; the reconciler trusts a child only with it), the common
labels, and a spec-hash annotation of what the operator last applied (a spec change); drift
from someone else's edit is found by comparing content (`drift.py`).
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from . import names
from .models import ClientGroup, SwarmTopicSpec

# The host's identity is part of both pod templates: a new identity (the Secret was deleted and
# re-created) rolls the host onto the new seed and the clients onto the new pinned key.
ANNOTATION_HOST_PUBLIC_KEY = f"{names.GROUP}/host-public-key"
PEER_UID = 10001

POD_SECURITY_CONTEXT: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": PEER_UID,
    "runAsGroup": PEER_UID,
    "fsGroup": PEER_UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY_CONTEXT: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}
# The "restricted" Pod Security Standard, given to client pods whose template sets none.
RESTRICTED_POD: dict[str, Any] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
RESTRICTED_CONTAINER: dict[str, Any] = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def owner_reference(topic: dict[str, Any]) -> dict[str, Any]:
    meta = topic["metadata"]
    return {
        "apiVersion": names.API_VERSION,
        "kind": names.KIND,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _metadata(topic: dict[str, Any], name: str, component: str, owned: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": topic["metadata"]["namespace"],
        "labels": names.common_labels(topic["metadata"]["name"], component),
        "annotations": {},
    }
    if owned:
        meta["ownerReferences"] = [owner_reference(topic)]
    return meta


def spec_hash(obj: dict[str, Any]) -> str:
    """A digest of what the operator wants for a child (its annotation excluded)."""
    clean = copy.deepcopy(obj)
    clean["metadata"].get("annotations", {}).pop(names.ANNOTATION_SPEC_HASH, None)
    return hashlib.sha256(json.dumps(clean, sort_keys=True).encode()).hexdigest()[:16]


def with_spec_hash(obj: dict[str, Any]) -> dict[str, Any]:
    obj["metadata"].setdefault("annotations", {})[names.ANNOTATION_SPEC_HASH] = spec_hash(obj)
    return obj


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` wins; dicts merge recursively, everything else is replaced."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _secret(topic: dict[str, Any], name: str, key: str, value_hex: str) -> dict[str, Any]:
    meta = _metadata(topic, name, names.COMPONENT_HOST)
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque",
            "stringData": {key: value_hex}}


def volume_reference(volume: dict[str, Any]) -> dict[str, Any]:
    """An ownerReference to the host's PersistentVolumeClaim (not the controller)."""
    meta = volume["metadata"]
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": meta["name"], "uid": meta["uid"]}


def encryption_owners(topic: dict[str, Any], spec: SwarmTopicSpec, volume: dict[str, Any] | None) -> list[Any]:
    """The topic, and with `retainOnDelete` the host's volume: the key outlives the topic with the
    volume its base is stored on (garbage collection drops only the topic's reference)."""
    owners = [owner_reference(topic)]
    if spec.bootstrapHost.storage.retainOnDelete and volume is not None:
        owners.append(volume_reference(volume))
    return owners


def identity_secret(topic: dict[str, Any], seed_hex: str) -> dict[str, Any]:
    """The host's ed25519 seed: mounted into the host pod only. Its public half is written on the
    Secret's metadata, where the operator (which never reads Secret data) finds it."""
    from .identity import public_key_of

    secret = _secret(topic, names.identity_secret(topic["metadata"]["name"]), names.IDENTITY_SEED_KEY, seed_hex)
    secret["metadata"]["annotations"][ANNOTATION_HOST_PUBLIC_KEY] = public_key_of(seed_hex)
    return secret


def member_secret(topic: dict[str, Any], invite_seed_hex: str) -> dict[str, Any]:
    """The membership credential: the host and, unless HostOnly, the client pods."""
    return _secret(topic, names.member_secret(topic["metadata"]["name"]), names.MEMBER_SEED_KEY,
                   invite_seed_hex)


def encryption_secret(topic: dict[str, Any], key_hex: str, owners: list[Any] | None = None) -> dict[str, Any]:
    """The Autobase encryption key: the host and every client pod."""
    secret = _secret(topic, names.encryption_secret(topic["metadata"]["name"]), names.ENCRYPTION_KEY_KEY, key_hex)
    if owners is not None:
        secret["metadata"]["ownerReferences"] = owners
    return secret


def swarm_configmap(topic: dict[str, Any], spec: SwarmTopicSpec, host_public_key: str,
                    base_key: str | None) -> dict[str, Any]:
    """What the clients (and, once recorded, the host) read: the key is kept outside status."""
    name = topic["metadata"]["name"]
    data = {
        names.CM_TOPIC: spec.topic_of(name),
        names.CM_HOST_PUBLIC_KEY: host_public_key,
        names.CM_DHT_BOOTSTRAP: ",".join(spec.dht.bootstrap),
    }
    if base_key:
        data[names.CM_BASE_KEY] = base_key
    meta = _metadata(topic, names.swarm_configmap(name), names.COMPONENT_HOST)
    return with_spec_hash({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})


def host_selector(topic_name: str) -> dict[str, str]:
    return {names.LABEL_TOPIC: topic_name, names.LABEL_COMPONENT: names.COMPONENT_HOST}


def host_service(topic: dict[str, Any]) -> dict[str, Any]:
    name = topic["metadata"]["name"]
    return with_spec_hash({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(topic, names.host_service(name), names.COMPONENT_HOST),
        "spec": {
            "clusterIP": "None",
            # The host is discoverable before it is Ready: its readiness is the announce itself.
            "publishNotReadyAddresses": True,
            "selector": host_selector(name),
            "ports": [{"name": names.STATUS_PORT_NAME, "port": names.DEFAULT_STATUS_PORT,
                       "targetPort": names.STATUS_PORT_NAME, "protocol": "TCP"}],
        },
    })


def _env_value(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value}


def _env_pod_ip(name: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}


def _env_from_configmap(name: str, configmap: str, key: str, optional: bool) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"configMapKeyRef": {"name": configmap, "key": key,
                                                            "optional": optional}}}


MEMBER_FILE = f"{names.MEMBER_MOUNT_PATH}/{names.MEMBER_SEED_KEY}"
ENCRYPTION_FILE = f"{names.ENCRYPTION_MOUNT_PATH}/{names.ENCRYPTION_KEY_KEY}"


def _secret_volume(volume: str, secret: str, mode: int = 0o440) -> dict[str, Any]:
    """Read-only Secret files: 0440 in the host pod (its fsGroup owns them); 0444 in client pods,
    whose templates may run as any non-root user without an fsGroup."""
    return {"name": volume, "secret": {"secretName": secret, "defaultMode": mode}}


def _mount(volume: str, path: str) -> dict[str, Any]:
    return {"name": volume, "mountPath": path, "readOnly": True}


def clients_are_members(spec: SwarmTopicSpec) -> bool:
    return spec.writers.policy != names.POLICY_HOST_ONLY


def host_env(topic_name: str, spec: SwarmTopicSpec) -> list[dict[str, Any]]:
    configmap = names.swarm_configmap(topic_name)
    return [
        _env_value(names.ENV_TOPIC, spec.topic_of(topic_name)),
        _env_value(names.ENV_DATA_DIR, names.DATA_MOUNT_PATH),
        _env_value(names.ENV_IDENTITY_SEED_FILE, f"{names.IDENTITY_MOUNT_PATH}/{names.IDENTITY_SEED_KEY}"),
        _env_value(names.ENV_MEMBER_SEED_FILE, MEMBER_FILE),
        _env_value(names.ENV_ENCRYPTION_KEY_FILE, ENCRYPTION_FILE),
        _env_value(names.ENV_WRITERS_POLICY, spec.writers.policy),
        *([_env_value(names.ENV_WRITER_IDLE_MS, str(spec.writers.idleSeconds * 1000))]
          if spec.writers.idleSeconds is not None else []),
        _env_value(names.ENV_DHT_BOOTSTRAP, ",".join(spec.dht.bootstrap)),
        _env_pod_ip(names.ENV_DHT_HOST),
        _env_value(names.ENV_STATUS_PORT, str(names.DEFAULT_STATUS_PORT)),
        # Unset until recorded (or adopted), then present at every later start: a host that lost
        # its disk rejoins the recorded base. From the ConfigMap, so recording does not restart it.
        _env_from_configmap(names.ENV_BASE_KEY, configmap, names.CM_BASE_KEY, optional=True),
    ]


def client_env(topic_name: str, spec: SwarmTopicSpec) -> list[dict[str, Any]]:
    configmap = names.swarm_configmap(topic_name)
    member = [_env_value(names.ENV_MEMBER_SEED_FILE, MEMBER_FILE)] if clients_are_members(spec) else []
    return [
        _env_value(names.ENV_TOPIC, spec.topic_of(topic_name)),
        *member,
        _env_value(names.ENV_ENCRYPTION_KEY_FILE, ENCRYPTION_FILE),
        _env_value(names.ENV_WRITERS_POLICY, spec.writers.policy),
        _env_value(names.ENV_DHT_BOOTSTRAP, ",".join(spec.dht.bootstrap)),
        _env_pod_ip(names.ENV_DHT_HOST),
        _env_value(names.ENV_REQUIRE_BOOTSTRAP, "true"),
        # Not optional: a client container cannot start before the key is in the ConfigMap.
        _env_from_configmap(names.ENV_BASE_KEY, configmap, names.CM_BASE_KEY, optional=False),
        _env_from_configmap(names.ENV_HOST_PUBLIC_KEY, configmap, names.CM_HOST_PUBLIC_KEY,
                            optional=False),
    ]


def _replace_named(theirs: list[dict[str, Any]], ours: list[dict[str, Any]], key: str = "name") -> list[Any]:
    """`theirs` with the operator's entries replacing the same-named ones."""
    mine = {e[key] for e in ours}
    return [e for e in theirs if e.get(key) not in mine] + ours


def _with_env(container: dict[str, Any], env: list[dict[str, Any]],
              mounts: list[dict[str, Any]]) -> dict[str, Any]:
    out = {**container, "env": _replace_named(container.get("env", []), env)}
    out["volumeMounts"] = _replace_named(container.get("volumeMounts", []), mounts, "mountPath")
    if "securityContext" not in out:
        out["securityContext"] = copy.deepcopy(RESTRICTED_CONTAINER)
    return out


def _host_container(topic_name: str, spec: SwarmTopicSpec, peer_image: str) -> dict[str, Any]:
    host = spec.bootstrapHost
    return {
        "name": names.HOST_CONTAINER,
        "image": host.image or peer_image,
        "args": ["host"],
        "ports": [{"name": names.STATUS_PORT_NAME, "containerPort": names.DEFAULT_STATUS_PORT,
                   "protocol": "TCP"}],
        "env": host_env(topic_name, spec),
        "volumeMounts": [
            {"name": names.DATA_VOLUME, "mountPath": names.DATA_MOUNT_PATH},
            _mount(names.IDENTITY_VOLUME, names.IDENTITY_MOUNT_PATH),
            _mount(names.MEMBER_VOLUME, names.MEMBER_MOUNT_PATH),
            _mount(names.ENCRYPTION_VOLUME, names.ENCRYPTION_MOUNT_PATH),
        ],
        # Ready means the announce has flushed (SPEC section 4), not merely "process up".
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": names.STATUS_PORT_NAME},
                           "periodSeconds": 2, "failureThreshold": 1, "timeoutSeconds": 2},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": names.STATUS_PORT_NAME},
                          "initialDelaySeconds": 10, "periodSeconds": 10, "failureThreshold": 6},
        "resources": host.resources,
        "securityContext": CONTAINER_SECURITY_CONTEXT,
    }


def host_statefulset(topic: dict[str, Any], spec: SwarmTopicSpec, peer_image: str,
                     host_public_key: str) -> dict[str, Any]:
    name = topic["metadata"]["name"]
    host = spec.bootstrapHost
    labels = names.common_labels(name, names.COMPONENT_HOST)
    container = _host_container(name, spec, peer_image)
    ours: dict[str, Any] = {
        "metadata": {"labels": labels, "annotations": {ANNOTATION_HOST_PUBLIC_KEY: host_public_key}},
        "spec": {
            "securityContext": POD_SECURITY_CONTEXT,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 30,
            "containers": [container],
            "volumes": [_secret_volume(names.IDENTITY_VOLUME, names.identity_secret(name)),
                        _secret_volume(names.MEMBER_VOLUME, names.member_secret(name)),
                        _secret_volume(names.ENCRYPTION_VOLUME, names.encryption_secret(name))],
        },
    }
    template = deep_merge(host.template, ours)
    claim_spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                                  "resources": {"requests": {"storage": host.storage.size}}}
    if host.storage.storageClassName:
        claim_spec["storageClassName"] = host.storage.storageClassName
    return with_spec_hash({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _metadata(topic, names.host_statefulset(name), names.COMPONENT_HOST),
        "spec": {
            "replicas": 1,
            "serviceName": names.host_service(name),
            "selector": {"matchLabels": host_selector(name)},
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": "Retain" if host.storage.retainOnDelete else "Delete",
                "whenScaled": "Retain",
            },
            "template": template,
            "volumeClaimTemplates": [{
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": names.DATA_VOLUME, "labels": host_selector(name)},
                "spec": claim_spec,
            }],
        },
    })


def client_selector(topic_name: str, group: str) -> dict[str, str]:
    return {names.LABEL_TOPIC: topic_name, names.LABEL_CLIENT: group}


def _client_pod_spec(topic_name: str, spec: SwarmTopicSpec, pod_spec: dict[str, Any]) -> None:
    """The operator's env, Secret files and safe defaults in a client pod spec (in place)."""
    volumes = [_secret_volume(names.ENCRYPTION_VOLUME, names.encryption_secret(topic_name), 0o444)]
    mounts = [_mount(names.ENCRYPTION_VOLUME, names.ENCRYPTION_MOUNT_PATH)]
    if clients_are_members(spec):
        volumes.insert(0, _secret_volume(names.MEMBER_VOLUME, names.member_secret(topic_name), 0o444))
        mounts.insert(0, _mount(names.MEMBER_VOLUME, names.MEMBER_MOUNT_PATH))
    env = client_env(topic_name, spec)
    for key in ("containers", "initContainers"):
        if key in pod_spec:
            pod_spec[key] = [_with_env(c, env, mounts) for c in pod_spec[key]]
    pod_spec["volumes"] = _replace_named(pod_spec.get("volumes", []), volumes)
    if "securityContext" not in pod_spec:
        pod_spec["securityContext"] = copy.deepcopy(RESTRICTED_POD)


def client_deployment(topic: dict[str, Any], spec: SwarmTopicSpec, group: ClientGroup,
                      host_public_key: str, replicas: int | None) -> dict[str, Any]:
    """A client group's Deployment; `replicas` None leaves spec.replicas to an HPA or to hand scaling."""
    name = topic["metadata"]["name"]
    labels = {**names.common_labels(name, names.COMPONENT_CLIENT), names.LABEL_CLIENT: group.name}
    template = copy.deepcopy(group.template)
    meta = template.setdefault("metadata", {})
    meta["labels"] = {**meta.get("labels", {}), **labels}
    meta["annotations"] = {**meta.get("annotations", {}), ANNOTATION_HOST_PUBLIC_KEY: host_public_key}
    _client_pod_spec(name, spec, template.setdefault("spec", {}))
    metadata = _metadata(topic, names.client_deployment(name, group.name), names.COMPONENT_CLIENT)
    metadata["labels"][names.LABEL_CLIENT] = group.name
    body: dict[str, Any] = {"selector": {"matchLabels": client_selector(name, group.name)}, "template": template}
    if replicas is not None:
        body = {"replicas": replicas, **body}
    return with_spec_hash({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": body})
