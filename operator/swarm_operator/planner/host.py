"""The host side: the children made and kept by content (`owned.built()`: the ConfigMap, the
Service, the StatefulSet, with several hosts their PodDisruptionBudget), and the hosts' readiness:
a Ready pod whose fresh report verifies. Host 0 creates the base and its report records the key;
with several hosts (`spec.bootstrapHost.replicas` 3 or 5) the others start once the key is
recorded, and the topic serves while a majority of the base's indexers is up (`quorum.py`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial

from .. import conditions as c
from .. import names, owned
from ..children import Inputs
from ..conditions import parse_time
from ..hostreport import HostReport
from ..objects import pod_ready
from ..reasons import R
from . import brake, record, restore, trust
from .desired import Want, unchanged, want_key
from .ensure import keep, merged
from .quorum import several_hosts
from .types import Decision, Obj, Observed, Readiness, write

REPORT_RETRY = 5.0  # seconds before a Ready host whose report failed is asked again


def rolled(statefulset: Obj | None) -> bool:
    """The StatefulSet's pods all run its current template (nothing left to roll)."""
    if statefulset is None:
        return False
    status, meta = statefulset.get("status") or {}, statefulset["metadata"]
    return (status.get("observedGeneration") or 0) >= (meta.get("generation") or 0) \
        and status.get("currentRevision") == status.get("updateRevision") \
        and status.get("updatedReplicas", 0) == status.get("replicas", 0)


def may_add_hosts(obs: Observed) -> bool:
    """Hosts beyond 0 may start: the key is in the ConfigMap (they join the base by it), and the
    StatefulSet's pods run its current template (a host 0 of an older operator, which cannot promote
    anyone, is rolled first)."""
    assert obs.spec is not None
    key = obs.recorded_key or obs.spec.adopted_base_key()
    in_configmap = bool(key) and ((obs.configmap or {}).get("data") or {}).get(names.CM_BASE_KEY) == key
    return in_configmap and rolled(obs.statefulset)


def host_replicas(obs: Observed) -> int:
    """The hosts the StatefulSet runs: host 0 alone until more may start (`may_add_hosts`), then
    spec.bootstrapHost.replicas; never fewer than run now (`scale_down_refused`)."""
    assert obs.spec is not None
    wanted = obs.spec.bootstrapHost.replicas
    running = int(((obs.statefulset or {}).get("spec") or {}).get("replicas") or 0)
    return max(wanted if wanted == 1 or may_add_hosts(obs) else 1, running)


def scale_down_refused(obs: Observed) -> c.Cond | None:
    """Fewer hosts than run now would take indexers away before they leave the base: refused."""
    assert obs.spec is not None
    running = int(((obs.statefulset or {}).get("spec") or {}).get("replicas") or 0)
    wanted = obs.spec.bootstrapHost.replicas
    if running <= wanted:
        return None
    return c.Cond(c.READY, False, R.SCALE_DOWN_REFUSED,
                  f"spec.bootstrapHost.replicas is {wanted} but {running} hosts run: removing indexer hosts is "
                  f"refused (their indexers would leave the base with their pods); the {running} hosts keep "
                  "running: set it back to {running}")


def inputs(obs: Observed, public_keys: tuple[str, ...]) -> Inputs:
    """What the children are made from: the key only once recorded (and trusted: record.py) or adopted."""
    assert obs.spec is not None
    return Inputs(obs.topic, obs.spec, obs.peer_image, public_keys[0], record.given(obs).key,
                  host_replicas=host_replicas(obs), host_public_keys=public_keys, hosts=obs.host_count,
                  network=obs.network, member_seed_id=trust.member_seed_id(obs), digest=obs.digest,
                  restore=restore.configmap_value(obs), restored=restore.restored_from(obs.topic) is not None)


@dataclass(frozen=True)
class HostSide(Decision):
    roll: str = "none"  # the upgrade brake's state of the topic (brake.Roll.state)


def children(obs: Observed, public_keys: tuple[str, ...]) -> HostSide:
    """Every kind with a builder, in the owned table's order. The ConfigMap is made before the host
    (whose optional SWARM_BASE_KEY reads it: a same-named ConfigMap that is not the operator's must
    be found, by the create's 409, before a host could read a key from it); the key goes in once
    recorded or adopted. The writes of kinds that refer to nothing (`owned.Kind.refers`) go out
    together with the Secrets before them; the StatefulSet only once they were all answered. A child
    already found as wished is not built again (`desired.py`)."""
    assert obs.spec is not None
    made = inputs(obs, public_keys)
    rolled_now = brake.roll(obs, made)  # where the upgrade brake holds the hosts
    made = replace(made, partition=rolled_now.partition)
    kept = []
    for kind in owned.built():
        assert kind.build is not None
        name = kind.claimed(obs.name, obs.spec)[0]
        want = Want(kind, name, want_key(kind, made), partial(kind.build, made))
        live = obs.child(kind, name)
        if unchanged(want, live):
            continue
        desired = want.built()
        if desired is None:
            kept.append(_unwanted(obs, kind))
            continue
        if kind is owned.STATEFULSET and live is not None and _policy(live) != _policy(desired):
            kept.append(_remade(obs, live, desired))
            break  # nothing after the StatefulSet until it is back
        kept.append(keep(want, live, obs.topic, joins=not kind.refers, desired=desired))
    decided = merged(kept)
    return HostSide(writes=decided.writes, events=decided.events, roll=rolled_now.state,
                    recheck=brake.HELD_RECHECK if rolled_now.state == "held" else None)


def _unwanted(obs: Observed, kind: owned.Kind) -> Decision:
    """A kind the topic wants none of now (a NetworkPolicy switched off): its objects go, with a uid
    precondition (the trust step made sure they are the topic's own). Kinds the operator never
    deletes (no `delete` verb) are left."""
    assert obs.spec is not None
    if "delete" not in kind.verbs:
        return Decision()
    gone = [(name, live) for name in kind.claimed(obs.name, obs.spec) if (live := obs.child(kind, name)) is not None]
    return Decision(writes=tuple(write("delete", kind, obs.topic, name, None, f"delete {kind.kind} {name} (not "
                                       "wanted any more)", uid=live["metadata"].get("uid")) for name, live in gone))


def _policy(statefulset: Obj) -> str:
    return str((statefulset.get("spec") or {}).get("podManagementPolicy") or "OrderedReady")


def _remade(obs: Observed, live: Obj, desired: Obj) -> Decision:
    """A StatefulSet whose pod management must change (one host to several: each host is made
    whatever the others' state): the field cannot change in place, so the StatefulSet goes, its pods
    and volumes left running (orphaned), and the next pass makes it again, which adopts them."""
    name = live["metadata"]["name"]
    return Decision(writes=(write("orphan", owned.STATEFULSET, obs.topic, name, None,
                                  f"delete StatefulSet {name}, keeping its pods and volumes, to make it again with "
                                  f"podManagementPolicy {_policy(desired)}", uid=live["metadata"].get("uid")),))


def _current_host(obs: Observed, public_key: str) -> bool:
    """Whether the host pod was made from the template that pins `public_key` (an older pod, still
    running while the StatefulSet rolls, is expected to sign with the key it was started with)."""
    annotations = ((obs.host_pod or {}).get("metadata") or {}).get("annotations") or {}
    return annotations.get(names.ANNOTATION_HOST_PUBLIC_KEY) == public_key


def _report_failed(obs: Observed, public_key: str) -> Readiness:
    assert obs.report_error is not None
    cond = c.Cond(c.HOST_READY, False, obs.report_error.reason, obs.report_error.message)
    identity = obs.secrets.get(names.identity_secret(obs.name))
    if obs.report_error.reason == R.WRONG_IDENTITY and identity is not None and _current_host(obs, public_key):
        # The host runs on a seed the operator no longer knows: a fresh Secret rolls it.
        delete = write("delete", owned.SECRET, obs.topic, identity["metadata"]["name"], None,
                       f"delete Secret {identity['metadata']['name']} (the host no longer matches it)",
                       uid=identity["metadata"].get("uid"))
        return Readiness(writes=(delete,), conditions=(cond,), recheck=REPORT_RETRY)
    return Readiness(conditions=(cond,), recheck=REPORT_RETRY)  # the host answers again without its pod changing


def _waiting(obs: Observed) -> Readiness:
    """No verified report yet: waiting for the announce, then timed out (or the pod pending)."""
    assert obs.spec is not None
    timeout = obs.spec.bootstrapHost.announceTimeoutSeconds
    started = _started(obs.host_pod)
    # A running pod's announce is the host's to make from its start; a pod not running yet
    # (scheduling, its volume, its image) is waited for as long, then said to be pending.
    waited = (obs.now - _clock_start(obs, started)).total_seconds()
    if waited > timeout and not started:
        return Readiness(conditions=(c.Cond(c.HOST_READY, False, R.HOST_PENDING, _pending_message(obs.host_pod)),))
    if waited > timeout:
        old = c.find((obs.topic.get("status") or {}).get("conditions") or [], c.HOST_READY) or {}
        cond = c.Cond(c.HOST_READY, False, R.ANNOUNCE_TIMEOUT,
                      f"the host has not announced within announceTimeoutSeconds {timeout}: still retrying: "
                      "check the DHT bootstrap nodes and the host logs")
        return Readiness(conditions=(cond,), timeout_now=old.get("reason") != R.ANNOUNCE_TIMEOUT)
    reason = R.HOST_NOT_READY if obs.recorded_key else R.WAITING_FOR_ANNOUNCE
    # No elapsed time in the message: a status that changes by itself is rewritten on every pass.
    cond = c.Cond(c.HOST_READY, False, reason,
                  f"waiting for the host's announce to flush (announceTimeoutSeconds {timeout})")
    # AnnounceTimeout (or HostPending) comes with time alone.
    return Readiness(conditions=(cond,), recheck=timeout - waited + 1.0)


def readiness(obs: Observed, public_keys: tuple[str, ...]) -> Readiness:
    """HostReady, and HostWritable (one host) or HostsReady and Quorum (several)."""
    zero = host_zero(obs, public_keys[0])
    if obs.host_count == 1:
        return zero  # one host: as it always was
    return several_hosts(obs, public_keys, zero)


def host_zero(obs: Observed, public_key: str) -> Readiness:
    """Host 0's HostReady (and HostWritable when the report says): a Ready pod and a fresh verified
    report."""
    assert obs.spec is not None
    host_ready = pod_ready(obs.host_pod)
    report = obs.report if host_ready else None
    if report is not None:
        conds = [c.Cond(c.HOST_READY, True, R.ANNOUNCE_FLUSHED,
                        f"announce flushed in {report.announce_seconds:.3f}s at {report.announced_at}")]
        if report.writable is not None:
            conds.append(_writable(report, obs.spec.adopted_base_key()))
        return Readiness(conditions=tuple(conds), report=report)
    if host_ready and obs.report_error is not None:
        return _report_failed(obs, public_key)
    if obs.flushed is not None:  # read as soon as the announce flushed: the key is recorded from it
        return Readiness(conditions=(c.Cond(c.HOST_READY, False, R.HOST_NOT_READY,
                                            "the host's announce has flushed (its signed report verifies); "
                                            "waiting for its pod's readiness probe"),))
    return _waiting(obs)


def _started(pod: Obj | None) -> bool:
    """The host pod runs on a node: its announce is the host's to make from now on."""
    return bool(pod) and not pod["metadata"].get("deletionTimestamp") and \
        (pod.get("status") or {}).get("phase") in ("Running", "Succeeded", "Failed")


def _clock_start(obs: Observed, started: bool) -> datetime:
    """When the host's time began: its pod's start, else the pod's (or, with no pod, the topic's) creation."""
    pod = obs.host_pod or {}
    return (parse_time((pod.get("status") or {}).get("startTime")) if started else None) or \
        parse_time(pod.get("metadata", {}).get("creationTimestamp")) or \
        parse_time(obs.topic["metadata"].get("creationTimestamp")) or obs.now


def _pending_message(pod: Obj | None) -> str:
    if not pod:
        return "the StatefulSet has not made the host pod yet (its volume claim, or the controller)"
    if pod["metadata"].get("deletionTimestamp"):
        return "the host pod is being deleted; the StatefulSet makes it again"
    scheduled = next((x for x in (pod.get("status") or {}).get("conditions") or []
                      if x.get("type") == "PodScheduled" and x.get("status") != "True"), None)
    why = f": {scheduled.get('reason')}: {scheduled.get('message')}" if scheduled else ""
    return f"the host pod is not running yet{why}"


def _writable(report: HostReport, adopted: str | None) -> c.Cond:
    if report.writable:
        return c.Cond(c.HOST_WRITABLE, True, R.WRITABLE, "the host is a writer of the base")
    # Nothing of the adopted base reached the host: no writer in its system core (a connected
    # peer that holds nothing of the base, such as the topic's own client, does not count), or,
    # from a host that does not report writers, no peer at all.
    unserved = report.writers == 0 if report.writers is not None else report.peers == 0
    if adopted and unserved:
        return c.Cond(c.HOST_WRITABLE, False, R.BASE_UNREACHABLE,
                      f"the adopted base {adopted} is served by no peer the host can reach (nothing of it "
                      "replicated): the host cannot become a writer; start a peer that holds the base, or "
                      "check spec.baseKey")
    return c.Cond(c.HOST_WRITABLE, False, R.HOST_NOT_WRITABLE,
                  "the host reports it is not a writer of the base (it rejoined with an empty disk, or "
                  "the base has not admitted it): nothing can be appended")
