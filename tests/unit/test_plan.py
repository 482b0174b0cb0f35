"""The ordering invariant, branch by branch, on the pure planner (no cluster, no I/O)."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from swarm_operator import conditions as c
from swarm_operator import manifests
from swarm_operator.hostreport import HostReport, HostReportError
from swarm_operator.models import SwarmTopicSpec
from swarm_operator.plan import Observed, Plan, plan
from swarm_operator.reconcile import parse_spec
from unit_support import NOW, make_topic, stamp

PUB = "ab" * 32
KEY = "cd" * 32
OTHER = "ef" * 32
IMAGE = "ghcr.io/swarm-operator/swarm-peer:0.1.0"


def report(base_key: str = KEY) -> HostReport:
    return HostReport(topic="chat", bootstrap_topic_hash="00" * 32, base_key=base_key, writer_key="11" * 32,
                      discovery_key="22" * 32, announced_at="2026-11-24T11:59:58.000Z",
                      announce_seconds=0.25, peers=0)


def pod(ready: bool, age: float = 3.0) -> dict[str, Any]:
    return {"metadata": {"name": "chat-host-0", "creationTimestamp": stamp(NOW - timedelta(seconds=age))},
            "spec": {"containers": [{"name": "swarm-peer",
                                     "ports": [{"name": "status", "containerPort": 8080}]}]},
            "status": {"podIP": "10.0.0.5",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def observed(topic: dict[str, Any], **kw: Any) -> Observed:
    spec, error = parse_spec(topic)
    return Observed(topic=topic, spec=spec, spec_error=error, now=NOW, peer_image=IMAGE,
                    host_public_key=PUB if spec else None, **kw)


def live(obj: dict[str, Any], ready: int | None = None) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    if ready is not None:
        out["status"] = {"readyReplicas": ready}
    return out


def ops(p: Plan) -> list[str]:
    return [w.what.split(" ")[0] + " " + w.what.split(" ")[1] for w in p.writes]


def client_writes(p: Plan) -> list[Any]:
    return [w for w in p.writes if "/deployments" in w.url]


def cond(p: Plan, ctype: str) -> dict[str, Any]:
    found = c.find(p.status["conditions"], ctype)
    assert found is not None, ctype
    return found


def test_first_pass_creates_the_host_side_and_no_client() -> None:
    p = plan(observed(make_topic()))
    kinds = [w.body["kind"] for w in p.writes if w.op == "create"]
    assert kinds == ["ConfigMap", "Service", "StatefulSet"]
    assert "baseKey" not in p.writes[0].body["data"]
    assert client_writes(p) == []
    assert p.status["phase"] == "Pending"
    assert cond(p, c.CLIENTS_READY)["reason"] == "WaitingForBaseKey"
    assert cond(p, c.READY)["status"] == "False"
    assert p.status["hostPublicKey"] == PUB and len(p.status["topicHash"]) == 64


def test_a_host_not_ready_records_nothing_and_starts_no_client() -> None:
    p = plan(observed(make_topic(), host_pod=pod(ready=False)))
    assert "baseKey" not in p.status
    assert client_writes(p) == []
    assert cond(p, c.HOST_READY)["reason"] == "WaitingForAnnounce"
    assert p.phase == "Bootstrapping"


def test_a_ready_host_with_a_verified_report_is_recorded_before_any_client() -> None:
    topic = make_topic()
    p = plan(observed(topic, host_pod=pod(ready=True), report=report()))
    whats = [w.op for w in p.writes]
    record = whats.index("record-status")
    first_client = next(i for i, w in enumerate(p.writes) if "/deployments" in w.url)
    assert record < first_client, whats
    body = p.writes[record].body
    assert body["metadata"]["resourceVersion"] == "42"  # a stale view gets 409, never overwrites
    assert body["status"]["baseKey"] == KEY and body["status"]["writerKey"] == "11" * 32
    assert body["status"]["bootstrapSeconds"] == 5.0
    cm_write = p.writes[record + 1]
    assert cm_write.body == {"data": {"baseKey": KEY}}
    assert p.recorded_now and p.status["baseKeyShort"] == KEY[:12]
    deployment = p.writes[first_client].body
    assert deployment["spec"]["replicas"] == 5


def test_a_report_that_does_not_verify_is_not_recorded() -> None:
    for reason in ("BadSignature", "WrongTopic", "MalformedReport", "HostUnreachable"):
        p = plan(observed(make_topic(), host_pod=pod(ready=True),
                          report_error=HostReportError(reason, f"{reason} happened")))
        assert "baseKey" not in p.status
        assert client_writes(p) == []
        assert cond(p, c.HOST_READY)["reason"] == reason
        assert any(e.reason == reason and e.type == "Warning" for e in p.events)


def test_wrong_identity_drops_the_secret_so_the_host_rolls_onto_a_known_one() -> None:
    p = plan(observed(make_topic(), host_pod=pod(ready=True),
                      report_error=HostReportError("WrongIdentity", "signs as someone else")))
    assert any(w.op == "delete" and w.url.endswith("/secrets/chat-identity") for w in p.writes)


def test_a_recorded_key_is_never_overwritten_by_another_report() -> None:
    topic = make_topic(status={"baseKey": KEY, "conditions": []})
    p = plan(observed(topic, host_pod=pod(ready=True), report=report(OTHER)))
    assert p.status["baseKey"] == KEY
    assert all(w.op != "record-status" for w in p.writes)
    assert all(OTHER not in str(w.body) for w in p.writes)
    degraded = cond(p, c.DEGRADED)
    assert degraded["status"] == "True" and degraded["reason"] == "BaseKeyConflict"
    assert p.conflict_now and p.phase == "Degraded"
    assert any(e.type == "Warning" and e.reason == "BaseKeyConflict" for e in p.events)
    assert cond(p, c.READY)["reason"] == "BaseKeyConflict"
    # The clients keep the recorded key (they read the ConfigMap, which keeps it).
    cms = [w for w in p.writes if "/configmaps" in w.url]
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
    topic = make_topic(age=500)
    p = plan(observed(topic, host_pod=pod(ready=False, age=400)))
    host = cond(p, c.HOST_READY)
    assert host["reason"] == "AnnounceTimeout" and "120" in host["message"]
    assert p.timeout_now
    assert any(e.type == "Warning" and e.reason == "AnnounceTimeout" for e in p.events)
    again = plan(observed(make_topic(age=510, status=p.status), host_pod=pod(ready=False, age=410)))
    assert not again.timeout_now  # counted once per episode


def test_invalid_spec_gets_a_condition_an_event_and_no_children() -> None:
    topic = make_topic()
    topic["spec"]["clients"][0]["replicas"] = -3
    p = plan(observed(topic))
    assert p.writes == []
    ready = cond(p, c.READY)
    assert ready["status"] == "False" and ready["reason"] == "InvalidSpec"
    assert "spec.clients.0.replicas" in ready["message"]
    assert [e.type for e in p.events] == ["Warning"]


def test_paused_topics_write_nothing_but_their_phase() -> None:
    topic = make_topic(status={"baseKey": KEY, "phase": "Ready", "conditions": []})
    topic["spec"]["paused"] = True
    p = plan(observed(topic, host_pod=pod(ready=True), report=report()))
    assert p.writes == [] and p.phase == "Paused"
    assert p.status["observedGeneration"] == 1


def _steady(topic: dict[str, Any], ready: int) -> Observed:
    spec = SwarmTopicSpec.model_validate(topic["spec"])
    return observed(
        topic, host_pod=pod(ready=True), report=report(),
        configmap=live(manifests.swarm_configmap(topic, spec, PUB, KEY)),
        service=live(manifests.host_service(topic)),
        statefulset=live(manifests.host_statefulset(topic, spec, IMAGE, PUB)),
        deployments={"chat-kv": live(manifests.client_deployment(topic, spec, spec.clients[0], PUB, 5),
                                     ready)},
    )


def test_steady_state_writes_nothing_and_is_ready() -> None:
    topic = make_topic(status={"baseKey": KEY, "conditions": []})
    p = plan(_steady(topic, ready=5))
    assert p.writes == []
    assert cond(p, c.READY)["status"] == "True" and p.phase == "Ready"
    assert p.status["clientsReady"] == "5/5"
    again = plan(_steady(make_topic(status=p.status), ready=5))
    assert again.writes == [] and again.status == p.status and again.events == []


def test_scaling_a_group_patches_only_its_deployment_and_keeps_the_key() -> None:
    topic = make_topic(status={"baseKey": KEY, "conditions": []})
    obs = _steady(topic, ready=5)
    topic["spec"]["clients"][0]["replicas"] = 8
    obs.spec = SwarmTopicSpec.model_validate(topic["spec"])
    p = plan(obs)
    assert [w.op for w in p.writes] == ["json-patch"]
    assert {"op": "replace", "path": "/spec/replicas", "value": 8} in p.writes[0].body
    assert p.status["baseKey"] == KEY and cond(p, c.CLIENTS_READY)["reason"] == "RollingOut"


def test_removed_groups_are_deleted_and_new_ones_created() -> None:
    topic = make_topic(status={"baseKey": KEY, "conditions": []})
    obs = _steady(topic, ready=5)
    group = copy.deepcopy(topic["spec"]["clients"][0])
    group["name"] = "log"
    topic["spec"]["clients"] = [group]
    obs.spec = SwarmTopicSpec.model_validate(topic["spec"])
    p = plan(obs)
    assert sorted((w.op, w.url.rsplit("/", 1)[-1]) for w in p.writes) == [
        ("create", "deployments"), ("delete", "chat-kv")]


def test_clients_that_exist_before_the_key_are_held_at_zero() -> None:
    topic = make_topic()
    spec = SwarmTopicSpec.model_validate(topic["spec"])
    stray = live(manifests.client_deployment(topic, spec, spec.clients[0], PUB, 5))
    p = plan(observed(topic, host_pod=pod(ready=False), deployments={"chat-kv": stray}))
    assert [w.body for w in client_writes(p)] == [[{"op": "replace", "path": "/spec/replicas", "value": 0}]]


def test_objects_owned_by_someone_else_are_left_alone() -> None:
    topic = make_topic()
    spec = SwarmTopicSpec.model_validate(topic["spec"])
    foreign = live(manifests.host_statefulset(topic, spec, "rogue", PUB))
    foreign["metadata"]["ownerReferences"][0]["uid"] = "someone-else"
    foreign["metadata"]["annotations"] = {}
    p = plan(observed(topic, statefulset=foreign))
    assert all("/statefulsets" not in w.url for w in p.writes)
    assert any(e.reason == "NotOwned" for e in p.events)
