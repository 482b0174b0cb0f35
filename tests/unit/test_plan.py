"""The ordering invariant, ownership, drift and the summary, branch by branch, on the pure planner."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import jsonpatch
import pytest
from swarm_operator import children, owned
from swarm_operator import conditions as c
from swarm_operator.children import Inputs
from swarm_operator.hostreport import HostReport, HostReportError
from swarm_operator.identity import public_key_of
from swarm_operator.models import SwarmTopicSpec
from swarm_operator.planner import Observed, Plan, after_refusal, plan, waves
from swarm_operator.validation import parse_spec
from unit_support import NOW, UID, make_topic, more_seeds, observed_of, put, stamp

PUB = "ab" * 32
KEY = "cd" * 32
OTHER = "ef" * 32
IMAGE = "ghcr.io/swarm-operator/swarm-peer:0.1.0"
SECRETS = ("chat-identity", "chat-member", "chat-encryption")
MEMBER_ID = "chat-member-uid"  # the seed id of owned_meta("chat-member") (its uid: no id annotation)


def _inputs(*args: Any) -> Inputs:
    """The children's inputs as the planner makes them for a topic whose member Secret exists."""
    return Inputs(*args, member_seed_id=MEMBER_ID)


def report(base_key: str = KEY, writable: bool | None = None, peers: int = 0,
           writers: int | None = None) -> HostReport:
    return HostReport(topic="chat", bootstrap_topic_hash="00" * 32, base_key=base_key, writer_key="11" * 32,
                      discovery_key="22" * 32, announced_at="2026-11-24T11:59:58.000Z",
                      announce_seconds=0.25, peers=peers, writable=writable, writers=writers)


def pod(ready: bool, age: float = 3.0) -> dict[str, Any]:
    """A host pod running on a node for `age` seconds."""
    return {"metadata": {"name": "chat-host-0", "creationTimestamp": stamp(NOW - timedelta(seconds=age + 1))},
            "spec": {"containers": [{"name": "swarm-peer",
                                     "ports": [{"name": "status", "containerPort": 8080}]}]},
            "status": {"podIP": "10.0.0.5", "phase": "Running", "startTime": stamp(NOW - timedelta(seconds=age)),
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def owned_meta(name: str, uid: str = UID) -> dict[str, Any]:
    """A Secret's metadata as the operator made it (the identity's carries the host key PUB)."""
    annotations = {"swarm-operator.dev/host-public-key": PUB} if name == "chat-identity" else {}
    return {"metadata": {"name": name, "uid": f"{name}-uid", "annotations": annotations, "ownerReferences": [
        {"apiVersion": "swarm-operator.dev/v1alpha1", "kind": "SwarmTopic", "name": "chat", "uid": uid,
         "controller": True}]}}


def observed(topic: dict[str, Any], **kw: Any) -> Observed:
    """A pass where the three Secrets exist (the operator's) and the host's key is known."""
    spec, error = parse_spec(topic)
    topic.setdefault("status", {}).setdefault("hostPublicKey", PUB)
    kw.setdefault("secrets", {name: owned_meta(name) for name in SECRETS})
    return observed_of(topic=topic, spec=spec, spec_error=error, now=NOW, peer_image=IMAGE, **kw)


def live(obj: dict[str, Any], ready: int | None = None, version: str = "7") -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["metadata"].update(uid=f"{obj['metadata']['name']}-uid", resourceVersion=version)
    if ready is not None:
        out["status"] = {"readyReplicas": ready}
    return out


def client_writes(p: Plan) -> list[Any]:
    return [w for w in p.writes if w.target.kind == "Deployment"]


def cond(p: Plan, ctype: str) -> dict[str, Any]:
    found = c.find(p.status["conditions"], ctype)
    assert found is not None, ctype
    return found


def test_first_pass_creates_the_secrets_and_the_host_side_and_no_client() -> None:
    topic = make_topic()
    seed = "01" * 32
    fresh = {"chat-identity": seed, "chat-member": "02" * 32, "chat-encryption": "03" * 32, **more_seeds()}
    p = plan(observed_of(topic=topic, spec=parse_spec(topic)[0], spec_error=None, now=NOW, peer_image=IMAGE,
                      secrets=dict.fromkeys(SECRETS), fresh=fresh, fresh_seed_id="5eed"))
    creates = [(w.target.kind, w.body["metadata"]["name"]) for w in p.writes if w.op == "create"]
    # Every Secret before the StatefulSet that mounts them (issue 23: the encryption key too, so a
    # same-named Secret made by someone else is found before any host could read it).
    assert creates == [("Secret", "chat-identity"), ("Secret", "chat-member"), ("Secret", "chat-encryption"),
                       ("ConfigMap", "chat-swarm"), ("Service", "chat-host"), ("StatefulSet", "chat-host")]
    assert all(w.body.get("immutable") is True for w in p.writes[:3])
    assert p.writes[1].body["metadata"]["annotations"]["swarm-operator.dev/seed-id"] == "5eed"
    sts = p.writes[5].body["spec"]["template"]["metadata"]["annotations"]
    assert sts["swarm-operator.dev/member-seed-id"] == "5eed"
    assert [r["kind"] for r in p.writes[2].body["metadata"]["ownerReferences"]] == ["SwarmTopic"]
    assert "baseKey" not in p.writes[3].body["data"]
    assert all(w.target.namespace == "apps" for w in p.writes)
    # The values are in the bodies only, never in what is logged.
    assert all(v not in w.what for w in p.writes for v in fresh.values())
    assert client_writes(p) == []
    assert p.status["phase"] == "Bootstrapping" and p.status["reason"] == "WaitingForAnnounce"
    assert p.events == []  # a new topic's first state is no transition
    # Once the host's volume exists it becomes the key's second owner (retainOnDelete, the default).
    second = plan(observed(make_topic(status=p.status), volume={"metadata": {"name": "data-chat-host-0", "uid": "v"}},
                           host_pod=pod(ready=False)))
    [owners] = [w for w in second.writes if w.target.kind == "Secret" and w.target.name == "chat-encryption"]
    assert (owners.op, owners.target.name) == ("patch", "chat-encryption")
    assert [r["kind"] for r in owners.body["metadata"]["ownerReferences"]] == ["SwarmTopic", "PersistentVolumeClaim"]
    assert cond(second, c.HOST_READY)["reason"] == "WaitingForAnnounce"  # it runs: its announce awaited
    assert cond(p, c.CLIENTS_READY)["reason"] == "WaitingForBaseKey"
    assert p.status["hostPublicKey"] == public_key_of(seed) and len(p.status["topicHash"]) == 64


@pytest.mark.parametrize("base", ["recorded", "volume"])
def test_a_lost_encryption_key_is_never_made_again_once_a_base_exists(base: str) -> None:
    topic = make_topic(status={"baseKey": KEY} if base == "recorded" else {})
    volume = {"metadata": {"name": "data-chat-host-0", "uid": "v"}} if base == "volume" else None
    secrets = {name: owned_meta(name) for name in SECRETS}
    secrets["chat-encryption"] = None
    p = plan(observed(topic, secrets=secrets, fresh={"chat-encryption": "03" * 32}, volume=volume,
                      host_pod=pod(ready=True), report=report()))
    assert not [w for w in p.writes if w.target.kind == "Secret"], "a new key for an existing base"
    assert p.status["phase"] == "Stuck" and p.status["reason"] == "EncryptionKeyLost"
    assert "chat-encryption" in cond(p, c.READY)["message"] and "restore" in cond(p, c.READY)["message"]
    assert [e.reason for e in p.events] == ["EncryptionKeyLost"]
    # Restored (by a backup's restore, owned by the topic): the topic goes on by itself.
    again = plan(observed(make_topic(status=p.status), volume=volume, host_pod=pod(ready=True), report=report()))
    assert again.status["reason"] != "EncryptionKeyLost" and [e.type for e in again.events] == ["Normal"]


def test_a_replaced_member_seed_rolls_the_host_and_the_clients_with_an_event() -> None:
    topic = make_topic(status={"baseKey": KEY})
    spec = parse_spec(topic)[0]
    secrets = {name: owned_meta(name) for name in SECRETS}
    secrets["chat-member"] = None
    statefulset = live(children.host_statefulset(_inputs(topic, spec, IMAGE, PUB, KEY)))
    p = plan(observed(topic, secrets=secrets, fresh={"chat-member": "02" * 32}, fresh_seed_id="n3w",
                      statefulset=statefulset, host_pod=pod(ready=True), report=report()))
    [create] = [w for w in p.writes if w.op == "create" and w.target.kind == "Secret"]
    assert create.body["metadata"]["name"] == "chat-member" and create.body["metadata"]["annotations"][
        "swarm-operator.dev/seed-id"] == "n3w"
    [event] = [e for e in p.events if e.reason == "MemberSeedReplaced"]
    assert event.type == "Warning" and "old seed admits no writer" in event.message
    rolled = [w for w in p.writes if w.target.kind in ("StatefulSet", "Deployment")]
    assert {w.target.kind for w in rolled} == {"StatefulSet", "Deployment"}
    for w in rolled:
        body = w.body if w.op != "repair" else None
        assert body is not None and body["spec"]["template"]["metadata"]["annotations"][
            "swarm-operator.dev/member-seed-id"] == "n3w"


def test_a_host_not_ready_records_nothing_and_starts_no_client() -> None:
    p = plan(observed(make_topic(), host_pod=pod(ready=False)))
    assert "baseKey" not in p.status
    assert client_writes(p) == []
    assert cond(p, c.HOST_READY)["reason"] == "WaitingForAnnounce"
    assert p.phase == "Bootstrapping"


def test_a_ready_host_with_a_verified_report_is_recorded_before_any_client() -> None:
    p = plan(observed(make_topic(), host_pod=pod(ready=True), report=report()))
    ops = [w.op for w in p.writes]
    record = ops.index("record-status")
    first_client = next(i for i, w in enumerate(p.writes) if w.target.kind == "Deployment")
    assert record < first_client, ops
    write = p.writes[record]
    assert write.resource_version == "42"  # a stale view gets 409, never overwrites
    assert write.body["status"]["baseKey"] == KEY and write.body["status"]["writerKey"] == "11" * 32
    assert write.body["status"]["bootstrapSeconds"] == 5.0
    cm_write = p.writes[record + 1]
    assert cm_write.target.kind == "ConfigMap" and cm_write.body["data"]["baseKey"] == KEY
    assert p.recorded_now and p.status["baseKeyShort"] == KEY[:12]
    assert p.writes[first_client].body["spec"]["replicas"] == 5
    assert p.phase == "RollingOut"
    assert [e.reason for e in p.events] == ["BaseKeyRecorded"]


def test_a_host_whose_announce_flushed_has_its_key_recorded_before_its_pod_is_ready() -> None:
    """The report read as soon as the host could sign one (its announce flushed), before the
    readiness probe's next period: the key is recorded from it, still before any client; the
    host's own condition waits for its pod."""
    p = plan(observed(make_topic(), host_pod=pod(ready=False), flushed=report()))
    ops = [w.op for w in p.writes]
    record = ops.index("record-status")
    first_client = next(i for i, w in enumerate(p.writes) if w.target.kind == "Deployment")
    assert record < first_client, ops
    assert p.writes[record].body["status"]["baseKey"] == KEY and p.recorded_now
    assert p.writes[record + 1].target.kind == "ConfigMap"
    assert cond(p, c.BASE_KEY_RECORDED)["status"] == "True"
    host = cond(p, c.HOST_READY)  # HostReady is the pod's, and says what it waits for
    assert host["status"] == "False" and host["reason"] == "HostNotReady" and "has flushed" in host["message"]


def test_an_early_report_never_overrides_a_recorded_key_or_an_adopted_one() -> None:
    topic = make_topic(status={"baseKey": KEY, "conditions": []})
    recorded = plan(observed(topic, host_pod=pod(ready=False), flushed=report(OTHER)))
    assert recorded.status["baseKey"] == KEY and not recorded.recorded_now
    assert all(OTHER not in str(w.body) for w in recorded.writes)
    topic = make_topic()
    topic["spec"]["baseKey"] = KEY
    adopted = plan(observed(topic, host_pod=pod(ready=False), flushed=report(OTHER)))
    assert "baseKey" not in adopted.status and client_writes(adopted) == []
    assert cond(adopted, c.BASE_KEY_RECORDED)["reason"] == "BaseKeyConflict"


@pytest.mark.parametrize("reason", ["BadSignature", "WrongTopic", "MalformedReport", "StaleReport"])
def test_a_report_that_does_not_verify_is_not_recorded(reason: str) -> None:
    p = plan(observed(make_topic(), host_pod=pod(ready=True),
                      report_error=HostReportError(reason, f"{reason} happened")))
    assert "baseKey" not in p.status
    assert client_writes(p) == []
    assert cond(p, c.HOST_READY)["reason"] == reason
    assert p.phase == "Stuck" and p.status["reason"] == reason
    assert [(e.type, e.reason) for e in p.events] == [("Warning", reason)]


def test_an_unreachable_host_is_bootstrapping_not_stuck() -> None:
    p = plan(observed(make_topic(), host_pod=pod(ready=True),
                      report_error=HostReportError("HostUnreachable", "connection refused")))
    assert p.phase == "Bootstrapping" and p.status["reason"] == "HostUnreachable"


def test_wrong_identity_deletes_only_its_own_secret_by_uid() -> None:
    host = pod(ready=True)
    host["metadata"]["annotations"] = {children.ANNOTATION_HOST_PUBLIC_KEY: PUB}  # made to pin this key
    p = plan(observed(make_topic(), host_pod=host,
                      report_error=HostReportError("WrongIdentity", "signs as someone else")))
    deletes = [w for w in p.writes if w.op == "delete"]
    assert [(w.target.kind, w.target.name, w.uid) for w in deletes] == [
        ("Secret", "chat-identity", "chat-identity-uid")]
    # A pod of an older template (the StatefulSet is rolling it onto a new identity) is waited for.
    host["metadata"]["annotations"] = {children.ANNOTATION_HOST_PUBLIC_KEY: OTHER}
    p = plan(observed(make_topic(), host_pod=host,
                      report_error=HostReportError("WrongIdentity", "signs as someone else")))
    assert [w for w in p.writes if w.op == "delete"] == []


def test_an_own_identity_secret_whose_key_was_never_recorded_is_replaced() -> None:
    topic = make_topic()
    obs = observed(topic)
    del topic["status"]["hostPublicKey"]
    obs.secrets["chat-identity"]["metadata"]["annotations"] = {}  # made by an older operator
    p = plan(obs)
    assert [(w.op, w.target.name, w.uid) for w in p.writes] == [("delete", "chat-identity", "chat-identity-uid")]


def test_a_recorded_key_is_never_overwritten_by_another_report() -> None:
    topic = make_topic(status={"baseKey": KEY, "conditions": []})
    p = plan(observed(topic, host_pod=pod(ready=True), report=report(OTHER)))
    assert p.status["baseKey"] == KEY
    assert all(w.op != "record-status" for w in p.writes)
    assert all(OTHER not in str(w.body) for w in p.writes)
    degraded = cond(p, c.DEGRADED)
    assert degraded["status"] == "True" and degraded["reason"] == "BaseKeyConflict"
    assert p.conflict_now and p.phase == "Stuck" and p.status["reason"] == "BaseKeyConflict"
    assert any(e.type == "Warning" and e.reason == "BaseKeyConflict" for e in p.events)
    cms = [w for w in p.writes if w.target.kind == "ConfigMap"]
    assert all(w.body["data"]["baseKey"] == KEY for w in cms)


def test_adopting_a_base_key_refuses_a_host_with_another() -> None:
    topic = make_topic()
    topic["spec"]["baseKey"] = KEY
    p = plan(observed(topic))
    assert p.writes[0].body["data"]["baseKey"] == KEY  # the host is told to join it
    p = plan(observed(topic, host_pod=pod(ready=True), report=report(OTHER)))
    assert "baseKey" not in p.status and client_writes(p) == []
    assert cond(p, c.DEGRADED)["reason"] == "BaseKeyConflict"


def test_announce_timeout_is_a_condition_not_a_silent_wait() -> None:
    p = plan(observed(make_topic(age=500), host_pod=pod(ready=False, age=400)))
    host = cond(p, c.HOST_READY)
    assert host["reason"] == "AnnounceTimeout" and "120" in host["message"]
    assert p.timeout_now and p.phase == "Stuck"
    assert [(e.type, e.reason) for e in p.events] == [("Warning", "AnnounceTimeout")]
    again = plan(observed(make_topic(age=510, status=p.status), host_pod=pod(ready=False, age=410)))
    assert not again.timeout_now and again.events == []  # once per episode


def test_invalid_spec_gets_a_condition_an_event_and_no_children() -> None:
    topic = make_topic()
    topic["spec"]["clients"][0]["replicas"] = -3
    p = plan(observed(topic))
    assert p.writes == []
    ready = cond(p, c.READY)
    assert ready["status"] == "False" and ready["reason"] == "InvalidSpec"
    assert "spec.clients.0.replicas" in ready["message"]
    assert [e.type for e in p.events] == ["Warning"] and p.phase == "Stuck"


def _steady(topic: dict[str, Any], ready: int, **changes: Any) -> Observed:
    spec = SwarmTopicSpec.model_validate(topic["spec"])
    group = spec.clients[0]
    kw: dict[str, Any] = {
        "host_pod": pod(ready=True), "report": report(),
        "configmap": live(children.swarm_configmap(_inputs(topic, spec, IMAGE, PUB, KEY))),
        "service": live(children.host_service(_inputs(topic, spec, IMAGE, PUB))),
        "statefulset": live(children.host_statefulset(_inputs(topic, spec, IMAGE, PUB))),
        "deployments": {"chat-kv": live(children.client_deployment(_inputs(topic, spec, IMAGE, PUB), group,
                                                                   group.replicas), ready)},
    }
    return observed(topic, **{**kw, **changes})


def test_paused_topics_observe_and_report_but_write_no_child() -> None:
    topic = make_topic(status={"baseKey": KEY, "phase": "Ready", "conditions": []})
    topic["spec"]["paused"] = True
    topic["spec"]["clients"][0]["replicas"] = 7  # a change made while paused waits
    obs = _steady(topic, ready=2)
    p = plan(obs)
    assert p.writes == [] and p.phase == "Paused"
    assert p.status["clientsReady"] == "2/7" and cond(p, c.HOST_READY)["status"] == "True"
    assert p.status["observedGeneration"] == 1
    assert [e.reason for e in p.events] == ["Paused"]


def test_steady_state_writes_nothing_and_is_ready() -> None:
    topic = make_topic(status={"baseKey": KEY, "conditions": []})
    p = plan(_steady(topic, ready=5))
    assert p.writes == []
    assert cond(p, c.READY)["status"] == "True" and p.phase == "Ready" and "reason" not in p.status
    assert p.status["clientsReady"] == "5/5"
    again = plan(_steady(make_topic(status=p.status), ready=5))
    assert again.writes == [] and again.status == p.status and again.events == []


def test_server_defaults_and_user_fields_are_not_drift() -> None:
    topic = make_topic(status={"baseKey": KEY, "conditions": []})
    obs = _steady(topic, ready=5)
    sts = obs.statefulset
    assert sts is not None
    container = sts["spec"]["template"]["spec"]["containers"][0]
    container["terminationMessagePath"] = "/dev/termination-log"  # a server default
    container["readinessProbe"]["successThreshold"] = 1
    container["env"].append({"name": "USER_EXTRA", "value": "1"})  # someone else's field
    sts["metadata"]["annotations"]["team"] = "blue"
    sts["spec"]["revisionHistoryLimit"] = 10
    assert plan(obs).writes == []


@pytest.mark.parametrize(("what", "edit", "path"), [
    ("ConfigMap", lambda o: o.configmap["data"].update(baseKey=OTHER), "data.baseKey"),
    ("ConfigMap", lambda o: o.configmap["data"].pop("baseKey"), "data.baseKey"),
    ("Deployment", lambda o: o.deployments["chat-kv"]["spec"]["template"]["spec"]["containers"][0]["env"].__setitem__(
        slice(None), [e if e["name"] != "SWARM_BASE_KEY" else {"name": "SWARM_BASE_KEY", "value": OTHER}
                      for e in o.deployments["chat-kv"]["spec"]["template"]["spec"]["containers"][0]["env"]]),
     "SWARM_BASE_KEY"),
    ("StatefulSet", lambda o: o.statefulset["spec"]["template"]["spec"]["containers"][0].update(image="evil:1"),
     "image"),
    ("StatefulSet", lambda o: o.statefulset["spec"]["template"]["spec"]["containers"][0]["env"].pop(), "env"),
    ("StatefulSet", lambda o: o.statefulset["spec"]["template"]["spec"]["containers"][0].pop("securityContext"),
     "securityContext"),
    ("Service", lambda o: o.service["spec"]["ports"][0].update(port=9999), "ports"),
])
def test_drift_of_an_owned_field_is_repaired_with_an_event(what: str, edit: Any, path: str) -> None:
    topic = make_topic(status={"baseKey": KEY, "conditions": []})
    obs = _steady(topic, ready=5)
    edit(obs)
    p = plan(obs)
    assert [(w.op, w.target.kind) for w in p.writes] == [("repair", what)]
    write = p.writes[0]
    assert write.resource_version == "7" and write.body[0] == {
        "op": "replace", "path": "/metadata/resourceVersion", "value": "7"}
    named = {"ConfigMap": "chat-swarm", "Service": "chat-host", "StatefulSet": "chat-host", "Deployment": "chat-kv"}
    repaired = jsonpatch.apply_patch(obs.children[what][named[what]], write.body)
    put(obs, what, named[what], repaired)
    assert plan(obs).writes == [], "the repair did not restore every drifted field"
    if what == "ConfigMap":
        assert repaired["data"]["baseKey"] == KEY  # status.baseKey is the source of truth
    drift = [e for e in p.events if e.reason == "DriftRepaired"]
    assert len(drift) == 1 and path in drift[0].message and what in drift[0].message


def test_set_replicas_are_held_with_an_event() -> None:
    topic = make_topic(status={"baseKey": KEY, "conditions": [], "phase": "Ready"})
    obs = _steady(topic, ready=5)
    obs.deployments["chat-kv"]["spec"]["replicas"] = 9  # `kubectl scale` or an HPA
    p = plan(obs)
    assert [(w.op, w.body[1:]) for w in client_writes(p)] == [
        ("repair", [{"op": "replace", "path": "/spec/replicas", "value": 5}])]
    assert [e.reason for e in p.events] == ["ReplicasHeld"]


def test_unset_replicas_are_created_at_min_replicas_then_left_alone() -> None:
    spec = make_topic()["spec"]
    del spec["clients"][0]["replicas"]
    spec["clients"][0]["minReplicas"] = 2
    first = plan(observed(make_topic(spec=spec), host_pod=pod(ready=True), report=report()))
    assert [w.body["spec"]["replicas"] for w in client_writes(first)] == [2]
    topic = make_topic(spec=spec, status={"baseKey": KEY, "conditions": [], "phase": "Ready"})
    obs = _steady(topic, ready=7)
    obs.deployments["chat-kv"]["spec"]["replicas"] = 7  # scaled by an HPA
    p = plan(obs)
    assert p.writes == [] and p.events == []
    assert p.status["clientsReady"] == "7/7"


def test_scaling_a_group_applies_only_its_deployment_and_keeps_the_key() -> None:
    topic = make_topic(status={"baseKey": KEY, "conditions": []})
    obs = _steady(topic, ready=5)
    topic["spec"]["clients"][0]["replicas"] = 8
    obs.spec = SwarmTopicSpec.model_validate(topic["spec"])
    p = plan(obs)
    assert [(w.op, w.target.kind, w.body["spec"]["replicas"]) for w in p.writes] == [("apply", "Deployment", 8)]
    assert p.status["baseKey"] == KEY and cond(p, c.CLIENTS_READY)["reason"] == "RollingOut"
    assert p.events == []  # a spec change, not drift; the rollout is progress the phase shows


def test_removed_groups_are_deleted_by_uid_and_new_ones_created() -> None:
    topic = make_topic(status={"baseKey": KEY, "conditions": []})
    obs = _steady(topic, ready=5)
    group = copy.deepcopy(topic["spec"]["clients"][0])
    group["name"] = "log"
    topic["spec"]["clients"] = [group]
    obs.spec = SwarmTopicSpec.model_validate(topic["spec"])
    p = plan(obs)
    assert sorted((w.op, w.target.name, w.uid) for w in p.writes) == [
        ("create", None, None), ("delete", "chat-kv", "chat-kv-uid")]


def test_clients_that_exist_before_the_key_are_held_at_zero() -> None:
    topic = make_topic()
    spec = SwarmTopicSpec.model_validate(topic["spec"])
    stray = live(children.client_deployment(_inputs(topic, spec, IMAGE, PUB), spec.clients[0], 5))
    p = plan(observed(topic, host_pod=pod(ready=False), deployments={"chat-kv": stray}))
    assert [(w.op, w.body) for w in client_writes(p)] == [("scale", {"spec": {"replicas": 0}})]


def _foreign(obj: dict[str, Any], uid: str | None = "someone-else") -> dict[str, Any]:
    out = live(obj)
    out["metadata"]["ownerReferences"] = [] if uid is None else [
        {"apiVersion": "swarm-operator.dev/v1alpha1", "kind": "SwarmTopic", "name": "a-b", "uid": uid,
         "controller": True}]
    return out


@pytest.mark.parametrize("kind", ["Secret", "ConfigMap", "Service", "StatefulSet", "Deployment"])
def test_a_same_named_foreign_object_is_never_used_and_blocks_everything(kind: str) -> None:
    topic = make_topic(status={"baseKey": KEY, "conditions": []})
    obs = _steady(topic, ready=5)
    spec = obs.spec
    assert spec is not None
    if kind == "Secret":
        obs.secrets["chat-identity"] = {"metadata": {"name": "chat-identity", "uid": "x"}}
    elif kind == "ConfigMap":
        put(obs, kind, "chat-swarm", _foreign(children.swarm_configmap(_inputs(topic, spec, IMAGE, OTHER, OTHER)),
                                              uid=None))
    elif kind == "Service":
        put(obs, kind, "chat-host", _foreign(children.host_service(_inputs(topic, spec, IMAGE, PUB))))
    elif kind == "StatefulSet":
        put(obs, kind, "chat-host", _foreign(children.host_statefulset(_inputs(topic, spec, IMAGE, PUB))))
    else:
        obs.deployments["chat-kv"] = _foreign(obs.deployments["chat-kv"])
    p = plan(obs)
    assert p.writes == []
    ready = cond(p, c.READY)
    assert ready["reason"] == "NameConflict" and kind in ready["message"]
    assert p.phase == "Stuck" and p.status["reason"] == "NameConflict"
    assert [(e.type, e.reason) for e in p.events] == [("Warning", "NameConflict")]
    again = plan(_steady(make_topic(status=p.status), ready=5, configmap=obs.configmap,
                         service=obs.children["Service"]["chat-host"], statefulset=obs.statefulset,
                         deployments=obs.deployments, secrets=obs.secrets))
    assert again.events == [] and again.writes == []


def test_an_owner_reference_that_is_not_the_controller_is_not_ownership() -> None:
    topic = make_topic(status={"baseKey": KEY, "conditions": []})
    obs = _steady(topic, ready=5)
    assert obs.configmap is not None
    obs.configmap["metadata"]["ownerReferences"][0]["controller"] = False
    assert cond(plan(obs), c.READY)["reason"] == "NameConflict"


def test_a_clean_cold_start_posts_at_most_six_events() -> None:
    topic = make_topic()
    spec = SwarmTopicSpec.model_validate(topic["spec"])
    events: list[str] = []
    status: dict[str, Any] = {"hostPublicKey": PUB}
    passes: list[dict[str, Any]] = [
        {}, {}, {"host_pod": pod(ready=False)}, {"host_pod": pod(ready=False)},
        {"host_pod": pod(ready=True), "report": report()}, {"host_pod": pod(ready=True), "report": report()},
    ]
    for kw in passes:
        p = plan(observed(make_topic(status=copy.deepcopy(status)), **kw))
        events += [e.reason for e in p.events]
        status = p.status
    steady = _steady(make_topic(status=status), ready=5)
    put(steady, "Deployment", "chat-kv",
        live(children.client_deployment(_inputs(topic, spec, IMAGE, PUB), spec.clients[0], 5), ready=5))
    p = plan(steady)
    events += [e.reason for e in p.events]
    assert events == ["BaseKeyRecorded"]  # plain progress is shown by the phase, not by events
    assert len(events) <= 6


def test_host_not_writable_is_a_condition() -> None:
    topic = make_topic(status={"baseKey": KEY, "conditions": []})
    p = plan(_steady(topic, ready=5, report=report(writable=False)))
    assert cond(p, c.HOST_WRITABLE)["status"] == "False"
    assert p.phase == "Stuck" and p.status["reason"] == "HostNotWritable"
    fine = plan(_steady(make_topic(status={"baseKey": KEY, "conditions": []}), ready=5,
                        report=report(writable=True)))
    assert fine.phase == "Ready"


def test_open_writers_get_a_warning_once() -> None:
    topic = make_topic(status={"baseKey": KEY, "conditions": []})
    topic["spec"]["writers"] = {"policy": "Open"}
    p = plan(_steady(topic, ready=5))
    assert ("Warning", "OpenWriters") in [(e.type, e.reason) for e in p.events]
    again = plan(_steady(make_topic(spec=topic["spec"], status=p.status), ready=5))
    assert "OpenWriters" not in [e.reason for e in again.events]


def test_a_rejected_write_becomes_the_ready_reason_with_one_event() -> None:
    p = plan(observed(make_topic()))
    service = next(w for w in p.writes if w.target.kind == "Service")
    refused = after_refusal(p, service, "ApiRejected", "422 Invalid: metadata.name: a DNS-1035 label", NOW)
    assert refused.writes == p.writes[:p.writes.index(service)]
    ready = c.find(refused.status["conditions"], c.READY)
    assert ready is not None and ready["reason"] == "ApiRejected" and "DNS-1035" in ready["message"]
    assert refused.status["phase"] == "Stuck" and refused.status["reason"] == "ApiRejected"
    assert [(e.type, e.reason) for e in refused.events] == [("Warning", "ApiRejected")]


def test_an_adopted_base_nobody_serves_is_base_unreachable() -> None:
    spec = make_topic()["spec"]
    spec["baseKey"] = KEY
    topic = make_topic(spec=spec, status={"baseKey": KEY, "conditions": []})
    p = plan(_steady(topic, ready=5, report=report(writable=False, peers=0)))
    assert cond(p, c.HOST_WRITABLE)["reason"] == "BaseUnreachable"
    assert p.phase == "Stuck" and p.status["reason"] == "BaseUnreachable"
    served = plan(_steady(make_topic(spec=spec, status={"baseKey": KEY, "conditions": []}), ready=5,
                          report=report(writable=False, peers=2)))
    assert served.status["reason"] == "HostNotWritable"
    # The topic's own client connected to the host holds nothing of the base: still unreachable.
    client_only = plan(_steady(make_topic(spec=spec, status={"baseKey": KEY, "conditions": []}), ready=5,
                               report=report(writable=False, peers=1, writers=0)))
    assert client_only.status["reason"] == "BaseUnreachable"
    replicated = plan(_steady(make_topic(spec=spec, status={"baseKey": KEY, "conditions": []}), ready=5,
                              report=report(writable=False, peers=1, writers=3)))
    assert replicated.status["reason"] == "HostNotWritable"


def _volume(uid: str = "pvc-uid") -> dict[str, Any]:
    return {"metadata": {"name": "data-chat-host-0", "uid": uid}}


def test_a_retained_volume_becomes_the_encryption_secrets_second_owner() -> None:
    topic = make_topic(status={"baseKey": KEY, "conditions": []})
    p = plan(_steady(topic, ready=5, volume=_volume()))
    [write] = p.writes
    assert (write.op, write.target.kind, write.target.name) == ("patch", "Secret", "chat-encryption")
    refs = write.body["metadata"]["ownerReferences"]
    assert [(r["kind"], r["uid"], bool(r.get("controller"))) for r in refs] == [
        ("SwarmTopic", UID, True), ("PersistentVolumeClaim", "pvc-uid", False)]
    assert write.resource_version == write.body["metadata"]["resourceVersion"]
    # Once both owners are there, nothing more; the identity and member Secrets stay the topic's only.
    obs = _steady(topic, ready=5, volume=_volume())
    obs.secrets["chat-encryption"]["metadata"]["ownerReferences"] = refs
    assert plan(obs).writes == []
    # Without retainOnDelete the volume goes with the topic: the topic alone owns the key.
    topic["spec"]["bootstrapHost"]["storage"]["retainOnDelete"] = False
    obs = _steady(topic, ready=5, volume=_volume())
    obs.secrets["chat-encryption"]["metadata"]["ownerReferences"] = refs
    assert [r["kind"] for r in plan(obs).writes[0].body["metadata"]["ownerReferences"]] == ["SwarmTopic"]


def test_a_topic_recreated_over_its_volume_adopts_the_kept_encryption_key() -> None:
    topic = make_topic()
    kept = {"metadata": {"name": "chat-encryption", "uid": "kept", "resourceVersion": "3", "ownerReferences": [
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": "data-chat-host-0", "uid": "pvc-uid"}]}}
    p = plan(observed(topic, secrets={"chat-encryption": kept, "chat-identity": None, "chat-member": None},
                      fresh={"chat-identity": "11" * 32, "chat-member": "22" * 32, **more_seeds()}, volume=_volume()))
    assert cond(p, c.READY)["reason"] != "NameConflict"
    creates = [w.body["metadata"]["name"] for w in p.writes if w.op == "create" and w.target.kind == "Secret"]
    assert creates == ["chat-identity", "chat-member"]  # the key is not made anew
    [adopt] = [w for w in p.writes if w.op == "patch"]
    assert adopt.target.name == "chat-encryption" and adopt.what.startswith("adopt")
    assert adopt.body["metadata"]["ownerReferences"][0]["uid"] == UID
    # Kept by another volume (or by nothing), it is someone else's: a NameConflict, left alone.
    for other in ([{"kind": "PersistentVolumeClaim", "name": "data-chat-host-0", "uid": "another"}], []):
        kept["metadata"]["ownerReferences"] = other
        p = plan(observed(make_topic(), secrets={"chat-encryption": kept, "chat-identity": None, "chat-member": None},
                          fresh={"chat-identity": "11" * 32, "chat-member": "22" * 32, **more_seeds()},
                          volume=_volume()))
        assert cond(p, c.READY)["reason"] == "NameConflict" and p.writes == []


def test_time_alone_brings_a_topic_back_only_where_time_changes_it() -> None:
    waiting = plan(observed(make_topic(age=30), host_pod=pod(ready=False, age=20)))
    assert waiting.recheck is not None and 100 <= waiting.recheck <= 102  # the announce timeout (120 s)
    unreachable = plan(observed(make_topic(), host_pod=pod(ready=True),
                                report_error=HostReportError("HostUnreachable", "refused")))
    assert unreachable.recheck == 5.0
    steady = plan(_steady(make_topic(status={"baseKey": KEY, "conditions": []}), ready=5))
    assert steady.recheck is None  # only changes (and the slow re-check) bring it back


def test_only_the_clients_ready_counts_moving_is_progress_not_a_transition() -> None:
    from swarm_operator.planner import progress_only

    topic = make_topic(status={"baseKey": KEY, "conditions": []})
    spec = SwarmTopicSpec.model_validate(topic["spec"])
    desired = children.client_deployment(_inputs(topic, spec, IMAGE, PUB), spec.clients[0], 5)
    one, two, five = (plan(_steady(make_topic(status={"baseKey": KEY, "conditions": []}), ready=5,
                                   deployments={"chat-kv": live(desired, ready=n)})).status for n in (1, 2, 5))
    assert progress_only(one, two)  # 1/5 -> 2/5: may wait to be written with the next count
    assert not progress_only(two, five)  # 2/5 -> 5/5: ClientsReady and Ready turn True, written at once
    assert not progress_only(one, one)


def test_the_host_key_is_read_from_the_identity_secrets_own_metadata() -> None:
    """A pass that created the identity Secret and stopped before status recorded its key (a 409
    on the ConfigMap, a crash) loses nothing: the Secret carries its public half."""
    topic = make_topic()
    made = children.identity_secret(topic, "01" * 32)
    assert made["metadata"]["annotations"][children.ANNOTATION_HOST_PUBLIC_KEY] == public_key_of("01" * 32)
    assert "01" * 32 not in str(made["metadata"])  # the seed is data, never metadata
    identity = {"metadata": {**owned_meta("chat-identity")["metadata"], "annotations": made["metadata"]["annotations"]}}
    obs = observed_of(topic=topic, spec=parse_spec(topic)[0], spec_error=None, now=NOW, peer_image=IMAGE,
                   secrets={"chat-identity": identity, "chat-member": owned_meta("chat-member"),
                            "chat-encryption": owned_meta("chat-encryption")})
    p = plan(obs)
    assert [w for w in p.writes if w.op == "delete"] == []
    assert p.status["hostPublicKey"] == public_key_of("01" * 32)


def test_a_host_pod_that_is_not_running_yet_is_pending_not_timed_out() -> None:
    """Scheduling, a volume or an image: not the host's announce. The clock starts when it runs."""
    waiting = pod(ready=False, age=900)
    waiting["status"] = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                                                             "reason": "Unschedulable",
                                                             "message": "0/1 nodes are available"}]}
    p = plan(observed(make_topic(age=1000), host_pod=waiting))
    host = cond(p, c.HOST_READY)
    assert host["reason"] == "HostPending" and "0/1 nodes are available" in host["message"]
    assert p.phase == "Bootstrapping" and p.events == [] and not p.timeout_now
    # Within the timeout it is the usual wait (no status write for a short Pending spell).
    young = {**waiting, "metadata": {**waiting["metadata"], "creationTimestamp": stamp(NOW - timedelta(seconds=30))}}
    assert cond(plan(observed(make_topic(age=1000), host_pod=young)), c.HOST_READY)["reason"] == "WaitingForAnnounce"
    started = plan(observed(make_topic(age=1000), host_pod=pod(ready=False, age=30)))
    assert cond(started, c.HOST_READY)["reason"] == "WaitingForAnnounce"  # 30 s of 120 since it started


def test_a_first_pass_sends_what_needs_no_order_at_once_and_the_statefulset_after() -> None:
    topic = make_topic()
    fresh = {"chat-identity": "01" * 32, "chat-member": "02" * 32, "chat-encryption": "03" * 32, **more_seeds()}
    p = plan(observed_of(topic=topic, spec=parse_spec(topic)[0], spec_error=None, now=NOW, peer_image=IMAGE,
                         secrets=dict.fromkeys(SECRETS), fresh=fresh))
    assert [[(w.target.kind, w.body["metadata"]["name"]) for w in wave] for wave in waves(p.writes)] == [
        [("Secret", "chat-identity"), ("Secret", "chat-member"), ("Secret", "chat-encryption"),
         ("ConfigMap", "chat-swarm"), ("Service", "chat-host")],
        [("StatefulSet", "chat-host")]]  # what mounts the Secrets and reads the ConfigMap: once they are answered


def test_the_keys_record_then_the_configmap_then_the_clients_each_after_the_other() -> None:
    p = plan(observed(make_topic(), host_pod=pod(ready=True), report=report()))
    assert [[(w.op, w.target.kind) for w in wave] for wave in waves(p.writes)][-3:] == [
        [("record-status", "SwarmTopic")], [("apply", "ConfigMap")], [("create", "Deployment")]]


def test_a_live_child_already_found_as_wished_is_not_compared_again_until_it_changes() -> None:
    topic = make_topic(status={"baseKey": KEY, "conditions": []})
    obs = _steady(topic, ready=5)
    sts, cm = obs.statefulset, obs.configmap
    assert sts is not None and cm is not None
    sts["metadata"]["generation"] = 1  # as the API server keeps it for a StatefulSet (not a ConfigMap)
    assert plan(obs).writes == []  # built, compared, found as wished: remembered
    container = sts["spec"]["template"]["spec"]["containers"][0]
    container["image"] = "evil:1"  # an edit that, on a real server, comes with a new version...
    cm["data"]["baseKey"] = OTHER
    assert plan(obs).writes == []  # ...so at the same versions nothing is built or compared again
    sts["metadata"]["resourceVersion"] = "8"  # a status update: the StatefulSet's generation did not move
    assert plan(obs).writes == []
    sts["metadata"]["generation"] = 2  # its spec changed
    cm["metadata"]["resourceVersion"] = "8"
    assert sorted((w.op, w.target.kind) for w in plan(obs).writes) == [("repair", "ConfigMap"),
                                                                        ("repair", "StatefulSet")]


def test_a_child_is_built_again_when_what_it_is_made_from_changes() -> None:
    topic = make_topic(status={"baseKey": KEY, "conditions": []})
    assert plan(_steady(topic, ready=5)).writes == []
    changed = make_topic(status={"baseKey": KEY, "conditions": []})
    changed["spec"]["clients"][0]["replicas"] = 7  # a new spec (its generation would move too)
    obs = _steady(topic, ready=5)  # the live children as the old spec made them
    obs.topic, obs.spec = changed, parse_spec(changed)[0]
    assert [(w.op, w.target.kind) for w in plan(obs).writes] == [("apply", "Deployment")]
    obs = _steady(topic, ready=5)
    obs.peer_image = "ghcr.io/swarm-operator/swarm-peer:0.2.0"  # the operator's peer image changed
    assert [(w.op, w.target.kind) for w in plan(obs).writes] == [("apply", "StatefulSet")]


def test_the_recorded_key_is_in_the_configmap_alone() -> None:
    """planner/desired.py wants every other host-side child without it (`want_key`)."""
    from dataclasses import replace

    from swarm_operator.planner.desired import want_key

    topic = make_topic()
    spec = parse_spec(topic)[0]
    assert spec is not None
    for hosts in (1, 3):
        made = Inputs(topic, spec, IMAGE, PUB, host_public_keys=(PUB,) * hosts, hosts=hosts)
        keyed = replace(made, base_key=KEY)
        for kind in owned.built():
            assert kind.build is not None
            if kind is owned.CONFIGMAP:
                assert kind.build(keyed) != kind.build(made) and want_key(kind, keyed) != want_key(kind, made)
            else:
                assert kind.build(keyed) == kind.build(made), kind.kind
                assert want_key(kind, keyed) == want_key(kind, made)


def test_the_host_template_is_made_from_neither_the_recorded_key_nor_the_running_hosts_nor_the_partition() -> None:
    """planner/desired.py remembers the template's digest without them (NOT_IN_TEMPLATE)."""
    from dataclasses import replace

    from swarm_operator.children import statefulset
    from swarm_operator.planner.desired import NOT_IN_TEMPLATE, template_hash

    topic = make_topic()
    made = Inputs(topic, parse_spec(topic)[0], IMAGE, PUB, host_public_keys=(PUB,))
    digest = statefulset.template_hash(made)
    for field, value in {"base_key": KEY, "host_replicas": 3, "partition": 2, "restore": "true"}.items():
        assert field in NOT_IN_TEMPLATE
        assert statefulset.template_hash(replace(made, **{field: value})) == digest, field
        assert template_hash(replace(made, **{field: value})) == digest
    assert statefulset.template_hash(replace(made, peer_image="other:1")) != digest
    assert template_hash(replace(made, peer_image="other:1")) != digest
