"""Every name the operator, the peers and the chart agree on, in one place.

Changing a value here changes the contract with running clusters: child objects are found by
these names and labels.
"""

from __future__ import annotations

from collections.abc import Callable

GROUP = "swarm-operator.dev"
# The storage version: the one the operator reads and writes (its caches, status, ownerReferences
# of children, events), and the version `kubectl` prefers.
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
# Older versions still served, with a deprecation warning. Same schema as VERSION: the API server
# converts by rewriting apiVersion alone (conversion strategy None; docs/operations.md, API versions).
DEPRECATED_VERSIONS = ("v1alpha1",)
KIND = "SwarmTopic"
PLURAL = "swarmtopics"
SINGULAR = "swarmtopic"
SHORT_NAMES = ["st", "swarmtopic"]
CRD_NAME = f"{PLURAL}.{GROUP}"

FIELD_MANAGER = "swarm-operator"

# Labels on every child object.
LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_TOPIC = f"{GROUP}/topic"  # the SwarmTopic's metadata.name
LABEL_CLIENT = f"{GROUP}/client"  # the client group's name, on client Deployments and pods
COMPONENT_HOST = "bootstrap-host"
COMPONENT_CLIENT = "client"
# Hash of what the operator last applied to a child: a spec change shows here, drift (someone
# else's edit) shows in the content comparison of `drift.py`.
ANNOTATION_SPEC_HASH = f"{GROUP}/spec-hash"
# A digest of the host StatefulSet's pod template, on the StatefulSet: a new template (a new peer
# image, a new operator) rolls the hosts, at the pace the upgrade brake allows.
ANNOTATION_TEMPLATE_HASH = f"{GROUP}/template-hash"
# The host's ed25519 public key, on the identity Secret's metadata (where the operator, which never
# reads a Secret's data, finds it) and on both pod templates (a new identity rolls the host onto
# the new seed and the clients onto the new pinned key).
ANNOTATION_HOST_PUBLIC_KEY = f"{GROUP}/host-public-key"
# A random id the operator gives each member seed it makes, on the member Secret's metadata and on
# the pod templates that mount it: a replaced seed rolls the host and the clients onto it (the old
# seed admits no writer once the host restarted). An id, not a digest of the seed.
ANNOTATION_SEED_ID = f"{GROUP}/seed-id"
ANNOTATION_MEMBER_SEED_ID = f"{GROUP}/member-seed-id"

# Container and port names.
HOST_CONTAINER = "swarm-peer"
STATUS_PORT_NAME = "status"
DEFAULT_STATUS_PORT = 8080
DATA_VOLUME = "data"
IDENTITY_VOLUME = "identity"
MEMBER_VOLUME = "swarm-member"
ENCRYPTION_VOLUME = "swarm-encryption"
DATA_MOUNT_PATH = "/data"
IDENTITY_MOUNT_PATH = "/var/run/swarm/identity"
MEMBER_MOUNT_PATH = "/var/run/swarm/member"
ENCRYPTION_MOUNT_PATH = "/var/run/swarm/encryption"
# The three Secrets of a topic (docs/security.md): created once by the operator, never read back
# for their values, mounted as files only.
IDENTITY_SEED_KEY = "seed"  # `<name>-identity`: 32-byte ed25519 seed of the host, hex
MEMBER_SEED_KEY = "invite-seed"  # `<name>-member`: 32 random bytes, hex: the membership credential
ENCRYPTION_KEY_KEY = "key"  # `<name>-encryption`: 32 random bytes, hex: the Autobase encryption key
HOST_SEED_KEY = "invite-seed"  # `<name>-hosts` (several hosts only): the hosts' own credential, host pods only
HOSTS_VOLUME = "swarm-hosts"
HOSTS_MOUNT_PATH = "/var/run/swarm/hosts"
# The label the StatefulSet controller puts on each pod: its ordinal (the host's SWARM_HOST_ORDINAL).
LABEL_POD_INDEX = "apps.kubernetes.io/pod-index"

# spec.writers.policy values.
POLICY_CLIENTS = "Clients"
POLICY_HOST_ONLY = "HostOnly"
POLICY_OPEN = "Open"

# ConfigMap `<name>-swarm` keys (clients read them; the host reads baseKey once recorded).
CM_TOPIC = "topic"
CM_BASE_KEY = "baseKey"
CM_HOST_PUBLIC_KEY = "hostPublicKey"
CM_DHT_BOOTSTRAP = "dhtBootstrap"
# A restored topic's (planner/restore.py): "true" while its hosts first start, then "false"; their SWARM_RESTORE.
CM_RESTORE = "restore"

# Environment of the peers (SPEC sections 4 and 5).
ENV_TOPIC = "SWARM_TOPIC"
ENV_DATA_DIR = "SWARM_DATA_DIR"
ENV_IDENTITY_SEED_FILE = "SWARM_IDENTITY_SEED_FILE"
ENV_DHT_BOOTSTRAP = "SWARM_DHT_BOOTSTRAP"
ENV_DHT_HOST = "SWARM_DHT_HOST"
ENV_STATUS_PORT = "SWARM_STATUS_PORT"
ENV_BASE_KEY = "SWARM_BASE_KEY"
ENV_HOST_PUBLIC_KEY = "SWARM_HOST_PUBLIC_KEY"
ENV_REQUIRE_BOOTSTRAP = "SWARM_REQUIRE_BOOTSTRAP"
ENV_MEMBER_SEED_FILE = "SWARM_MEMBER_SEED_FILE"
ENV_ENCRYPTION_KEY_FILE = "SWARM_ENCRYPTION_KEY_FILE"
ENV_WRITERS_POLICY = "SWARM_WRITERS_POLICY"
ENV_WRITER_IDLE_MS = "SWARM_WRITER_IDLE_MS"
ENV_HOST_ORDINAL = "SWARM_HOST_ORDINAL"
ENV_HOST_REPLICAS = "SWARM_HOST_REPLICAS"
ENV_HOST_SEED_FILE = "SWARM_HOST_SEED_FILE"
ENV_RESTORE = "SWARM_RESTORE"


# A topic's Secrets are `<name>-<suffix>`; a backup carries every `<name>-*` Secret the topic owns,
# by suffix, and these three at least.
IDENTITY_SUFFIX = "identity"
MEMBER_SUFFIX = "member"
ENCRYPTION_SUFFIX = "encryption"

# The last backup of a topic's credentials, written on the topic by `swarm-operator backup` (and
# `restore`): when, the sha256 of the bundle file, and the Secrets it holds as `name=uid` (the
# operator compares the uids with the Secrets it sees: a Secret made after the backup is not in it).
ANNOTATION_BACKUP_TIME = f"{GROUP}/backup-time"
ANNOTATION_BACKUP_SHA256 = f"{GROUP}/backup-sha256"
ANNOTATION_BACKUP_SECRETS = f"{GROUP}/backup-secrets"
# On a restored topic: the namespace/name it was backed up from, and when. Written by `swarm-operator
# restore` on the topic it creates; its hosts then start in restore mode (planner/restore.py).
ANNOTATION_RESTORED_FROM = f"{GROUP}/restored-from"


def topic_secret(topic_name: str, suffix: str) -> str:
    return f"{topic_name}-{suffix}"


def _suffixed(suffix: str) -> Callable[[str], str]:
    """The name of a topic's child: `<topic name>-<suffix>`."""
    def child(topic_name: str) -> str:
        return f"{topic_name}-{suffix}"
    child.__name__ = suffix
    return child


identity_secret = _suffixed(IDENTITY_SUFFIX)
member_secret = _suffixed(MEMBER_SUFFIX)
encryption_secret = _suffixed(ENCRYPTION_SUFFIX)
hosts_secret = _suffixed("hosts")
# Every suffix a topic's Secrets take (the HA hosts' own Secret `<name>-hosts` included): a pod
# template naming a Secret with one of them is refused, whoever's it is (podpolicy.py).
TOPIC_SECRET_SUFFIXES = ("identity", "member", "encryption", "hosts")
swarm_configmap = _suffixed("swarm")
host_service = host_statefulset = host_disruption_budget = _suffixed("host")
network_policy = _suffixed("peers")  # the NetworkPolicy over the topic's pods


def host_pod(topic_name: str, ordinal: int = 0) -> str:
    """StatefulSet pods are named `<statefulset>-<ordinal>`; host 0 creates the base."""
    return f"{host_statefulset(topic_name)}-{ordinal}"


def host_pvc(topic_name: str, ordinal: int = 0) -> str:
    """PVCs of a volumeClaimTemplate are named `<template>-<statefulset>-<ordinal>`."""
    return f"{DATA_VOLUME}-{host_pod(topic_name, ordinal)}"


def identity_seed_key(ordinal: int) -> str:
    """The key of host `ordinal`'s seed in the identity Secret: `seed` for host 0 (as with one host),
    `seed-<n>` for host n."""
    return IDENTITY_SEED_KEY if ordinal == 0 else f"{IDENTITY_SEED_KEY}-{ordinal}"


def host_public_key_annotation(ordinal: int) -> str:
    """The identity Secret's annotation holding host `ordinal`'s public key."""
    return ANNOTATION_HOST_PUBLIC_KEY if ordinal == 0 else f"{ANNOTATION_HOST_PUBLIC_KEY}-{ordinal}"


def client_deployment(topic_name: str, client_name: str) -> str:
    return f"{topic_name}-{client_name}"


def common_labels(topic_name: str, component: str) -> dict[str, str]:
    return {
        LABEL_NAME: "swarm-peer",
        LABEL_INSTANCE: topic_name,
        LABEL_COMPONENT: component,
        LABEL_MANAGED_BY: "swarm-operator",
        LABEL_TOPIC: topic_name,
    }
