"""The SwarmTopic API (v1beta1, and v1alpha1 with the same schema) as pydantic models: the single
source of the CRD's schema.

`crds/swarmtopics.swarm-operator.dev.yaml` is generated from these models (`make crd`), and the
operator validates every spec it reads with them again, because a CRD applied without its schema
(or an older one) lets anything through.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .config import HOST_RESOURCES
from .reasons import Phase

HEX64_OR_EMPTY = r"^([0-9a-f]{64})?$"
HEX64 = r"^[0-9a-f]{64}$"
# A client group's name becomes part of a Deployment name and of pod names.
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# The SwarmTopic's own name prefixes a Service (`<name>-host`: a DNS-1035 label, so it starts
# with a letter and has no dots), the StatefulSet, its pod `<name>-host-0` and the StatefulSet's
# `controller-revision-hash` label value `<name>-host-<hash>` (<= 63 characters).
TOPIC_NAME = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
HOST_PORT = rf"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?:{PORT}$"
# A Kubernetes quantity greater than zero.
POSITIVE_QUANTITY = (r"^([1-9][0-9]*(\.[0-9]+)?|0?\.[0-9]*[1-9][0-9]*|0+[1-9][0-9]*(\.[0-9]+)?)"
                     r"(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
# The Hyperswarm topic string: not blank, no control characters.
TOPIC_STRING = r"^[^\x00-\x1F\x7F]*[^\s\x00-\x1F\x7F][^\x00-\x1F\x7F]*$"
# An image reference as the distribution library parses it: [domain[:port]/]path[:tag][@digest].
_DOMAIN = r"[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*(:[0-9]+)?"
_COMPONENT = r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*"
IMAGE_REF = (rf"^(({_DOMAIN})/)?{_COMPONENT}(/{_COMPONENT})*(:[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?"
             r"(@sha256:[0-9a-f]{64})?$")
MAX_IMAGE = 255
MAX_TOPIC_NAME = 40  # `data-<name>-host-0` and the StatefulSet's revision label must stay <= 63
MAX_CLIENT_NAME = 20  # `<name>-<client>-<hash>-<suffix>` pod names


def check_image(value: str, where: str) -> str:
    if len(value) > MAX_IMAGE or not re.match(IMAGE_REF, value):
        raise ValueError(f"{where}: {value[:80]!r} is not a well-formed image reference")
    return value


class _Model(BaseModel):
    # Unknown fields are an error: a typo in a spec must not be silently ignored.
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Storage(_Model):
    """The bootstrap host's PersistentVolumeClaim (its Corestore)."""

    size: str = Field("1Gi", pattern=POSITIVE_QUANTITY, max_length=32,
                      description='Requested size of the host\'s volume, a Kubernetes quantity greater than 0 '
                      '(e.g. "1Gi", "500Mi").')
    storageClassName: str | None = Field(
        None, description='StorageClass of the host\'s volume (e.g. "standard"); unset = the cluster\'s default class.')
    retainOnDelete: bool = Field(
        True,
        description="Keep the volume when the SwarmTopic is deleted, so re-creating it reopens the "
        "same base (persistentVolumeClaimRetentionPolicy whenDeleted: Retain).",
    )


class Dht(_Model):
    """Where the peers find the Hyperswarm DHT."""

    bootstrap: list[str] = Field(
        default_factory=list,
        description='DHT bootstrap nodes as "host:port", port 1-65535 (e.g. '
        '"swarm-dht-0.swarm-dht.default.svc:49737", "10.0.0.5:49737"); empty = the public Hyperswarm DHT.',
        json_schema_extra={"items": {"type": "string", "pattern": HOST_PORT, "maxLength": 260}},
    )

    @field_validator("bootstrap")
    @classmethod
    def _host_ports(cls, value: list[str]) -> list[str]:
        for entry in value:
            if len(entry) > 260 or not re.match(HOST_PORT, entry):
                raise ValueError(f"{entry[:80]!r} is not host:port with a port in 1-65535")
        return value


HOST_REPLICAS = (1, 3, 5)
REPLICAS_MESSAGE = "must be 1, 3 or 5: an odd number of indexer hosts, so a majority survives the loss of any one"


class BootstrapHost(_Model):
    """The bootstrap hosts: a StatefulSet of 1, 3 or 5 hosts, started before any client. Host 0
    creates (or reopens) the Autobase and announces the topic; the others join it as indexers."""

    replicas: int = Field(
        3, description="How many hosts serve the topic's base as its indexers (1, 3 or 5). Host 0 creates the base; "
        "the others join it and are promoted by the running indexers. With 3, the topic keeps confirming writes and "
        "admitting members through the loss of any one host, and a host that lost its disk heals itself; 1 has no "
        "such margin. Scaling up a live topic works; scaling down is refused (ScaleDownRefused).",
        json_schema_extra={"x-kubernetes-validations": [{"rule": "self in [1, 3, 5]", "message": REPLICAS_MESSAGE}]},
    )
    image: str = Field("", max_length=MAX_IMAGE, pattern=f"^$|{IMAGE_REF}",
                       description="Image of the host, a reference as in a container spec (e.g. "
                       '"ghcr.io/swarm-operator/swarm-peer:0.2.0"), optionally pinned by "@sha256:" and 64 hex '
                       "digits; empty = the operator's swarm-peer image (the chart's peerImage).")
    announceTimeoutSeconds: int = Field(
        300, ge=1, le=86400,
        description="Seconds (1-86400) the operator waits for the host's flushed announce (its pod Ready); "
        "then HostReady=False (AnnounceTimeout) and a Warning event, while the operator keeps retrying.",
    )
    storage: Storage = Field(default_factory=Storage,
                             description="The host's PersistentVolumeClaim, where its Corestore (the base) lives.")
    resources: dict[str, Any] = Field(
        default_factory=dict,
        description='ResourceRequirements of the host container, as in a container spec (e.g. '
        '{"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}). Of cpu and '
        "memory, each one named in neither requests nor limits gets the operator's default: requests cpu "
        f"{HOST_RESOURCES['requests']['cpu']} and memory {HOST_RESOURCES['requests']['memory']}, a memory limit "
        f"of {HOST_RESOURCES['limits']['memory']} (what a host serving a few busy clients uses, with room to grow), "
        "so the host, which holds the base, is never BestEffort (the first evicted).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    template: dict[str, Any] = Field(
        default_factory=dict,
        description="PodTemplateSpec overrides of the host pod (labels, annotations, tolerations, "
        "nodeSelector, ...), merged under what the operator sets (its container, volumes, security context).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )


    @field_validator("replicas")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value not in HOST_REPLICAS:
            raise ValueError(REPLICAS_MESSAGE)
        return value


class ClientGroup(_Model):
    """One client Deployment."""

    name: str = Field(..., min_length=1, max_length=MAX_CLIENT_NAME, pattern=DNS_LABEL,
                      description='Name of the group, a DNS label of at most 20 characters (e.g. "kv"); '
                      'the Deployment is "<topic name>-<name>".')
    replicas: int | None = Field(
        None, ge=0, le=10000,
        description="Client replicas once the base key is recorded, held there by the operator. "
        "Unset: the Deployment is created at minReplicas (or 1) once the key is recorded and then "
        "left to an HPA or to hand scaling.")
    minReplicas: int | None = Field(
        None, ge=0, le=10000,
        description="With replicas unset: the replicas the Deployment is created with (default 1).")
    template: dict[str, Any] = Field(
        ..., description="PodTemplateSpec of the clients, as in a Deployment (at least one container). The "
        "operator adds the SWARM_* environment, the Secret files and, where unset, a restricted security context.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )

    @field_validator("template")
    @classmethod
    def _has_containers(cls, value: dict[str, Any]) -> dict[str, Any]:
        containers = (value.get("spec") or {}).get("containers")
        if not isinstance(containers, list) or not containers:
            raise ValueError("template.spec.containers must list at least one container")
        for key in ("containers", "initContainers"):
            for i, container in enumerate((value.get("spec") or {}).get(key) or []):
                image = container.get("image") if isinstance(container, dict) else None
                if image is not None:
                    check_image(str(image), f"template.spec.{key}.{i}.image")
        return value

    def start_replicas(self) -> int:
        """The replicas a new Deployment of this group is created with."""
        if self.replicas is not None:
            return self.replicas
        return 1 if self.minReplicas is None else self.minReplicas


class Writers(_Model):
    """Who may write to the topic's Autobase."""

    policy: Literal["Clients", "HostOnly", "Open"] = Field(
        "Clients",
        description="Who may write to the base: Clients (the topic's client pods, by the membership "
        "credential), HostOnly (only the host; clients replicate and read), Open (anyone who asks: "
        "public apps only; a Warning event says so).")
    idleSeconds: int | None = Field(
        None, ge=1, le=604800,
        description="A writer not seen by the host for this long is removed from the base (a client "
        "that restarted with an empty disk joins as a new writer; the old one goes). Unset: the "
        "host's default, 900 s. The host and the base's last indexer are never removed.")


# What a NetworkPolicy rule and its peers and ports may hold (the API server checks the values).
_RULE_KEYS = {"ingress": {"from", "ports"}, "egress": {"to", "ports"}}
_PEER_KEYS = {"podSelector", "namespaceSelector", "ipBlock"}
_PORT_KEYS = {"port", "endPort", "protocol"}
_RULES = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def _check_rule(rule: Any, where: str, direction: str) -> None:
    if not isinstance(rule, dict):
        raise ValueError(f"{where} must be a NetworkPolicy {direction} rule (an object)")
    peers_key = "from" if direction == "ingress" else "to"
    if set(rule) - _RULE_KEYS[direction]:
        raise ValueError(f"{where} has {sorted(set(rule) - _RULE_KEYS[direction])}: an {direction} rule holds "
                         f"{peers_key} and ports only")
    for key, allowed in ((peers_key, _PEER_KEYS), ("ports", _PORT_KEYS)):
        items = rule.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) and set(i) <= allowed for i in items):
            raise ValueError(f"{where}.{key} must be a list of objects with {sorted(allowed)}")
    if peers_key in rule and not rule[peers_key]:
        raise ValueError(f"{where}.{peers_key} is empty, which a NetworkPolicy reads as \"everyone\": leave it out "
                         "to mean that")


class PeerNetwork(_Model):
    """The topic's NetworkPolicy `<name>-peers` over its host and client pods."""

    enabled: bool | None = Field(
        None, description="Give the topic's pods (host and clients) a NetworkPolicy `<name>-peers`: every port "
        "between the topic's own pods (DHT, holepunching, replication), UDP to and from the DHT's nodes (the "
        "chart's topicNetworkPolicy.dhtPeers, the IP addresses of spec.dht.bootstrap, and anywhere on the public "
        "DHT), the hosts' status port from the operator's pods (and topicNetworkPolicy.statusFrom), DNS, and "
        "nothing else. Unset: the operator's default (the chart's topicNetworkPolicy.enabled, true). Enforced "
        "by network plugins that enforce NetworkPolicies (Calico, Cilium, kube-router, ...).")
    ingress: list[dict[str, Any]] = Field(
        default_factory=list,
        description="More ingress rules for the topic's pods, as in a NetworkPolicy (`from`, `ports`): your app's "
        "own ports, e.g. [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ingress-nginx}}}], "
        "ports: [{port: 8081, protocol: TCP}]}]. Added to the operator's rules. For one client group alone, write a "
        "NetworkPolicy of your own selecting swarm-operator.dev/client: <group> (policies add up).",
        json_schema_extra={"items": _RULES})
    egress: list[dict[str, Any]] = Field(
        default_factory=list,
        description="More egress rules for the topic's pods, as in a NetworkPolicy (`to`, `ports`): what your app "
        "calls besides the swarm, e.g. [{to: [{ipBlock: {cidr: 10.0.0.0/8}}], ports: [{port: 5432}]}]. Added to "
        "the operator's rules.",
        json_schema_extra={"items": _RULES})

    @field_validator("ingress", "egress")
    @classmethod
    def _rules(cls, value: list[Any], info: Any) -> list[Any]:
        for i, rule in enumerate(value):
            _check_rule(rule, f"{info.field_name}.{i}", info.field_name)
        return value


class SwarmTopicSpec(_Model):
    topic: str | None = Field(
        None, min_length=1, max_length=256, pattern=TOPIC_STRING,
        description='The Hyperswarm topic string (e.g. "chat"; 1-256 characters, no control characters); '
        "defaults to metadata.name. Immutable.",
    )
    baseKey: str | None = Field(
        None, pattern=HEX64_OR_EMPTY,
        description="Adopt an existing Autobase instead of creating one: its key as 64 lower-case hex digits "
        '(32 bytes, e.g. "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"). '
        "Empty or unset: the host creates a base. Immutable once set.",
    )
    paused: bool = Field(False, description="true: the operator leaves the children alone (no creates, "
                         "updates or scaling) until it is false again.")
    dht: Dht = Field(default_factory=Dht, description="The DHT the host and the clients bootstrap from.")
    writers: Writers = Field(default_factory=Writers, description="Who may write to the base, and when an idle "
                             "writer is removed.")
    bootstrapHost: BootstrapHost = Field(default_factory=BootstrapHost,
                                         description="The bootstrap host, started first: it creates or reopens "
                                         "the base and announces the topic.")
    networkPolicy: PeerNetwork = Field(default_factory=PeerNetwork,
                                       description="The topic's NetworkPolicy (docs/network-policy.md).")
    clients: list[ClientGroup] = Field(
        default_factory=list, description="Client groups: one Deployment per entry (names are unique), scaled "
        "up only once the base key is recorded.",
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


class TopicName(_Model):
    """metadata.name, checked again here (the CRD checks it by a CEL rule)."""

    name: str = Field(..., min_length=1, max_length=MAX_TOPIC_NAME, pattern=TOPIC_NAME)


class Condition(_Model):
    """metav1.Condition."""

    type: str = Field(..., description="HostReady, HostsReady, Quorum, HostWritable, BaseKeyRecorded, ClientsReady, "
                      "Degraded, CredentialsBackedUp or Ready (the summary).")
    status: str = Field(..., json_schema_extra={"enum": ["True", "False", "Unknown"]},
                        description='"True", "False" or "Unknown".')
    reason: str = Field(..., description='Why, in one CamelCase word (e.g. "AnnounceFlushed", "AnnounceTimeout").')
    message: str = Field("", description="What happened and what to do, for people.")
    lastTransitionTime: str = Field(..., description='When status last changed, RFC 3339 (e.g. '
                                    '"2025-01-31T12:00:00Z").')
    observedGeneration: int | None = Field(None, description="The metadata.generation this condition was set "
                                           "from.")


class ClientStatus(_Model):
    """One client group's Deployment, as last observed."""

    name: str = Field(..., description="The client group (spec.clients[].name).")
    replicas: int = Field(..., description="Replicas its Deployment wants.")
    readyReplicas: int = Field(0, description="Replicas Ready.")


class HostStatus(_Model):
    """One host of the topic, as the operator last saw it."""

    ordinal: int = Field(..., description="The host's ordinal: its pod is <name>-host-<ordinal>; host 0 created "
                         "the base.")
    publicKey: str | None = Field(None, pattern=HEX64, description="The host's ed25519 identity (64 hex), which signs "
                                  "its reports.")
    ready: bool = Field(False, description="Its pod is Ready and its signed report verifies.")
    indexer: bool | None = Field(None, description="It is one of the base's active indexers (absent until it "
                                 "reports).")


class RestoreStatus(_Model):
    """A topic made by `swarm-operator restore` (annotation restored-from): its hosts' restore mode."""

    source: str = Field(..., description="The restored-from annotation of the restore (the bundle's "
                       "source namespace/name and time).")
    startedAt: str | None = Field(None, description="When the operator began it (restore mode on), RFC 3339.")
    finishedAt: str | None = Field(None, description="When every host had reported and restore mode went off for "
                                   "good (the ConfigMap's restore key removed), RFC 3339.")
    restoredHosts: list[int] | None = Field(None, description="The hosts (ordinals) that took back their old "
                                            "writer keys.")


class SwarmTopicStatus(_Model):
    observedGeneration: int | None = Field(None, description="The metadata.generation the operator last acted on.")
    phase: str | None = Field(
        None, json_schema_extra={"enum": [str(p) for p in Phase]},
        description=f"One word for kubectl get ({', '.join(Phase)}), for display only: conditions are the API.",
    )
    reason: str | None = Field(None, description="The reason of the first failing condition, for kubectl get.")
    writersPolicy: str | None = Field(None, description="The writer policy the children were given "
                                      "(spec.writers.policy: Clients, HostOnly or Open).")
    topicHash: str | None = Field(None, pattern=HEX64, description="BLAKE2b-256 of the topic string, 64 hex "
                                  "digits: the discovery key peers join on the DHT.")
    bootstrapTopicHash: str | None = Field(None, pattern=HEX64, description='BLAKE2b-256 of "<topic>:bootstrap", '
                                           "64 hex digits: where the host offers the base key to members.")
    hostPublicKey: str | None = Field(None, pattern=HEX64, description="Host 0's ed25519 public key, 64 hex "
                                      "digits (its seed is in a Secret only the host pods mount); the clients "
                                      "accept the base key only from it. Every host's: status.hosts.")
    baseKey: str | None = Field(None, pattern=HEX64, description="The Autobase key, 64 hex digits, read from the "
                                "host's signed report once its announce flushed. Recorded once, never overwritten.")
    baseKeyShort: str | None = Field(None, description="First 12 hex digits, for kubectl get.")
    writerKey: str | None = Field(None, pattern=HEX64, description="The host's writer key in the base, 64 hex "
                                  "digits.")
    announcedAt: str | None = Field(None, description="When the host's announce flushed (its report), RFC 3339.")
    bootstrapSeconds: float | None = Field(None, description="Seconds from the topic's creation to its base key "
                                           "recorded.")
    clientsReady: str | None = Field(None, description='"ready/desired" client replicas, for kubectl get.')
    clients: list[ClientStatus] = Field(default_factory=list, description="Each client group's replicas.")
    hosts: list[HostStatus] = Field(
        default_factory=list, description="Several hosts: each one, by ordinal (absent with one host).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["ordinal"]},
    )
    restore: RestoreStatus | None = Field(
        None, description="A restored topic's restore mode: on from its hosts' first start until every host "
        "reported (docs/host-contract.md).", json_schema_extra={"x-swarm-absent-until-set": True})
    childUIDs: dict[str, str] | None = Field(
        None, description='The uid of each child the operator made and controls, by "Kind/name": a child that '
        "lost only its ownerReference is adopted again, a stranger of the same name never.")
    conditions: list[Condition] = Field(
        default_factory=list, description="The API of this status: HostReady, HostsReady and Quorum (several "
        "hosts), HostWritable, BaseKeyRecorded, ClientsReady, Degraded, CredentialsBackedUp (with the operator's "
        "--backup-check) and the summary Ready, one of each type.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
