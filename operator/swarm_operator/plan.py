"""From what was observed to what to do: the ordering invariant as a pure function.

`plan()` takes a snapshot of a SwarmTopic and its children (read by `reconcile.py`) and returns
the writes, in order, plus the status and events. No I/O here, so every branch of the invariant
is unit-tested without a cluster:

* children of the host side first (ConfigMap, Service, StatefulSet);
* the base key is recorded only from a Ready host whose signed report verified, with a
  resourceVersion precondition, and never overwritten afterwards;
* client Deployments exist (and scale) only once a key is recorded; before that, any that
  exist are held at 0 replicas.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import conditions as c
from . import manifests, names
from .hashes import bootstrap_topic_hash, topic_hash
from .hostreport import HostReport, HostReportError
from .kube import path
from .models import SwarmTopicSpec

# Reasons that mean something is wrong: their events are Warnings.
WARNING_REASONS = frozenset({
    "InvalidSpec", "AnnounceTimeout", "BaseKeyConflict", "BadSignature", "WrongTopic",
    "WrongIdentity", "MalformedReport", "HostUnreachable", "HostNotReady", "IdentityRotated",
})


@dataclass(frozen=True)
class Write:
    """One API call. `op`: create | json-patch | merge-patch | delete | record-status."""

    op: str
    url: str
    body: Any
    what: str


@dataclass(frozen=True)
class Event:
    type: str
    reason: str
    message: str


@dataclass
class Observed:
    topic: dict[str, Any]
    spec: SwarmTopicSpec | None
    spec_error: str | None
    now: datetime
    peer_image: str
    host_public_key: str | None = None
    identity_rotated: bool = False
    configmap: dict[str, Any] | None = None
    service: dict[str, Any] | None = None
    statefulset: dict[str, Any] | None = None
    host_pod: dict[str, Any] | None = None
    report: HostReport | None = None
    report_error: HostReportError | None = None
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Plan:
    writes: list[Write] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)  # the whole desired status
    events: list[Event] = field(default_factory=list)
    recorded_now: bool = False
    conflict_now: bool = False
    timeout_now: bool = False
    rollout_seconds: float | None = None  # set when the clients just became ready
    host_ready: bool = False

    @property
    def phase(self) -> str:
        return str(self.status.get("phase", "Pending"))


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def pod_ready(pod: dict[str, Any] | None) -> bool:
    if not pod or pod["metadata"].get("deletionTimestamp"):
        return False
    return any(cond.get("type") == "Ready" and cond.get("status") == "True"
               for cond in pod.get("status", {}).get("conditions", []))


def owned_by(obj: dict[str, Any], topic: dict[str, Any]) -> bool:
    return any(ref.get("uid") == topic["metadata"]["uid"]
               for ref in obj["metadata"].get("ownerReferences", []))


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def ensure(desired: dict[str, Any], live: dict[str, Any] | None, url: str) -> Write | None:
    """Create `desired`, or patch the fields the operator owns when the live object differs.

    Children are compared by the spec-hash annotation (and replicas, which users may scale by
    hand): no fight with server-side defaults, and a reconcile with nothing to do writes nothing.
    """
    kind = desired["kind"]
    what = f"{kind} {desired['metadata']['name']}"
    if live is None:
        return Write("create", url, desired, f"create {what}")
    want_hash = desired["metadata"]["annotations"][names.ANNOTATION_SPEC_HASH]
    live_meta = live.get("metadata", {})
    live_hash = (live_meta.get("annotations") or {}).get(names.ANNOTATION_SPEC_HASH)
    replicas_differ = ("replicas" in desired.get("spec", {})
                       and live.get("spec", {}).get("replicas") != desired["spec"]["replicas"])
    if live_hash == want_hash and not replicas_differ:
        return None
    obj_url = f"{url}/{desired['metadata']['name']}"
    if kind == "ConfigMap":
        body = {"metadata": {"labels": desired["metadata"]["labels"],
                             "annotations": desired["metadata"]["annotations"]},
                "data": desired["data"]}
        return Write("merge-patch", obj_url, body, f"update {what}")
    if kind == "Service":
        spec = {k: desired["spec"][k] for k in ("selector", "ports", "publishNotReadyAddresses")}
        body = {"metadata": {"labels": desired["metadata"]["labels"],
                             "annotations": desired["metadata"]["annotations"]}, "spec": spec}
        return Write("merge-patch", obj_url, body, f"update {what}")
    # StatefulSet / Deployment: replace what the operator owns; selectors and claim templates
    # are immutable and stay as created.
    ops: list[dict[str, Any]] = []
    if not live_meta.get("annotations"):
        ops.append({"op": "add", "path": "/metadata/annotations", "value": {}})
    if not live_meta.get("labels"):
        ops.append({"op": "add", "path": "/metadata/labels", "value": {}})
    for key, value in desired["metadata"]["labels"].items():
        ops.append({"op": "add", "path": f"/metadata/labels/{_escape(key)}", "value": value})
    ops.append({"op": "add", "path": f"/metadata/annotations/{_escape(names.ANNOTATION_SPEC_HASH)}",
                "value": want_hash})
    ops.append({"op": "replace", "path": "/spec/replicas", "value": desired["spec"]["replicas"]})
    ops.append({"op": "replace", "path": "/spec/template", "value": desired["spec"]["template"]})
    if "persistentVolumeClaimRetentionPolicy" in desired["spec"]:
        ops.append({"op": "add", "path": "/spec/persistentVolumeClaimRetentionPolicy",
                    "value": desired["spec"]["persistentVolumeClaimRetentionPolicy"]})
    return Write("json-patch", obj_url, ops, f"update {what}")


def _event_for(cond: dict[str, Any]) -> Event:
    warn = cond["reason"] in WARNING_REASONS and (cond["status"] != "True" or cond["type"] == c.DEGRADED)
    return Event("Warning" if warn else "Normal", cond["reason"], f"{cond['type']}={cond['status']}: "
                 f"{cond['message']}")


def _finish(obs: Observed, plan: Plan, desired: list[c.Cond], extra: dict[str, Any]) -> Plan:
    status = obs.topic.get("status") or {}
    generation = obs.topic["metadata"].get("generation")
    old = list(status.get("conditions") or [])
    new = c.merge(old, desired, generation, obs.now)
    new_status = copy.deepcopy(status)
    new_status.update(extra)
    new_status["observedGeneration"] = generation
    new_status["conditions"] = new
    plan.status = new_status
    for cond in c.transitions(old, new):
        if cond["type"] == c.DEGRADED and cond["status"] == "False" and not c.find(old, c.DEGRADED):
            continue  # "not degraded" on first sight is no news
        plan.events.append(_event_for(cond))
    return plan


def _waiting_since(obs: Observed) -> datetime:
    for obj in (obs.host_pod, obs.statefulset, obs.topic):
        if obj and (since := parse_time(obj["metadata"].get("creationTimestamp"))):
            return since
    return obs.now


def plan(obs: Observed) -> Plan:  # one decision table, read top to bottom
    topic = obs.topic
    meta = topic["metadata"]
    name, ns = meta["name"], meta["namespace"]
    status = topic.get("status") or {}
    out = Plan()

    if obs.spec is None:
        return _finish(obs, out, [c.Cond(c.READY, False, "InvalidSpec", obs.spec_error or "invalid spec")],
                       {"phase": "Degraded"})
    spec = obs.spec
    if spec.paused:
        if status.get("phase") != "Paused":
            out.events.append(Event("Normal", "Paused", "spec.paused is true: children are left alone"))
        return _finish(obs, out, [], {"phase": "Paused"})

    assert obs.host_public_key, "reconcile ensures the identity before planning"
    pub = obs.host_public_key
    topic_str = spec.topic_of(name)
    recorded: str | None = status.get("baseKey")
    adopted = spec.adopted_base_key()
    conds: list[c.Cond] = []
    extra: dict[str, Any] = {
        "topicHash": topic_hash(topic_str),
        "bootstrapTopicHash": bootstrap_topic_hash(topic_str),
        "hostPublicKey": pub,
    }
    if obs.identity_rotated:
        out.events.append(Event("Warning", "IdentityRotated",
                                "the identity Secret was missing and was re-created; the host rolls "
                                "onto the new key and the clients re-pin it"))

    # 1. The host side: ConfigMap (key only once recorded or adopted), Service, StatefulSet.
    cm_url = path("v1", "configmaps", ns)
    configmap = manifests.swarm_configmap(topic, spec, pub, recorded or adopted)
    for desired, live, url in (
        (configmap, obs.configmap, cm_url),
        (manifests.host_service(topic), obs.service, path("v1", "services", ns)),
        (manifests.host_statefulset(topic, spec, obs.peer_image, pub), obs.statefulset,
         path("apps/v1", "statefulsets", ns)),
    ):
        if live is not None and not owned_by(live, topic):
            out.events.append(Event("Warning", "NotOwned", f"{desired['kind']} {desired['metadata']['name']}"
                                    " exists and is not owned by this SwarmTopic; left alone"))
            continue
        if (write := ensure(desired, live, url)) is not None:
            out.writes.append(write)

    # 2. Is the host Ready (announce flushed), and does its signed report verify?
    host_ready = pod_ready(obs.host_pod)
    report = obs.report if host_ready else None
    timeout = spec.bootstrapHost.announceTimeoutSeconds
    if host_ready and report is not None:
        conds.append(c.Cond(c.HOST_READY, True, "AnnounceFlushed",
                            f"announce flushed in {report.announce_seconds:.3f}s at {report.announced_at}"))
    elif host_ready and obs.report_error is not None:
        conds.append(c.Cond(c.HOST_READY, False, obs.report_error.reason, obs.report_error.message))
        if obs.report_error.reason == "WrongIdentity":
            # The host runs on a seed the operator no longer knows: a fresh Secret rolls it.
            out.writes.append(Write("delete", path("v1", "secrets", ns, names.identity_secret(name)), None,
                                    "delete the identity Secret the host no longer matches"))
    else:
        waited = (obs.now - _waiting_since(obs)).total_seconds()
        if waited > timeout:
            conds.append(c.Cond(c.HOST_READY, False, "AnnounceTimeout",
                                f"the host has not announced after {waited:.0f}s (announceTimeoutSeconds "
                                f"{timeout}); still retrying: check the DHT bootstrap nodes and "
                                "the host logs"))
        else:
            reason = "HostNotReady" if recorded else "WaitingForAnnounce"
            conds.append(c.Cond(c.HOST_READY, False, reason,
                                f"waiting for the host's announce to flush ({waited:.0f}s of {timeout}s)"))
    out.host_ready = host_ready and report is not None
    old_host = c.find(status.get("conditions") or [], c.HOST_READY)
    out.timeout_now = (conds[0].reason == "AnnounceTimeout"
                       and (old_host or {}).get("reason") != "AnnounceTimeout")

    # 3. The base key: recorded once, never overwritten.
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
        started = parse_time(meta.get("creationTimestamp")) or obs.now
        record = {
            "baseKey": recorded,
            "baseKeyShort": recorded[:12],
            "writerKey": report.writer_key,
            "announcedAt": report.announced_at,
            "bootstrapSeconds": round(max(0.0, (obs.now - started).total_seconds()), 3),
        }
        extra.update(record)
        conds.append(c.Cond(c.BASE_KEY_RECORDED, True, "Recorded", f"base key {recorded}"))
    else:
        conds.append(c.Cond(c.BASE_KEY_RECORDED, False, "WaitingForHost",
                            "the base key is recorded once the host is Ready and its report verifies"))
    conds.append(degraded)
    old_degraded = c.find(status.get("conditions") or [], c.DEGRADED)
    out.conflict_now = degraded.status is True and (old_degraded or {}).get("status") != "True"

    # 4. Clients: only once a key is recorded (the invariant); before that, held at 0.
    deployments_url = path("apps/v1", "deployments", ns)
    client_status: list[dict[str, Any]] = []
    if recorded:
        if out.recorded_now:
            generation = meta.get("generation")
            record_status = _finish(obs, Plan(), conds, extra).status
            record_status["phase"] = "Bootstrapping"
            record_status["observedGeneration"] = generation
            out.writes.append(Write(
                "record-status", path(names.API_VERSION, names.PLURAL, ns, name, "status"),
                {"metadata": {"resourceVersion": meta.get("resourceVersion")}, "status": record_status},
                f"record base key {recorded}"))
            # Then the copy the clients read (the next pass also refreshes its spec-hash).
            out.writes.append(Write("merge-patch", f"{cm_url}/{configmap['metadata']['name']}",
                                    {"data": {names.CM_BASE_KEY: recorded}},
                                    f"write base key to ConfigMap {configmap['metadata']['name']}"))
        wanted = set()
        for group in spec.clients:
            desired = manifests.client_deployment(topic, spec, group, pub, group.replicas)
            dname = desired["metadata"]["name"]
            wanted.add(dname)
            live = obs.deployments.get(dname)
            if live is not None and not owned_by(live, topic):
                continue
            if (write := ensure(desired, live, deployments_url)) is not None:
                out.writes.append(write)
            ready = int(((live or {}).get("status") or {}).get("readyReplicas") or 0)
            client_status.append({"name": group.name, "replicas": group.replicas, "readyReplicas": ready})
        for dname, live in sorted(obs.deployments.items()):
            if dname not in wanted and owned_by(live, topic):
                out.writes.append(Write("delete", f"{deployments_url}/{dname}", None,
                                        f"delete Deployment {dname} (its client group was removed)"))
    else:
        for dname, live in sorted(obs.deployments.items()):
            if owned_by(live, topic) and (live.get("spec") or {}).get("replicas", 0) > 0:
                out.writes.append(Write("json-patch", f"{deployments_url}/{dname}",
                                        [{"op": "replace", "path": "/spec/replicas", "value": 0}],
                                        f"hold Deployment {dname} at 0 until the base key is recorded"))
        client_status = [{"name": g.name, "replicas": g.replicas, "readyReplicas": 0} for g in spec.clients]

    desired_total = sum(g["replicas"] for g in client_status)
    ready_total = sum(min(g["readyReplicas"], g["replicas"]) for g in client_status)
    all_ready = all(g["readyReplicas"] >= g["replicas"] for g in client_status)
    if not recorded:
        conds.append(c.Cond(c.CLIENTS_READY, False, "WaitingForBaseKey",
                            "clients start only after the base key is recorded"))
    elif all_ready:
        conds.append(c.Cond(c.CLIENTS_READY, True, "ClientsReady", f"{ready_total}/{desired_total} ready"))
    else:
        conds.append(c.Cond(c.CLIENTS_READY, False, "RollingOut", f"{ready_total}/{desired_total} ready"))
    extra["clients"] = client_status
    extra["clientsReady"] = f"{ready_total}/{desired_total}"

    # 5. The summary.
    failing = [x for x in conds if x.type != c.DEGRADED and x.status is not True]
    if degraded.status is True:
        failing.insert(0, degraded)
    if failing:
        conds.append(c.Cond(c.READY, False, failing[0].reason, failing[0].message))
    else:
        conds.append(c.Cond(c.READY, True, "Ready", f"base key recorded, host announced, "
                                                     f"{ready_total} clients ready"))
    if not failing:
        extra["phase"] = "Ready"
    elif degraded.status is True or (recorded and not out.host_ready):
        extra["phase"] = "Degraded"
    elif obs.host_pod is None and not recorded:
        extra["phase"] = "Pending"
    else:
        extra["phase"] = "Bootstrapping"

    old_clients = c.find(status.get("conditions") or [], c.CLIENTS_READY)
    recorded_cond = c.find(status.get("conditions") or [], c.BASE_KEY_RECORDED)
    if recorded and all_ready and (old_clients or {}).get("status") != "True":
        since = obs.now if out.recorded_now else parse_time((recorded_cond or {}).get("lastTransitionTime"))
        out.rollout_seconds = max(0.0, (obs.now - (since or obs.now)).total_seconds())
    return _finish(obs, out, conds, extra)
