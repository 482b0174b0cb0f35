"""The host StatefulSet `<name>-host` (host contract: docs/host-contract.md)."""

from __future__ import annotations

from typing import Any

from .. import names
from ..config import HOST_RESOURCES
from ..models import SwarmTopicSpec
from ..podpolicy import restricted_defaults
from . import pods
from .common import ANNOTATION_HOST_PUBLIC_KEY, Inputs, deep_merge, digest, json_copy, metadata, with_spec_hash
from .service import host_selector


def _several_env(hosts: int) -> list[dict[str, Any]]:
    """Several hosts: which one this is (its pod's ordinal), how many, and their own credential."""
    if hosts == 1:
        return []
    return [
        {"name": names.ENV_HOST_ORDINAL,
         "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{names.LABEL_POD_INDEX}']"}}},
        pods.env_value(names.ENV_HOST_REPLICAS, str(hosts)),
        pods.env_value(names.ENV_HOST_SEED_FILE, f"{names.HOSTS_MOUNT_PATH}/{names.HOST_SEED_KEY}"),
    ]


def _restore_env(topic_name: str, restored: bool) -> list[dict[str, Any]]:
    """A topic `swarm-operator restore` made: SWARM_RESTORE from the ConfigMap's optional `restore`,
    there from the StatefulSet's creation, so that the key's removal restarts no host (env is read at
    a container's start). Other topics have no reference: an operator upgrade rolls none of them."""
    if not restored:
        return []
    return [pods.env_from_configmap(names.ENV_RESTORE, names.swarm_configmap(topic_name), names.CM_RESTORE,
                                    optional=True)]


def host_env(topic_name: str, spec: SwarmTopicSpec, hosts: int = 1, restored: bool = False) -> list[dict[str, Any]]:
    configmap = names.swarm_configmap(topic_name)
    return [
        pods.env_value(names.ENV_TOPIC, spec.topic_of(topic_name)),
        pods.env_value(names.ENV_DATA_DIR, names.DATA_MOUNT_PATH),
        pods.env_value(names.ENV_IDENTITY_SEED_FILE, f"{names.IDENTITY_MOUNT_PATH}/{names.IDENTITY_SEED_KEY}"),
        pods.env_value(names.ENV_MEMBER_SEED_FILE, pods.MEMBER_FILE),
        pods.env_value(names.ENV_ENCRYPTION_KEY_FILE, pods.ENCRYPTION_FILE),
        pods.env_value(names.ENV_WRITERS_POLICY, spec.writers.policy),
        *([pods.env_value(names.ENV_WRITER_IDLE_MS, str(spec.writers.idleSeconds * 1000))]
          if spec.writers.idleSeconds is not None else []),
        pods.env_value(names.ENV_DHT_BOOTSTRAP, ",".join(spec.dht.bootstrap)),
        pods.env_pod_ip(names.ENV_DHT_HOST),
        pods.env_value(names.ENV_STATUS_PORT, str(names.DEFAULT_STATUS_PORT)),
        # Unset until recorded (or adopted), then present at every later start: a host that lost
        # its disk rejoins the recorded base. From the ConfigMap, so recording does not restart it.
        pods.env_from_configmap(names.ENV_BASE_KEY, configmap, names.CM_BASE_KEY, optional=True),
        *_several_env(hosts),
        *_restore_env(topic_name, restored),
    ]


def host_resources(theirs: dict[str, Any]) -> dict[str, Any]:
    """The host container's resources: the spec's, and for cpu and for memory, each where the spec names
    it in neither requests nor limits, the default request (and limit) of `config.HOST_RESOURCES`. Per
    resource, all the user's or all the default: never a default request above the user's limit."""
    out = json_copy(theirs)
    for resource in ("cpu", "memory"):
        if any(resource in (theirs.get(part) or {}) for part in ("requests", "limits")):
            continue
        for part, defaults in HOST_RESOURCES.items():
            if resource in defaults:
                out[part] = {**(out.get(part) or {}), resource: defaults[resource]}
    return out


def _host_container(topic_name: str, spec: SwarmTopicSpec, peer_image: str, hosts: int,
                    restored: bool) -> dict[str, Any]:
    host = spec.bootstrapHost
    return {
        "name": names.HOST_CONTAINER,
        "image": host.image or peer_image,
        "args": ["host"],
        "ports": [{"name": names.STATUS_PORT_NAME, "containerPort": names.DEFAULT_STATUS_PORT,
                   "protocol": "TCP"}],
        "env": host_env(topic_name, spec, hosts, restored),
        "volumeMounts": [
            {"name": names.DATA_VOLUME, "mountPath": names.DATA_MOUNT_PATH},
            pods.mount(names.IDENTITY_VOLUME, names.IDENTITY_MOUNT_PATH),
            pods.mount(names.MEMBER_VOLUME, names.MEMBER_MOUNT_PATH),
            pods.mount(names.ENCRYPTION_VOLUME, names.ENCRYPTION_MOUNT_PATH),
            *([pods.mount(names.HOSTS_VOLUME, names.HOSTS_MOUNT_PATH)] if hosts > 1 else []),
        ],
        # Ready means the announce has flushed (SPEC section 4), not merely "process up".
        # Every second (the kubelet's shortest period): the key is read once the pod is Ready, so a
        # probe period is added to every cold start (half of it on average, all of it at worst).
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": names.STATUS_PORT_NAME},
                           "periodSeconds": 1, "failureThreshold": 1, "timeoutSeconds": 1},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": names.STATUS_PORT_NAME},
                          "initialDelaySeconds": 10, "periodSeconds": 10, "failureThreshold": 6},
        "resources": host_resources(host.resources),
        "securityContext": pods.CONTAINER_SECURITY_CONTEXT,
    }


def _spread(name: str) -> dict[str, Any]:
    """Several hosts: apart on different nodes where the cluster has them (preferred, never required:
    a one-node cluster still runs them all)."""
    selector = {"matchLabels": host_selector(name)}
    return {
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": {"labelSelector": selector, "topologyKey": "kubernetes.io/hostname"}}]}},
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                       "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": selector}],
    }


def _template(inputs: Inputs) -> dict[str, Any]:
    name, spec = inputs.name, inputs.spec
    labels = names.common_labels(name, names.COMPONENT_HOST)
    keys = {names.host_public_key_annotation(n): key for n, key in enumerate(inputs.host_public_keys[1:], 1)}
    volumes = [pods.secret_volume(names.IDENTITY_VOLUME, names.identity_secret(name)),
               pods.secret_volume(names.MEMBER_VOLUME, names.member_secret(name)),
               pods.secret_volume(names.ENCRYPTION_VOLUME, names.encryption_secret(name))]
    if inputs.several_hosts:
        volumes.append(pods.secret_volume(names.HOSTS_VOLUME, names.hosts_secret(name)))
    annotations = {ANNOTATION_HOST_PUBLIC_KEY: inputs.host_public_key, **keys}
    if inputs.member_seed_id:  # a new member seed rolls the hosts onto it
        annotations[names.ANNOTATION_MEMBER_SEED_ID] = inputs.member_seed_id
    ours: dict[str, Any] = {
        "metadata": {"labels": labels, "annotations": annotations},
        "spec": {
            "securityContext": pods.POD_SECURITY_CONTEXT,
            "enableServiceLinks": False,
            # The host never calls the API server: no token in the pod (the template cannot ask for one).
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 30,
            "containers": [_host_container(name, spec, inputs.peer_image, inputs.hosts, inputs.restored)],
            "volumes": volumes,
        },
    }
    base = spec.bootstrapHost.template
    if inputs.several_hosts:  # the user's own affinity or spread, if any, wins
        base = deep_merge({"spec": _spread(name)}, base)
    template = deep_merge(base, ours)
    restricted_defaults(template["spec"])  # the template's initContainers
    return template


def template_hash(inputs: Inputs) -> str:
    """The digest of the host pods' template: another one rolls the hosts."""
    return digest(_template(inputs))


def host_statefulset(inputs: Inputs) -> dict[str, Any]:
    name, host = inputs.name, inputs.spec.bootstrapHost
    claim_spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                                  "resources": {"requests": {"storage": host.storage.size}}}
    if host.storage.storageClassName:
        claim_spec["storageClassName"] = host.storage.storageClassName
    spec: dict[str, Any] = {
        "replicas": inputs.host_replicas,
        "serviceName": names.host_service(name),
        "selector": {"matchLabels": host_selector(name)},
        "persistentVolumeClaimRetentionPolicy": {
            "whenDeleted": "Retain" if host.storage.retainOnDelete else "Delete",
            "whenScaled": "Retain",
        },
        "template": _template(inputs),
        # The operator moves the partition down one host at a time (the upgrade brake); pods of an
        # ordinal below it keep their template until then.
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": inputs.partition}},
        "volumeClaimTemplates": [{
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": names.DATA_VOLUME, "labels": host_selector(name)},
            "spec": claim_spec,
        }],
    }
    if inputs.several_hosts:
        # Each host is (re)made at once, whatever the others' state: one host down must never keep
        # another from coming back (OrderedReady would wait for its predecessors).
        spec["podManagementPolicy"] = "Parallel"
    meta = metadata(inputs.topic, names.host_statefulset(name), names.COMPONENT_HOST)
    meta["annotations"][names.ANNOTATION_TEMPLATE_HASH] = digest(spec["template"])
    return with_spec_hash({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta, "spec": spec})
