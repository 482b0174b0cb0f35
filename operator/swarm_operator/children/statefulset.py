"""The host StatefulSet `<name>-host` (host contract: docs/host-contract.md)."""

from __future__ import annotations

from typing import Any

from .. import names
from ..models import SwarmTopicSpec
from ..podpolicy import restricted_defaults
from . import pods
from .common import ANNOTATION_HOST_PUBLIC_KEY, Inputs, deep_merge, metadata, with_spec_hash
from .service import host_selector


def host_env(topic_name: str, spec: SwarmTopicSpec) -> list[dict[str, Any]]:
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
    ]


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
            pods.mount(names.IDENTITY_VOLUME, names.IDENTITY_MOUNT_PATH),
            pods.mount(names.MEMBER_VOLUME, names.MEMBER_MOUNT_PATH),
            pods.mount(names.ENCRYPTION_VOLUME, names.ENCRYPTION_MOUNT_PATH),
        ],
        # Ready means the announce has flushed (SPEC section 4), not merely "process up".
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": names.STATUS_PORT_NAME},
                           "periodSeconds": 2, "failureThreshold": 1, "timeoutSeconds": 2},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": names.STATUS_PORT_NAME},
                          "initialDelaySeconds": 10, "periodSeconds": 10, "failureThreshold": 6},
        "resources": host.resources,
        "securityContext": pods.CONTAINER_SECURITY_CONTEXT,
    }


def host_statefulset(inputs: Inputs) -> dict[str, Any]:
    name, spec = inputs.name, inputs.spec
    host = spec.bootstrapHost
    labels = names.common_labels(name, names.COMPONENT_HOST)
    annotations = {ANNOTATION_HOST_PUBLIC_KEY: inputs.host_public_key}
    if inputs.member_seed_id:
        annotations[names.ANNOTATION_MEMBER_SEED_ID] = inputs.member_seed_id
    ours: dict[str, Any] = {
        "metadata": {"labels": labels, "annotations": annotations},
        "spec": {
            "securityContext": pods.POD_SECURITY_CONTEXT,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 30,
            "containers": [_host_container(name, spec, inputs.peer_image)],
            "volumes": [pods.secret_volume(names.IDENTITY_VOLUME, names.identity_secret(name)),
                        pods.secret_volume(names.MEMBER_VOLUME, names.member_secret(name)),
                        pods.secret_volume(names.ENCRYPTION_VOLUME, names.encryption_secret(name))],
        },
    }
    template = deep_merge(host.template, ours)
    restricted_defaults(template["spec"])  # the template's initContainers
    claim_spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                                  "resources": {"requests": {"storage": host.storage.size}}}
    if host.storage.storageClassName:
        claim_spec["storageClassName"] = host.storage.storageClassName
    return with_spec_hash({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(inputs.topic, names.host_statefulset(name), names.COMPONENT_HOST),
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
