"""A client group's Deployment `<name>-<group>` (client contract: SPEC section 5)."""

from __future__ import annotations

from typing import Any

from .. import names
from ..models import ClientGroup, SwarmTopicSpec
from ..podpolicy import restricted_defaults
from . import pods
from .common import ANNOTATION_HOST_PUBLIC_KEY, Inputs, json_copy, metadata, with_spec_hash


def client_env(topic_name: str, spec: SwarmTopicSpec) -> list[dict[str, Any]]:
    configmap = names.swarm_configmap(topic_name)
    member = [pods.env_value(names.ENV_MEMBER_SEED_FILE, pods.MEMBER_FILE)] if pods.clients_are_members(spec) else []
    return [
        pods.env_value(names.ENV_TOPIC, spec.topic_of(topic_name)),
        *member,
        pods.env_value(names.ENV_ENCRYPTION_KEY_FILE, pods.ENCRYPTION_FILE),
        pods.env_value(names.ENV_WRITERS_POLICY, spec.writers.policy),
        pods.env_value(names.ENV_DHT_BOOTSTRAP, ",".join(spec.dht.bootstrap)),
        pods.env_pod_ip(names.ENV_DHT_HOST),
        pods.env_value(names.ENV_REQUIRE_BOOTSTRAP, "true"),
        # Not optional: a client container cannot start before the key is in the ConfigMap.
        pods.env_from_configmap(names.ENV_BASE_KEY, configmap, names.CM_BASE_KEY, optional=False),
        pods.env_from_configmap(names.ENV_HOST_PUBLIC_KEY, configmap, names.CM_HOST_PUBLIC_KEY, optional=False),
    ]


def client_selector(topic_name: str, group: str) -> dict[str, str]:
    return {names.LABEL_TOPIC: topic_name, names.LABEL_CLIENT: group}


def _client_pod_spec(topic_name: str, spec: SwarmTopicSpec, pod_spec: dict[str, Any]) -> None:
    """The operator's env, Secret files and safe defaults in a client pod spec (in place)."""
    volumes = [pods.secret_volume(names.ENCRYPTION_VOLUME, names.encryption_secret(topic_name), 0o444)]
    mounts = [pods.mount(names.ENCRYPTION_VOLUME, names.ENCRYPTION_MOUNT_PATH)]
    if pods.clients_are_members(spec):
        volumes.insert(0, pods.secret_volume(names.MEMBER_VOLUME, names.member_secret(topic_name), 0o444))
        mounts.insert(0, pods.mount(names.MEMBER_VOLUME, names.MEMBER_MOUNT_PATH))
    env = client_env(topic_name, spec)
    for key in ("containers", "initContainers"):
        if key in pod_spec:
            pod_spec[key] = [pods.with_env(c, env, mounts) for c in pod_spec[key]]
    pod_spec["volumes"] = pods.replace_named(pod_spec.get("volumes", []), volumes)
    restricted_defaults(pod_spec)
    # The peers never call the API server: no token unless the template asks for one.
    pod_spec.setdefault("automountServiceAccountToken", False)


def client_deployment(inputs: Inputs, group: ClientGroup, replicas: int | None) -> dict[str, Any]:
    """A client group's Deployment; `replicas` None leaves spec.replicas to an HPA or to hand scaling."""
    name = inputs.name
    labels = {**names.common_labels(name, names.COMPONENT_CLIENT), names.LABEL_CLIENT: group.name}
    template = json_copy(group.template)
    meta = template.setdefault("metadata", {})
    meta["labels"] = {**meta.get("labels", {}), **labels}
    meta["annotations"] = {**meta.get("annotations", {}), ANNOTATION_HOST_PUBLIC_KEY: inputs.host_public_key}
    if inputs.member_seed_id and pods.clients_are_members(inputs.spec):
        meta["annotations"][names.ANNOTATION_MEMBER_SEED_ID] = inputs.member_seed_id
    _client_pod_spec(name, inputs.spec, template.setdefault("spec", {}))
    meta_out = metadata(inputs.topic, names.client_deployment(name, group.name), names.COMPONENT_CLIENT)
    meta_out["labels"][names.LABEL_CLIENT] = group.name
    body: dict[str, Any] = {"selector": {"matchLabels": client_selector(name, group.name)}, "template": template}
    if replicas is not None:
        body = {"replicas": replicas, **body}
    return with_spec_hash({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta_out, "spec": body})
