"""Children the topic made, known by uid: the topic's status keeps the uid of each child it controls
(`status.childUIDs`, "Kind/name" -> uid), so a child that lost only its ownerReference (a
`kubectl edit`, a backup tool that strips them) is told from a stranger of the same name and labels.
Ours is adopted again (its ownerReferences patched, a `DriftRepaired` event); a stranger stays a
`NameConflict`, even with the operator's labels."""

from __future__ import annotations

from typing import Any

from .. import names, owned
from ..children.common import owner_reference
from ..objects import controlled_by
from ..reasons import R
from .types import Decision, Event, Obj, Observed, write

FIELD = "childUIDs"


def key(kind: owned.Kind, name: str) -> str:
    return f"{kind.kind}/{name}"


def _labelled(obj: Obj, topic_name: str) -> bool:
    labels = obj["metadata"].get("labels") or {}
    return labels.get(names.LABEL_MANAGED_BY) == "swarm-operator" and labels.get(names.LABEL_TOPIC) == topic_name


def adoptable(obs: Observed, kind: owned.Kind, obj: Obj) -> bool:
    """One of ours that lost only its ownerReference: no owner at all, the operator's labels, and
    the uid the topic recorded for that name. (The encryption Secret kept by the host volume alone
    is the owners step's: trust.encryption_owners.)"""
    meta = obj["metadata"]
    recorded = obs.known_uids.get(key(kind, meta["name"])) or \
        ((obs.topic.get("status") or {}).get(FIELD) or {}).get(key(kind, meta["name"]))
    return bool(recorded) and meta.get("uid") == recorded and _labelled(obj, obs.name) and \
        not meta.get("ownerReferences")


def _adopt(obs: Observed, kind: owned.Kind, obj: Obj) -> tuple[Any, Event]:
    meta = obj["metadata"]
    version = meta.get("resourceVersion")
    body = {"metadata": {"resourceVersion": version, "ownerReferences": [owner_reference(obs.topic)]}}
    what = f"{kind.kind} {meta['name']}"
    event = Event("Warning", R.DRIFT_REPAIRED, f"{what}: its ownerReference to this SwarmTopic was removed; restored "
                  "(the uid is the one the operator made)", f"{kind.kind}/{meta['name']}")
    return write("patch", kind, obs.topic, meta["name"], body, f"adopt {what} again (lost its ownerReference)",
                 resource_version=version), event


def children(obs: Observed) -> Decision:
    """Adopt our children that lost their ownerReference; record the uid of every child we control."""
    writes, events, uids = [], [], {}
    for kind in owned.children():
        for name, obj in sorted(obs.of(kind).items()):
            if controlled_by(obj, obs.topic):
                uids[key(kind, name)] = obj["metadata"].get("uid")
            elif adoptable(obs, kind, obj):
                adopted, event = _adopt(obs, kind, obj)
                writes.append(adopted)
                events.append(event)
                uids[key(kind, name)] = obj["metadata"].get("uid")
    return Decision(writes=tuple(writes), events=tuple(events), fields={FIELD: uids})
