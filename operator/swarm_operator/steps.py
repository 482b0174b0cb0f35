"""The planner's steps, in the order `plan()` runs them (pure functions over `Observed`)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import conditions as c
from . import drift, manifests, names
from .hashes import bootstrap_topic_hash, topic_hash
from .identity import public_key_of

if TYPE_CHECKING:
    from datetime import datetime

    from .hostreport import HostReport
    from .plan import Observed, Plan, Write

REPORT_RETRY = 5.0  # seconds before a Ready host whose report failed is asked again
# Fields a child keeps as created (immutable on the API server): never compared, never "drift".
_IMMUTABLE = ("volumeClaimTemplates", "selector", "serviceName")


def controlled_by(obj: dict[str, Any], topic: dict[str, Any]) -> bool:
    """A child is the operator's only with a controller ownerReference to this topic's uid."""
    return any(ref.get("uid") == topic["metadata"]["uid"] and ref.get("controller") is True
               for ref in obj["metadata"].get("ownerReferences") or [])


def _controller_of(obj: dict[str, Any]) -> str:
    ref = next((r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")), None)
    return f"controlled by {ref.get('kind')} {ref.get('name')}" if ref else "controlled by nothing"


def left_with_the_volume(obs: Observed, secret: dict[str, Any] | None) -> bool:
    """The encryption Secret of a deleted topic of this name, kept by the host's volume (its only
    owner now): the key the volume's base is encrypted with, the operator's to adopt again."""
    if secret is None or obs.volume is None:
        return False
    refs = secret["metadata"].get("ownerReferences") or []
    name = obs.topic["metadata"]["name"]
    return (secret["metadata"].get("name") == names.encryption_secret(name) and len(refs) == 1
            and not refs[0].get("controller") and refs[0].get("kind") == "PersistentVolumeClaim"
            and refs[0].get("uid") == obs.volume["metadata"].get("uid"))


def foreign_children(obs: Observed) -> list[str]:
    """Same-named objects the operator would use but does not control, named for the user."""
    found: list[tuple[str, dict[str, Any] | None]] = [
        *(("Secret", meta) for meta in obs.secrets.values() if not left_with_the_volume(obs, meta)),
        ("ConfigMap", obs.configmap), ("Service", obs.service), ("StatefulSet", obs.statefulset),
        *(("Deployment", dep) for dep in obs.deployments.values()),
    ]
    return [f"{kind} {obj['metadata']['name']} ({_controller_of(obj)})" for kind, obj in found
            if obj is not None and not controlled_by(obj, obs.topic)]


def pod_ready(pod: dict[str, Any] | None) -> bool:
    if not pod or pod["metadata"].get("deletionTimestamp"):
        return False
    return any(cond.get("type") == "Ready" and cond.get("status") == "True"
               for cond in (pod.get("status") or {}).get("conditions") or [])


def known_public_key(topic: dict[str, Any], configmap: dict[str, Any] | None,
                     identity: dict[str, Any] | None = None) -> str | None:
    """The host's public key: written on the operator's own identity Secret (its metadata: the
    seed's public half, from the moment the Secret exists), else as recorded in status, else in
    the operator's own ConfigMap."""
    if identity is not None and controlled_by(identity, topic):
        annotated = (identity["metadata"].get("annotations") or {}).get(manifests.ANNOTATION_HOST_PUBLIC_KEY)
        if annotated:
            return str(annotated)
    owned_cm = configmap if configmap is not None and controlled_by(configmap, topic) else None
    return (topic.get("status") or {}).get("hostPublicKey") or \
        ((owned_cm or {}).get("data") or {}).get(names.CM_HOST_PUBLIC_KEY)


def target(kind: str, topic: dict[str, Any], name: str | None = None) -> Any:
    from .plan import Target

    return Target(kind, topic["metadata"]["namespace"], name)


def _write(op: str, kind: str, topic: dict[str, Any], name: str | None, body: Any, what: str,
           **pre: str | None) -> Write:
    from .plan import Write

    return Write(op, target(kind, topic, name), body, what, **pre)


def _event(out: Plan, type_: str, reason: str, message: str, about: str = "") -> None:
    from .plan import Event

    out.events.append(Event(type_, reason, message, about))


@dataclass(frozen=True)
class Trust:
    public_key: str | None
    rotated: bool


def secrets_and_identity(obs: Observed, out: Plan) -> Trust:
    """Create the Secrets that are missing (once); the host's public key, when known."""
    assert obs.spec is not None
    topic, name = obs.topic, obs.topic["metadata"]["name"]
    owners = manifests.encryption_owners(topic, obs.spec, obs.volume)
    builders: list[tuple[str, Any]] = [(names.identity_secret(name), manifests.identity_secret),
                                       (names.member_secret(name), manifests.member_secret)]
    # With retainOnDelete the key is made with both its owners once the volume exists (the host
    # pod cannot start before its volume is bound anyway): one write, never a second one.
    if not obs.spec.bootstrapHost.storage.retainOnDelete or obs.volume is not None:
        builders.append((names.encryption_secret(name), lambda t, v: manifests.encryption_secret(t, v, owners)))
    for secret, build in builders:
        if obs.secrets.get(secret) is None:
            # The value is in the body only: `what` is logged, the body never is.
            out.writes.append(_write("create", "Secret", topic, None, build(topic, obs.fresh[secret]),
                                     f"create Secret {secret}"))
    identity = obs.secrets.get(names.identity_secret(name))
    known = known_public_key(topic, obs.configmap, identity)
    if identity is None:
        public_key = public_key_of(obs.fresh[names.identity_secret(name)])
        rotated = bool(known and known != public_key and obs.statefulset is not None)
        if rotated:
            _event(out, "Warning", "IdentityRotated", "the identity Secret was missing and is re-created; "
                   "the host rolls onto the new key and the clients re-pin it")
        return Trust(public_key, rotated)
    if known:
        return Trust(known, False)
    # Its own Secret of an older operator (no key on it), whose key was never recorded: replace it.
    out.writes.append(_write("delete", "Secret", topic, identity["metadata"]["name"], None,
                             f"delete Secret {identity['metadata']['name']} (its key was never recorded)",
                             uid=identity["metadata"].get("uid")))
    return Trust(None, False)


def _owners(refs: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    return {(r.get("kind"), r.get("uid"), bool(r.get("controller"))) for r in refs}


def encryption_owners(obs: Observed, out: Plan) -> None:
    """With `retainOnDelete`, the host's volume is the encryption Secret's second owner: the Secret
    outlives the topic with the volume (garbage collection drops only the topic's reference), so a
    topic re-created over the volume adopts the key its base is encrypted with."""
    assert obs.spec is not None
    secret = obs.secrets.get(names.encryption_secret(obs.topic["metadata"]["name"]))
    if secret is None:
        return
    desired = manifests.encryption_owners(obs.topic, obs.spec, obs.volume)
    meta = secret["metadata"]
    if _owners(meta.get("ownerReferences") or []) == _owners(desired):
        return
    adopting = left_with_the_volume(obs, secret)
    version = meta.get("resourceVersion")
    body = {"metadata": {"resourceVersion": version, "ownerReferences": desired}}
    what = f"adopt Secret {meta['name']} (kept with the host volume)" if adopting else \
        f"set the owners of Secret {meta['name']} (the topic, and the host volume when retained)"
    out.writes.append(_write("patch", "Secret", obs.topic, meta["name"], body, what, resource_version=version))


def identity_status(obs: Observed, trust: Trust) -> dict[str, Any]:
    assert obs.spec is not None
    topic_str = obs.spec.topic_of(obs.topic["metadata"]["name"])
    extra: dict[str, Any] = {"topicHash": topic_hash(topic_str),
                             "bootstrapTopicHash": bootstrap_topic_hash(topic_str),
                             "writersPolicy": obs.spec.writers.policy}
    if trust.public_key:
        extra["hostPublicKey"] = trust.public_key
    return extra


def ensure(desired: dict[str, Any], live: dict[str, Any] | None, topic: dict[str, Any],
           create_body: dict[str, Any] | None = None) -> tuple[Write | None, list[str]]:
    """Create `desired`, or apply it when a field the operator sets differs on the live object.

    Returns the write (None: nothing to do) and the drifted paths when the operator's last
    applied spec is unchanged (someone else edited the child), for the DriftRepaired event.
    """
    kind, name = desired["kind"], desired["metadata"]["name"]
    if live is None:
        return _write("create", kind, topic, None, create_body or desired, f"create {kind} {name}"), []
    compare = drift.owned_fields(desired)
    compare["spec"] = {k: v for k, v in (compare.get("spec") or {}).items() if k not in _IMMUTABLE}
    if not compare["spec"]:
        del compare["spec"]
    diffs = drift.differences(compare, live)
    hash_key = names.ANNOTATION_SPEC_HASH
    same_spec = (live["metadata"].get("annotations") or {}).get(hash_key) == \
        desired["metadata"]["annotations"][hash_key]
    if same_spec and not diffs:
        return None, []
    version = live["metadata"].get("resourceVersion")
    if same_spec:
        # Someone else's edit: put back exactly the drifted fields, on the version observed.
        # The version observed as a precondition: a replace of it, not a test (a failed test is a
        # 422, a refusal; a stale version is a 409, which re-reads and retries).
        ops = [{"op": "replace", "path": "/metadata/resourceVersion", "value": version},
               *drift.repair_ops(compare, live)]
        return _write("repair", kind, topic, name, ops, f"repair {kind} {name}", resource_version=version), diffs
    body = copy.deepcopy(desired)
    body["metadata"]["resourceVersion"] = version
    return _write("apply", kind, topic, name, body, f"update {kind} {name}", resource_version=version), []


def _ensure_into(out: Plan, desired: dict[str, Any], live: dict[str, Any] | None, topic: dict[str, Any],
                 create_body: dict[str, Any] | None = None) -> list[str]:
    write, diffs = ensure(desired, live, topic, create_body)
    if write is not None:
        out.writes.append(write)
    drifted = [d for d in diffs if d != "spec.replicas"]
    if drifted:
        _event(out, "Warning", "DriftRepaired", f"{desired['kind']} {desired['metadata']['name']}: "
               f"{', '.join(drifted[:6])} differed from what the operator set; restored",
               f"{desired['kind']}/{desired['metadata']['name']}")
    return diffs


def host_side(obs: Observed, out: Plan, public_key: str) -> None:
    """ConfigMap (the key only once recorded or adopted), Service, StatefulSet."""
    assert obs.spec is not None
    recorded = (obs.topic.get("status") or {}).get("baseKey") or obs.spec.adopted_base_key()
    topic = obs.topic
    # Made before the host (the host's optional SWARM_BASE_KEY reads it: a same-named ConfigMap that
    # is not the operator's must be found, by the create's 409, before a host could read it); the
    # key goes in once recorded or adopted.
    _ensure_into(out, manifests.swarm_configmap(topic, obs.spec, public_key, recorded), obs.configmap, topic)
    _ensure_into(out, manifests.host_service(topic), obs.service, topic)
    _ensure_into(out, manifests.host_statefulset(topic, obs.spec, obs.peer_image, public_key),
                 obs.statefulset, topic)


def current_host(obs: Observed, public_key: str) -> bool:
    """Whether the host pod was made from the template that pins `public_key` (an older pod, still
    running while the StatefulSet rolls, is expected to sign with the key it was started with)."""
    annotations = ((obs.host_pod or {}).get("metadata") or {}).get("annotations") or {}
    return annotations.get(manifests.ANNOTATION_HOST_PUBLIC_KEY) == public_key


def host_readiness(obs: Observed, out: Plan, public_key: str) -> list[c.Cond]:
    """HostReady (and HostWritable when the report says): Ready pod + fresh verified report."""
    assert obs.spec is not None
    status = obs.topic.get("status") or {}
    host_ready = pod_ready(obs.host_pod)
    report = obs.report if host_ready else None
    timeout = obs.spec.bootstrapHost.announceTimeoutSeconds
    conds: list[c.Cond] = []
    if report is not None:
        conds.append(c.Cond(c.HOST_READY, True, "AnnounceFlushed",
                            f"announce flushed in {report.announce_seconds:.3f}s at {report.announced_at}"))
        if report.writable is not None:
            conds.append(_writable(report, obs.spec.adopted_base_key()))
    elif host_ready and obs.report_error is not None:
        conds.append(c.Cond(c.HOST_READY, False, obs.report_error.reason, obs.report_error.message))
        out.recheck_within(REPORT_RETRY)  # the host answers again without its pod changing
        identity = obs.secrets.get(names.identity_secret(obs.topic["metadata"]["name"]))
        if obs.report_error.reason == "WrongIdentity" and identity is not None and current_host(obs, public_key):
            # The host runs on a seed the operator no longer knows: a fresh Secret rolls it.
            out.writes.append(_write("delete", "Secret", obs.topic, identity["metadata"]["name"], None,
                                     f"delete Secret {identity['metadata']['name']} (the host no longer "
                                     "matches it)", uid=identity["metadata"].get("uid")))
    else:
        started = _started(obs.host_pod)
        # A running pod's announce is the host's to make from its start; a pod not running yet
        # (scheduling, its volume, its image) is waited for as long, then said to be pending.
        since = _clock_start(obs, started)
        waited = (obs.now - since).total_seconds()
        if waited > timeout and not started:
            conds.append(c.Cond(c.HOST_READY, False, "HostPending", _pending_message(obs.host_pod)))
        elif waited > timeout:
            conds.append(c.Cond(c.HOST_READY, False, "AnnounceTimeout",
                                f"the host has not announced within announceTimeoutSeconds {timeout}: "
                                "still retrying: check the DHT bootstrap nodes and the host logs"))
        else:
            reason = "HostNotReady" if status.get("baseKey") else "WaitingForAnnounce"
            # No elapsed time in the message: a status that changes by itself is rewritten on every pass.
            conds.append(c.Cond(c.HOST_READY, False, reason,
                                f"waiting for the host's announce to flush (announceTimeoutSeconds {timeout})"))
            out.recheck_within(timeout - waited + 1.0)  # AnnounceTimeout (or HostPending) comes with time alone
    out.host_ready = report is not None
    old_host = c.find(status.get("conditions") or [], c.HOST_READY)
    out.timeout_now = (conds[0].reason == "AnnounceTimeout"
                       and (old_host or {}).get("reason") != "AnnounceTimeout")
    return conds


def _started(pod: dict[str, Any] | None) -> bool:
    """The host pod runs on a node: its announce is the host's to make from now on."""
    return bool(pod) and not pod["metadata"].get("deletionTimestamp") and \
        (pod.get("status") or {}).get("phase") in ("Running", "Succeeded", "Failed")


def _clock_start(obs: Observed, started: bool) -> datetime:
    """When the host's time began: its pod's start, else the pod's (or, with no pod, the topic's) creation."""
    from .plan import parse_time

    pod = obs.host_pod or {}
    return (parse_time((pod.get("status") or {}).get("startTime")) if started else None) or \
        parse_time(pod.get("metadata", {}).get("creationTimestamp")) or \
        parse_time(obs.topic["metadata"].get("creationTimestamp")) or obs.now


def _pending_message(pod: dict[str, Any] | None) -> str:
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
        return c.Cond(c.HOST_WRITABLE, True, "Writable", "the host is a writer of the base")
    # Nothing of the adopted base reached the host: no writer in its system core (a connected
    # peer that holds nothing of the base, such as the topic's own client, does not count), or,
    # from a host that does not report writers, no peer at all.
    unserved = report.writers == 0 if report.writers is not None else report.peers == 0
    if adopted and unserved:
        return c.Cond(c.HOST_WRITABLE, False, "BaseUnreachable",
                      f"the adopted base {adopted} is served by no peer the host can reach (nothing of it "
                      "replicated): the host cannot become a writer; start a peer that holds the base, or "
                      "check spec.baseKey")
    return c.Cond(c.HOST_WRITABLE, False, "HostNotWritable",
                  "the host reports it is not a writer of the base (it rejoined with an empty disk, or "
                  "the base has not admitted it): nothing can be appended")


def base_key(obs: Observed, out: Plan, public_key: str, conds: list[c.Cond], extra: dict[str, Any]) -> str | None:
    """Record the key once (resourceVersion precondition), then give it to the ConfigMap."""
    from .plan import parse_time

    assert obs.spec is not None
    status = obs.topic.get("status") or {}
    recorded: str | None = status.get("baseKey")
    adopted = obs.spec.adopted_base_key()
    report = obs.report if out.host_ready else None
    degraded = c.Cond(c.DEGRADED, False, "AsExpected", "")
    if recorded:
        conds.append(c.Cond(c.BASE_KEY_RECORDED, True, "Recorded", f"base key {recorded}"))
        if report is not None and report.base_key != recorded:
            degraded = c.Cond(c.DEGRADED, True, "BaseKeyConflict",
                              f"the host reports base key {report.base_key}, the recorded key is "
                              f"{recorded}; the recorded key is kept and the clients stay on it")
    elif report is not None and adopted and report.base_key != adopted:
        degraded = c.Cond(c.DEGRADED, True, "BaseKeyConflict",
                          f"the host reports base key {report.base_key}, spec.baseKey is {adopted}; "
                          "nothing recorded")
        conds.append(c.Cond(c.BASE_KEY_RECORDED, False, "BaseKeyConflict", degraded.message))
    elif report is not None:
        recorded = report.base_key
        out.recorded_now = True
        started = parse_time(obs.topic["metadata"].get("creationTimestamp")) or obs.now
        extra.update({"baseKey": recorded, "baseKeyShort": recorded[:12], "writerKey": report.writer_key,
                      "announcedAt": report.announced_at,
                      "bootstrapSeconds": round(max(0.0, (obs.now - started).total_seconds()), 3)})
        conds.append(c.Cond(c.BASE_KEY_RECORDED, True, "Recorded", f"base key {recorded}"))
        # The body is the pass's final status (summary.finish), sent with the topic's version.
        out.writes.append(_write("record-status", names.KIND, obs.topic, obs.topic["metadata"]["name"], None,
                                 f"record base key {recorded}",
                                 resource_version=obs.topic["metadata"].get("resourceVersion")))
        configmap = manifests.swarm_configmap(obs.topic, obs.spec, public_key, recorded)
        out.writes.append(_write("apply", "ConfigMap", obs.topic, configmap["metadata"]["name"], configmap,
                                 f"write base key to ConfigMap {configmap['metadata']['name']}"))
    else:
        conds.append(c.Cond(c.BASE_KEY_RECORDED, False, "WaitingForHost",
                            "the base key is recorded once the host is Ready and its report verifies"))
    conds.append(degraded)
    old_degraded = c.find(status.get("conditions") or [], c.DEGRADED)
    out.conflict_now = degraded.status is True and (old_degraded or {}).get("status") != "True"
    return recorded


def clients(obs: Observed, out: Plan, public_key: str, recorded: str | None, conds: list[c.Cond],
            extra: dict[str, Any]) -> None:
    """Client Deployments only once a key is recorded (the invariant); before that, held at 0."""
    assert obs.spec is not None
    topic = obs.topic
    client_status: list[dict[str, Any]] = []
    if not recorded:
        for dname, live in sorted(obs.deployments.items()):
            if (live.get("spec") or {}).get("replicas", 0) > 0:
                out.writes.append(_write("scale", "Deployment", topic, dname, {"spec": {"replicas": 0}},
                                         f"hold Deployment {dname} at 0 until the base key is recorded"))
        client_status = [{"name": g.name, "replicas": g.start_replicas(), "readyReplicas": 0}
                         for g in obs.spec.clients]
    else:
        wanted = set()
        for group in obs.spec.clients:
            desired = manifests.client_deployment(topic, obs.spec, group, public_key, group.replicas)
            dname = desired["metadata"]["name"]
            wanted.add(dname)
            live = obs.deployments.get(dname)
            create_body = copy.deepcopy(desired)
            create_body["spec"]["replicas"] = group.start_replicas()
            diffs = _ensure_into(out, desired, live, topic, create_body)
            live_replicas = int(((live or {}).get("spec") or {}).get("replicas", group.start_replicas()))
            if "spec.replicas" in diffs:
                _event(out, "Normal", "ReplicasHeld", f"Deployment {dname} was scaled to {live_replicas}; "
                       f"spec.clients[{group.name}].replicas is {group.replicas}, so it is set back (leave "
                       "replicas unset to scale it by hand or with an HPA)", f"Deployment/{dname}")
            replicas = group.replicas if group.replicas is not None else live_replicas
            ready = int(((live or {}).get("status") or {}).get("readyReplicas") or 0)
            client_status.append({"name": group.name, "replicas": replicas, "readyReplicas": ready})
        for dname, live in sorted(obs.deployments.items()):
            if dname not in wanted:
                out.writes.append(_write("delete", "Deployment", topic, dname, None,
                                         f"delete Deployment {dname} (its client group was removed)",
                                         uid=live["metadata"].get("uid")))
    _clients_condition(recorded, client_status, conds, extra)


def _clients_condition(recorded: str | None, client_status: list[dict[str, Any]], conds: list[c.Cond],
                       extra: dict[str, Any]) -> None:
    desired_total = sum(g["replicas"] for g in client_status)
    ready_total = sum(min(g["readyReplicas"], g["replicas"]) for g in client_status)
    if not recorded:
        conds.append(c.Cond(c.CLIENTS_READY, False, "WaitingForBaseKey",
                            "clients start only after the base key is recorded"))
    elif all(g["readyReplicas"] >= g["replicas"] for g in client_status):
        conds.append(c.Cond(c.CLIENTS_READY, True, "ClientsReady", f"{ready_total}/{desired_total} ready"))
    else:
        conds.append(c.Cond(c.CLIENTS_READY, False, "RollingOut", f"{ready_total}/{desired_total} ready"))
    extra["clients"] = client_status
    extra["clientsReady"] = f"{ready_total}/{desired_total}"
