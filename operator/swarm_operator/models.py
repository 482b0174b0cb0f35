"""The SwarmTopic API (v1alpha1) as pydantic models: the single source of the CRD's schema.

`crds/swarmtopics.swarm-operator.dev.yaml` is generated from these models (`make crd`), and the
operator validates every spec it reads with them again, because a CRD applied without its schema
(or an older one) lets anything through.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

HEX64_OR_EMPTY = r"^([0-9a-f]{64})?$"
HEX64 = r"^[0-9a-f]{64}$"
# A client group's name becomes part of a Deployment name and of pod names.
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
HOST_PORT = r"^[A-Za-z0-9.-]+:[0-9]{1,5}$"
QUANTITY = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"
MAX_TOPIC_NAME = 40  # `data-<name>-host-0` and the StatefulSet's revision label must stay <= 63
MAX_CLIENT_NAME = 20  # `<name>-<client>-<hash>-<suffix>` pod names


class _Model(BaseModel):
    # Unknown fields are an error: a typo in a spec must not be silently ignored.
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Storage(_Model):
    """The bootstrap host's PersistentVolumeClaim (its Corestore)."""

    size: str = Field("1Gi", pattern=QUANTITY, description="Requested size of the host's volume.")
    storageClassName: str | None = Field(None, description="StorageClass; null = the default class.")
    retainOnDelete: bool = Field(
        True,
        description="Keep the volume when the SwarmTopic is deleted, so re-creating it reopens the "
        "same base (persistentVolumeClaimRetentionPolicy whenDeleted: Retain).",
    )


class Dht(_Model):
    bootstrap: list[str] = Field(
        default_factory=list,
        description='DHT bootstrap nodes as "host:port"; empty = the public DHT.',
        json_schema_extra={"items": {"type": "string", "pattern": HOST_PORT}},
    )

    @field_validator("bootstrap")
    @classmethod
    def _host_ports(cls, value: list[str]) -> list[str]:
        import re

        for entry in value:
            if not re.match(HOST_PORT, entry):
                raise ValueError(f"{entry!r} is not host:port")
        return value


class BootstrapHost(_Model):
    image: str = Field("", description="Image of the host; empty = the operator's swarm-peer image.")
    announceTimeoutSeconds: int = Field(
        300, ge=1, le=86400,
        description="Bound on the wait for the host's flushed announce; then HostReady=False "
        "(AnnounceTimeout) and a Warning event, while the operator keeps retrying.",
    )
    storage: Storage = Field(default_factory=Storage)
    resources: dict[str, Any] = Field(
        default_factory=dict, description="ResourceRequirements of the host container.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    template: dict[str, Any] = Field(
        default_factory=dict,
        description="PodTemplateSpec overrides of the host pod (labels, annotations, tolerations, ...).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )


class ClientGroup(_Model):
    """One client Deployment."""

    name: str = Field(..., min_length=1, max_length=MAX_CLIENT_NAME, pattern=DNS_LABEL,
                      description="Name of the group; the Deployment is <topic name>-<name>.")
    replicas: int = Field(1, ge=0, le=10000, description="Client replicas once the base key is recorded.")
    template: dict[str, Any] = Field(
        ..., description="PodTemplateSpec of the clients, as in a Deployment.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )

    @field_validator("template")
    @classmethod
    def _has_containers(cls, value: dict[str, Any]) -> dict[str, Any]:
        containers = (value.get("spec") or {}).get("containers")
        if not isinstance(containers, list) or not containers:
            raise ValueError("template.spec.containers must list at least one container")
        return value


class SwarmTopicSpec(_Model):
    topic: str | None = Field(
        None, min_length=1, max_length=256,
        description="The Hyperswarm topic string; defaults to metadata.name. Immutable.",
    )
    baseKey: str | None = Field(
        None, pattern=HEX64_OR_EMPTY,
        description="Adopt an existing Autobase (64 hex) instead of creating one. Immutable once set.",
    )
    paused: bool = Field(False, description="true: the operator leaves the children alone.")
    dht: Dht = Field(default_factory=Dht)
    bootstrapHost: BootstrapHost = Field(default_factory=BootstrapHost)
    clients: list[ClientGroup] = Field(
        default_factory=list, description="One Deployment per entry; names are unique.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )

    @field_validator("clients")
    @classmethod
    def _unique_names(cls, value: list[ClientGroup]) -> list[ClientGroup]:
        seen: set[str] = set()
        for group in value:
            if group.name in seen:
                raise ValueError(f"client name {group.name!r} is used twice")
            seen.add(group.name)
        return value

    def topic_of(self, name: str) -> str:
        return self.topic or name

    def adopted_base_key(self) -> str | None:
        return self.baseKey or None


class Condition(_Model):
    """metav1.Condition."""

    type: str
    status: str = Field(..., json_schema_extra={"enum": ["True", "False", "Unknown"]})
    reason: str
    message: str = ""
    lastTransitionTime: str
    observedGeneration: int | None = None


class ClientStatus(_Model):
    name: str
    replicas: int
    readyReplicas: int = 0


class SwarmTopicStatus(_Model):
    observedGeneration: int | None = None
    phase: str | None = Field(
        None, json_schema_extra={"enum": ["Pending", "Bootstrapping", "Ready", "Degraded", "Paused"]},
        description="For display only; conditions are the API.",
    )
    topicHash: str | None = Field(None, pattern=HEX64)
    bootstrapTopicHash: str | None = Field(None, pattern=HEX64)
    hostPublicKey: str | None = Field(None, pattern=HEX64)
    baseKey: str | None = Field(None, pattern=HEX64, description="Recorded once, never overwritten.")
    baseKeyShort: str | None = Field(None, description="First 12 hex digits, for kubectl get.")
    writerKey: str | None = Field(None, pattern=HEX64)
    announcedAt: str | None = None
    bootstrapSeconds: float | None = None
    clientsReady: str | None = Field(None, description='"ready/desired" client replicas, for kubectl get.')
    clients: list[ClientStatus] = Field(default_factory=list)
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
