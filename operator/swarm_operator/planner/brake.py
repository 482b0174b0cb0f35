"""The upgrade brake: a new host template (a new peer image, a new operator) reaches the hosts one
at a time, only while every host is Ready (so the others hold the quorum), and only while the topic
holds one of the operator's roll slots (at most `--max-rolling-topics` topics roll at once, in a
stable order: `reconciler/rolls.py`). The StatefulSet's RollingUpdate partition does it: the
template goes in with the partition at the top (no pod changes), then the partition moves down one
host at a time as each updated host comes back Ready.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import names
from ..children import Inputs
from ..objects import pod_ready
from .desired import template_hash
from .types import Obj, Observed

REVISION_LABEL = "controller-revision-hash"
HELD_RECHECK = 5.0  # seconds between looks for a free roll slot


@dataclass(frozen=True)
class Roll:
    partition: int
    state: str  # "none": nothing to roll; "rolling": it holds a slot and rolls; "held": it waits for one


def _partition(statefulset: Obj) -> int:
    strategy = (statefulset.get("spec") or {}).get("updateStrategy") or {}
    return int((strategy.get("rollingUpdate") or {}).get("partition") or 0)


def _observed(statefulset: Obj) -> bool:
    """The StatefulSet controller has seen the StatefulSet's current spec (its status is about it)."""
    status = statefulset.get("status") or {}
    generation = (statefulset.get("metadata") or {}).get("generation") or 0
    return bool(status.get("updateRevision")) and (status.get("observedGeneration") or 0) >= generation


def _stale(status: Obj, pods: dict[int, Obj], replicas: int) -> bool:
    """Hosts left to roll: the controller says so, or a host pod runs another revision. A StatefulSet
    made again (one host to several) adopts the pods of the one it replaces: the controller starts
    it with current = update revision, its pods on an older one, and rolls them all once the
    partition allows."""
    revision = status.get("updateRevision")
    if not revision:
        return False
    behind = any(((pod["metadata"].get("labels") or {}).get(REVISION_LABEL)) != revision
                 for n, pod in pods.items() if n < replicas)
    return status.get("currentRevision") != revision or behind


def roll(obs: Observed, made: Inputs) -> Roll:
    """Where the hosts' partition stands this pass."""
    live, replicas = obs.statefulset, made.host_replicas
    if live is None and not obs.host_pods:
        return Roll(0, "none")  # a new topic: nothing runs yet to be rolled
    live = live or {"metadata": {}}
    status = live.get("status") or {}
    same = (live["metadata"].get("annotations") or {}).get(names.ANNOTATION_TEMPLATE_HASH) == template_hash(made)
    revision = status.get("updateRevision")
    pods = obs.host_pods
    all_ready = all(n in pods and pod_ready(pods[n]) for n in range(replicas))
    if same and not _observed(live):
        # The controller has not seen this template yet (just applied, or a StatefulSet just made):
        # its status and the pods' revisions say nothing of it. The partition stays where it is.
        return Roll(_partition(live), "rolling" if obs.may_roll else "none")
    if same and not _stale(status, pods, replicas):
        # A topic holding a slot keeps it until its hosts are all Ready again (the one it rolled last, new ones).
        return Roll(0, "rolling" if obs.may_roll and not all_ready else "none")
    top = _partition(live) if same else replicas  # a new template goes in with no pod touched
    if not obs.may_roll:
        return Roll(top, "held")
    if not same:
        return Roll(replicas, "rolling")
    # A host pod the StatefulSet controller is replacing is absent for a moment: not updated yet.
    updated = all(n in pods and ((pods[n]["metadata"].get("labels") or {}).get(REVISION_LABEL)) == revision
                  for n in range(top, replicas))
    return Roll(max(0, top - 1) if all_ready and updated else top, "rolling")
