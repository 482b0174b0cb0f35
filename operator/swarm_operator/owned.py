"""What the operator touches, declared once (kubebuilder's For(...).Owns(...)).

`KINDS` drives the child watches (`handlers.py`; a kind with a `selector` is watched by the
operator's own watch with that server-side label selector, `podwatch.py`), the child -> topic mapping (the topic label
every owned kind carries), the paths the reconciler reads and writes (`target_path`), and the
chart's RBAC rules: `rbac_rules()` is what `charts/swarm-operator/templates/_helpers.tpl` must
grant, and a unit test renders the chart and keeps the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import names


@dataclass(frozen=True)
class Kind:
    kind: str
    group: str  # "" = the core group
    version: str
    plural: str
    verbs: tuple[str, ...]  # exactly the verbs the operator uses on it
    owned: bool = True  # a child of a SwarmTopic (controller ownerReference)
    watched: bool = False  # its events re-queue the topic named by its topic label
    # Watched with this server-side label selector by `podwatch.py` (its events are progress:
    # they jump the queue), rather than by kopf, which filters labels in the process.
    selector: tuple[tuple[str, str], ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


TOPIC = Kind(names.KIND, names.GROUP, names.VERSION, names.PLURAL, ("get", "list", "watch"), owned=False)
TOPIC_STATUS = Kind(names.KIND, names.GROUP, names.VERSION, f"{names.PLURAL}/status", ("get", "patch"),
                    owned=False)
# blockOwnerDeletion on the children's ownerReferences needs `update` on the owner's finalizers
# under the OwnerReferencesPermissionEnforcement admission plugin.
TOPIC_FINALIZERS = Kind(names.KIND, names.GROUP, names.VERSION, f"{names.PLURAL}/finalizers", ("update",),
                        owned=False)
# Secrets: `get` reads metadata only (PartialObjectMetadata) to check the owner before a 409 is
# taken for "it is there" and before the operator deletes its own Secret; values are never read.
SECRET = Kind("Secret", "", "v1", "secrets", ("get", "create", "delete"))
CONFIGMAP = Kind("ConfigMap", "", "v1", "configmaps", ("get", "create", "patch"))
SERVICE = Kind("Service", "", "v1", "services", ("get", "create", "patch"))
STATEFULSET = Kind("StatefulSet", "apps", "v1", "statefulsets", ("get", "list", "watch", "create", "patch"),
                   watched=True)
DEPLOYMENT = Kind("Deployment", "apps", "v1", "deployments",
                  ("get", "list", "watch", "create", "patch", "delete"), watched=True)
# Host pods only (the StatefulSet's, labelled by its template): pod Ready -> key recorded at once.
POD = Kind("Pod", "", "v1", "pods", ("get", "list", "watch"), owned=False, watched=True,
           selector=((names.LABEL_COMPONENT, names.COMPONENT_HOST), (names.LABEL_MANAGED_BY, "swarm-operator"),
                     (names.LABEL_TOPIC, "")))
EVENT = Kind("Event", "", "v1", "events", ("create",), owned=False)

KINDS: tuple[Kind, ...] = (TOPIC, TOPIC_STATUS, TOPIC_FINALIZERS, SECRET, CONFIGMAP, SERVICE, STATEFULSET,
                           DEPLOYMENT, POD, EVENT)
BY_KIND = {k.kind: k for k in KINDS if k.owned}


def target_path(kind: Kind, namespace: str, name: str | None = None, subresource: str | None = None) -> str:
    """The REST path of a collection or an object of `kind`."""
    from urllib.parse import quote

    root = f"/apis/{kind.api_version}" if kind.group else f"/api/{kind.version}"
    plural = kind.plural.split("/")[0]
    out = f"{root}/namespaces/{quote(namespace)}/{plural}"
    if name:
        out += f"/{quote(name)}"
    if subresource:
        out += f"/{subresource}"
    return out


def watched() -> list[Kind]:
    """The kinds kopf watches (their labels filtered in the process)."""
    return [k for k in KINDS if k.watched and not k.selector]


def selected() -> list[Kind]:
    """The kinds the operator watches itself, with a server-side label selector."""
    return [k for k in KINDS if k.watched and k.selector]


def label_selector(kind: Kind) -> str:
    """`kind.selector` as a labelSelector: an empty value means "the label exists"."""
    return ",".join(key if not value else f"{key}={value}" for key, value in kind.selector)


def topic_of(labels: dict[str, str] | None) -> str | None:
    """The child -> topic mapping: every owned kind carries the topic's name as a label."""
    return (labels or {}).get(names.LABEL_TOPIC)


def rbac_rules() -> list[dict[str, list[str]]]:
    """The namespaced RBAC rules the operator needs, one per kind, in the table's order."""
    return [{"apiGroups": [k.group], "resources": [k.plural], "verbs": list(k.verbs)} for k in KINDS]
