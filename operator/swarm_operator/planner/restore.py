"""Restore mode for a restored topic's hosts (docs/host-contract.md, "The store key, and restore mode").

`swarm-operator restore` creates the topic it restores with the annotation `restored-from` (the
bundle's source and time). Every host of such a topic starts on an empty disk, and only in restore
mode can it take back its ordinal's old writer key (the base's last indexers are gone). So, for a
topic carrying that annotation:

- its host pods read `SWARM_RESTORE` from the ConfigMap `<name>-swarm`, key `restore`, optional
  (children/statefulset.py: the reference is in the template from the StatefulSet's creation on,
  so changing the key restarts nothing: env is read at a container's start);
- the key is `"true"` from the ConfigMap's creation (before the StatefulSet's) until every host of
  the topic has reported (a Ready pod whose signed report verifies: it has passed its restore, or
  found nothing to restore, and opened the base), then `"false"` for good (a value, not a removal:
  a server-side apply never removes a key the create wrote): `status.restore.finishedAt` keeps that
  it finished (an operator restart or a re-made ConfigMap never turns it on again), and one
  `RestoreFinished` event says which hosts took back their keys.

Reusing an old key outside a restore is pure risk (the spike's F3/F4: two processes with one key,
or a gate that trusts a peer with a short copy, fork the writer core), so nothing else ever turns
restore mode on: a topic without the annotation never gets the key (nor the reference: an operator
upgrade rolls none of its hosts), a topic restored by an operator without restore mode (its hosts
made, no status.restore) never starts one late, and a host that restarts or loses its disk after the
restore starts as usual.
"""

from __future__ import annotations

from typing import Any

from .. import names
from ..conditions import now_rfc3339
from ..objects import pod_ready
from ..reasons import R
from .types import Decision, Event, Observed

RECHECK = 10.0  # seconds between looks while a restore waits for hosts (their reports change without an event)


def restored_from(topic: dict[str, Any]) -> str | None:
    """The annotation `swarm-operator restore` writes on the topic it creates, if any."""
    return ((topic.get("metadata") or {}).get("annotations") or {}).get(names.ANNOTATION_RESTORED_FROM) or None


def _old(obs: Observed) -> dict[str, Any]:
    """status.restore, when it is of this topic's restore (the annotation's value)."""
    old = (obs.topic.get("status") or {}).get("restore")
    return old if isinstance(old, dict) and old.get("source") == restored_from(obs.topic) else {}


def _reported(obs: Observed) -> list[int]:
    """The hosts that reported: a Ready pod and a verified report."""
    return sorted(n for n in obs.reports if pod_ready(obs.host_pods.get(n)))


def _all_reported(obs: Observed) -> bool:
    return obs.spec is not None and not obs.spec.paused and set(range(obs.host_count)) <= set(_reported(obs))


def _begun(obs: Observed, old: dict[str, Any]) -> bool:
    """The restore began with this topic's hosts: status.restore says so, or no host was made yet."""
    return bool(old) or (obs.configmap is None and obs.statefulset is None)


def on(obs: Observed) -> bool:
    """Restore mode is on this pass: a restored topic whose restore began before its hosts (a topic
    restored by an operator without restore mode never starts one late) and has not finished."""
    if restored_from(obs.topic) is None:
        return False
    old = _old(obs)
    return _begun(obs, old) and not old.get("finishedAt") and not _all_reported(obs)


def configmap_value(obs: Observed) -> str | None:
    """The ConfigMap's `restore` this pass (every builder of it asks this): "true" while on, "false"
    once this topic's restore is over (a value, not a removal: server-side apply never removes a
    key the operator's create wrote), None on a topic that never had one."""
    if on(obs):
        return "true"
    if restored_from(obs.topic) is not None and _begun(obs, _old(obs)):
        return "false"
    return None


def _outcome(obs: Observed) -> tuple[list[int], str]:
    """The hosts that took back their old writer keys, and the event's words about each host."""
    taken, words = [], []
    for n in _reported(obs):
        report = obs.reports[n]
        if report.restored:
            taken.append(n)
            words.append(f"host {n} took back its writer key")
        elif report.restore_why:
            words.append(f"host {n} was not restored ({report.restore_why}): it runs on a new key")
        else:
            words.append(f"host {n} opened the base from its disk")
    return taken, "; ".join(words)


def decide(obs: Observed) -> Decision:
    """status.restore, and the one event of the restore's end. Nothing for a topic never restored,
    nor once its restore finished."""
    source, old = restored_from(obs.topic), _old(obs)
    if source is None or old.get("finishedAt") or not _begun(obs, old):
        return Decision()
    started = old.get("startedAt") or now_rfc3339(obs.now)
    if on(obs):
        return Decision(fields={"restore": {"source": source, "startedAt": started}}, recheck=RECHECK)
    taken, words = _outcome(obs)
    event = Event("Normal", R.RESTORE_FINISHED,
                  f"every host reported after the restore ({source}): {words}. Restore mode is off "
                  f"({names.CM_RESTORE}: \"false\" in ConfigMap {names.swarm_configmap(obs.name)}; no host restarts)")
    return Decision(events=(event,), fields={"restore": {"source": source, "startedAt": started,
                                                         "finishedAt": now_rfc3339(obs.now), "restoredHosts": taken}})
