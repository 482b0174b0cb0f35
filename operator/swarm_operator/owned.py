"""What the operator touches, declared once (kubebuilder's For(...).Owns(...)): the only list of
kinds. A new child kind is one entry here and one builder in `children/`.

`KINDS` drives
- observe (`reconciler/observe.py`): the names a topic claims of each child kind (`names`) are read
  from the caches, and every one of them must be the topic's own (the planner's trust step);
- the planner's host side: every kind with a `build` is made and kept by content, in table order
  (a ConfigMap before the StatefulSet that reads it), and deleted, where its verbs allow, once its
  builder wants none;
- the watch-fed caches (`reconciler/caches.py`): every kind with `watch` set is listed and watched with its
  server-side label selector (`selector`), as metadata only where `metadata_only`, trimmed to
  what the planner reads (`trim`), and mapped to its topic (by its own name for the SwarmTopic,
  by the topic label for everything else): the child -> topic mapping;
- the queue lane of its events (`progress`: a change of a host pod that is Ready, or of a client
  Deployment whose every replica is Ready, jumps the queue and is taken at once);
- the REST paths (`Kind.path`);
- the chart's RBAC rules (`rbac.py` writes them into the chart: the verbs of every kind in every
  watched namespace, and the leader Lease's in the release's own namespace).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import names
from .api.paths import resource_path
from .children import host_service, host_statefulset, swarm_configmap
from .children.common import Inputs
from .children.disruption import host_disruption_budget
from .children.networkpolicy import topic_network_policy
from .managed import with_record_writers
from .models import SwarmTopicSpec
from .objects import pod_ready

Trim = Callable[[dict[str, Any]], dict[str, Any]]
CHILDREN = ((names.LABEL_MANAGED_BY, "swarm-operator"), (names.LABEL_TOPIC, ""))


def _host_pod_trim(pod: dict[str, Any]) -> dict[str, Any]:
    """What the planner reads of a host pod: identity, readiness, IP, the status port, restarts."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    return {
        "metadata": pod.get("metadata") or {},
        "spec": {"containers": [{"name": c.get("name"), "ports": c.get("ports") or []}
                                for c in spec.get("containers") or []]},
        "status": {"conditions": status.get("conditions") or [], "podIP": status.get("podIP"),
                   "phase": status.get("phase"), "startTime": status.get("startTime"),
                   "containerStatuses": [{"name": c.get("name"), "restartCount": c.get("restartCount", 0)}
                                         for c in status.get("containerStatuses") or []]},
    }


def _host_pod_significant(pod: dict[str, Any]) -> dict[str, Any]:
    """What of a kept host pod wakes its topic: the pod itself, its readiness, phase, address and
    restarts, and the scheduler's complaint (PodScheduled False: the `HostPending` message). Not its
    being scheduled or the kubelet's other conditions: each would be a pass that finds nothing to do
    while the host comes up (the pod is stored all the same)."""
    status = pod.get("status") or {}
    conditions = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"
                  or (c.get("type") == "PodScheduled" and c.get("status") != "True")]
    return {"metadata": pod.get("metadata") or {}, "spec": pod.get("spec") or {},
            "status": {"conditions": conditions, "podIP": status.get("podIP"), "phase": status.get("phase"),
                       "containerStatuses": status.get("containerStatuses") or []}}


VOLUME_METADATA = ("name", "namespace", "uid", "labels", "resourceVersion", "creationTimestamp", "deletionTimestamp")


def _volume_trim(claim: dict[str, Any]) -> dict[str, Any]:
    """What the planner reads of a host's volume claim: who it is (the encryption Secret's second
    owner), not its binding's annotations and finalizers (a claim bound is no change of it here)."""
    meta = claim.get("metadata") or {}
    return {"metadata": {k: meta[k] for k in VOLUME_METADATA if k in meta}}


def all_ready(deployment: dict[str, Any] | None) -> bool:
    """A client Deployment whose every replica is Ready: its topic may be Ready now (at once, while
    the counts on the way there are coalesced)."""
    if deployment is None:
        return False
    wanted = (deployment.get("spec") or {}).get("replicas")
    return wanted is not None and int((deployment.get("status") or {}).get("readyReplicas") or 0) >= int(wanted)


def _keep_status(*fields: str) -> Trim:
    """A trim keeping these `status` fields only (the planner reads no other)."""
    def trim(obj: dict[str, Any]) -> dict[str, Any]:
        status = obj.get("status") or {}
        return {**obj, "status": {f: status[f] for f in fields if f in status}}
    return trim


@dataclass(frozen=True)
class Kind:
    kind: str
    group: str  # "" = the core group
    version: str
    plural: str
    verbs: tuple[str, ...]  # exactly the verbs the operator uses on it
    owned: bool = True  # a child of a SwarmTopic (controller ownerReference)
    watch: bool = False  # kept in a watch-fed cache; its events re-queue its topic
    selector: tuple[tuple[str, str], ...] = ()  # server-side labelSelector ("" value: the label exists)
    metadata_only: bool = False  # cached as PartialObjectMetadata (Secrets: never their data)
    # Which of its events are progress (the object as cached, None when gone): the topic goes to the
    # queue's first lane. Host pods: a Ready one (its key may be read); its creation, scheduling and
    # start are ordinary changes, which the queue coalesces.
    progress: Callable[[dict[str, Any] | None], bool] | None = None
    trim: Trim | None = None  # what the cache keeps of each object
    significant: Trim | None = None  # what of that announces a change (None: all of it)
    operator_namespace: bool = False  # lives in the operator's own namespace, not a topic's
    names: Callable[[str, SwarmTopicSpec], tuple[str, ...]] | None = None  # a topic's children of this kind
    build: Callable[[Inputs], dict[str, Any] | None] | None = None  # made and kept by content (None: not wanted)
    # Its objects name the topic's other children (volumes, a Service): written only once the writes
    # before it in a pass were answered (a same-named foreign object found first), never with them.
    refers: bool = False
    # Its names are read past the caches when absent from them, before anything is created: a
    # same-named object without the operator's labels (no cache sees it) is a NameConflict before
    # the first child that could refer to it (the host's StatefulSet mounts the Secrets by name).
    checked_first: bool = False
    # Every name of the kind in the watched namespaces is known from a metadata-only watch of its own
    # with no selector (`reconciler/caches.py`): a name `checked_first` that it has not seen, as of
    # the topic's version, is not read. Never for Secrets: the metadata of a Secret made by
    # `kubectl apply` carries its data (the last-applied annotation), which the operator never receives.
    names_watched: bool = False
    # Verbs of `verbs` the API server's OwnerReferencesPermissionEnforcement asks of the operator (an
    # RBAC check, in no audit log as a request of its own): a run need not request them.
    asked_by_admission: tuple[str, ...] = ()

    def claimed(self, topic_name: str, spec: SwarmTopicSpec) -> tuple[str, ...]:
        """The names of this kind that a topic's children take (none for a kind that is no child)."""
        return self.names(topic_name, spec) if self.names is not None else ()

    def path(self, namespace: str | None, name: str | None = None, subresource: str | None = None) -> str:
        """The REST path of an object or a collection of this kind (`namespace` None: every namespace)."""
        return resource_path(self.group, self.version, self.resource, namespace, name, subresource)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> str:
        return self.plural.split("/")[0]


# The topic's cache keeps who wrote its record (managed.py), not its managedFields.
TOPIC = Kind(names.KIND, names.GROUP, names.VERSION, names.PLURAL, ("list", "watch"), owned=False,
             watch=True, trim=with_record_writers)
TOPIC_STATUS = Kind(names.KIND, names.GROUP, names.VERSION, f"{names.PLURAL}/status", ("patch",), owned=False)
# blockOwnerDeletion on the children's ownerReferences needs `update` on the owner's finalizers
# under the OwnerReferencesPermissionEnforcement admission plugin.
TOPIC_FINALIZERS = Kind(names.KIND, names.GROUP, names.VERSION, f"{names.PLURAL}/finalizers", ("update",),
                        owned=False, asked_by_admission=("update",))
# Secrets: watched and read as metadata only (PartialObjectMetadata) to check their owners; the
# operator never receives their data. `patch` adds the host volume as a second owner of the
# encryption Secret (it outlives the topic with the volume, docs/security.md).
SECRET = Kind("Secret", "", "v1", "secrets", ("get", "list", "watch", "create", "patch", "delete"), watch=True,
              selector=CHILDREN, metadata_only=True, checked_first=True,
              names=lambda n, _: (names.identity_secret(n), names.member_secret(n), names.encryption_secret(n),
                                  names.hosts_secret(n)))
# `delete` on the ConfigMap and Service is never requested: the API server's
# OwnerReferencesPermissionEnforcement asks it of whoever changes an existing object's
# ownerReferences, which the operator does only to adopt again a child that lost them
# (planner/adopt.py). On the StatefulSet it is asked for that too, and requested when one host
# becomes several (the StatefulSet is remade, its pods orphaned and kept).
CONFIGMAP = Kind("ConfigMap", "", "v1", "configmaps", ("get", "list", "watch", "create", "patch", "delete"),
                 watch=True, selector=CHILDREN, names=lambda n, _: (names.swarm_configmap(n),), build=swarm_configmap,
                 checked_first=True, names_watched=True, asked_by_admission=("delete",))
SERVICE = Kind("Service", "", "v1", "services", ("get", "list", "watch", "create", "patch", "delete"), watch=True,
               selector=CHILDREN, trim=_keep_status(), names=lambda n, _: (names.host_service(n),), build=host_service,
               checked_first=True, names_watched=True, asked_by_admission=("delete",))
# The NetworkPolicy over the topic's pods (spec.networkPolicy, the chart's topicNetworkPolicy): made
# before the StatefulSet, so no host runs unguarded; deleted (`delete`) once the topic wants none,
# and asked by admission to adopt it again.
NETWORK_POLICY = Kind("NetworkPolicy", "networking.k8s.io", "v1", "networkpolicies",
                      ("get", "list", "watch", "create", "patch", "delete"), watch=True, selector=CHILDREN,
                      names=lambda n, _: (names.network_policy(n),), build=topic_network_policy,
                      asked_by_admission=("delete",))
STATEFULSET = Kind("StatefulSet", "apps", "v1", "statefulsets", ("get", "list", "watch", "create", "patch", "delete"),
                   watch=True, selector=CHILDREN, names=lambda n, _: (names.host_statefulset(n),),
                   trim=_keep_status("observedGeneration", "replicas", "readyReplicas", "updatedReplicas",
                                     "currentRevision", "updateRevision"),
                   build=host_statefulset, refers=True, checked_first=True, names_watched=True,
                   asked_by_admission=("delete",))
# Several hosts: a voluntary disruption takes at most one at a time.
DISRUPTION_BUDGET = Kind("PodDisruptionBudget", "policy", "v1", "poddisruptionbudgets",
                         ("get", "list", "watch", "create", "patch", "delete"), watch=True, selector=CHILDREN,
                         trim=_keep_status(), build=host_disruption_budget,
                         names=lambda n, _: (names.host_disruption_budget(n),), checked_first=True,
                         names_watched=True, asked_by_admission=("delete",))
DEPLOYMENT = Kind("Deployment", "apps", "v1", "deployments", ("get", "list", "watch", "create", "patch", "delete"),
                  watch=True, selector=CHILDREN, trim=_keep_status("readyReplicas"), progress=all_ready,
                  names=lambda n, spec: tuple(names.client_deployment(n, g.name) for g in spec.clients), refers=True)
# Host pods only (the StatefulSet's, labelled by its template): pod Ready -> key recorded at once.
POD = Kind("Pod", "", "v1", "pods", ("list", "watch"), owned=False, watch=True, progress=pod_ready,
           selector=((names.LABEL_COMPONENT, names.COMPONENT_HOST), *CHILDREN), trim=_host_pod_trim,
           significant=_host_pod_significant)
# The host's volume (made by the StatefulSet controller from its claim template), whose uid the
# encryption Secret names as its second owner.
PVC = Kind("PersistentVolumeClaim", "", "v1", "persistentvolumeclaims", ("list", "watch"), owned=False,
           watch=True, selector=((names.LABEL_COMPONENT, names.COMPONENT_HOST), (names.LABEL_TOPIC, "")),
           metadata_only=True, trim=_volume_trim)
EVENT = Kind("Event", "", "v1", "events", ("create",), owned=False)
# Leader election: one Lease in the operator's own namespace.
LEASE = Kind("Lease", "coordination.k8s.io", "v1", "leases", ("get", "create", "update"), owned=False,
             operator_namespace=True)

KINDS: tuple[Kind, ...] = (TOPIC, TOPIC_STATUS, TOPIC_FINALIZERS, SECRET, CONFIGMAP, SERVICE, NETWORK_POLICY,
                           STATEFULSET, DISRUPTION_BUDGET, DEPLOYMENT, POD, PVC, EVENT, LEASE)
BY_KIND = {k.kind: k for k in KINDS if k.plural == k.resource}  # the kinds themselves, not subresources


def children() -> list[Kind]:
    """The kinds of a topic's children (each carries the topic's controller ownerReference)."""
    return [k for k in KINDS if k.names is not None]


def built() -> list[Kind]:
    """The children made and kept by content on every pass, in the order they are written."""
    return [k for k in KINDS if k.build is not None]


def watched() -> list[Kind]:
    """The kinds kept in watch-fed caches."""
    return [k for k in KINDS if k.watch]


def label_selector(kind: Kind) -> str:
    """`kind.selector` as a labelSelector: an empty value means "the label exists"."""
    return ",".join(key if not value else f"{key}={value}" for key, value in kind.selector)


def topic_of(kind: Kind, obj: dict[str, Any]) -> str | None:
    """The child -> topic mapping: the SwarmTopic is its own; every other kind carries the
    topic's name as a label."""
    meta = obj.get("metadata") or {}
    if kind is TOPIC:
        return meta.get("name")
    return (meta.get("labels") or {}).get(names.LABEL_TOPIC)
