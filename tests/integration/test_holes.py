"""Issue 23, "the holes", with the real operator process on a real API server: Service drift is
repaired, a child that lost only its ownerReference is re-adopted (a stranger is not),
`spec.baseKey` cannot move once a key is recorded, an untouched topic shows no drift, and a topic
string outside the Basic Multilingual Plane works end to end."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fakehost import FakeHost
from integration_support import Api, Operator, example_topic, wait_for
from swarm_operator import names
from test_operator import KEY, NS, condition, seed_of, start_host, wait_condition
from test_ownership_and_drift import cm_path, dep_path, events_of

OTHER = "e7" * 32


def svc_path(name: str) -> str:
    return f"/api/v1/namespaces/{NS}/services/{name}-host"


def ready_with_host(api: Api, name: str, host: FakeHost) -> dict[str, Any]:
    start_host(api, name, host, ready=True)
    wait_condition(api, name, "BaseKeyRecorded", "True", timeout=30)
    return api.topic(NS, name)


def test_a_service_selector_edit_is_repaired_with_an_event(api: Api, operator: Operator) -> None:
    api.create(api.topic_path(NS), example_topic("chat", clients=0))
    with FakeHost(seed_of(api, "chat"), "chat", KEY) as host:
        ready_with_host(api, "chat", host)
        ours = (api.get(svc_path("chat")) or {})["spec"]["selector"]
        api.call("PATCH", svc_path("chat"), [{"op": "replace", "path": "/spec/selector", "value": {"app": "evil"}}],
                 "application/json-patch+json")
        wait_for("the selector restored", lambda: (api.get(svc_path("chat")) or {})["spec"]["selector"] == ours, 10)
        api.merge(svc_path("chat"), {"spec": {"selector": {"app": "evil"}}})  # beside ours: selects nothing of ours
        wait_for("the extra key gone", lambda: (api.get(svc_path("chat")) or {})["spec"]["selector"] == ours, 10)
    told = wait_for("DriftRepaired", lambda: [e for e in events_of(api, "chat", "DriftRepaired")
                                             if "Service chat-host" in e["message"]], 10)
    assert "spec.selector" in told[0]["message"]


def test_a_child_that_lost_only_its_owner_reference_is_adopted_again_a_stranger_is_not(
        api: Api, operator: Operator) -> None:
    api.create(api.topic_path(NS), example_topic("chat", clients=1))
    with FakeHost(seed_of(api, "chat"), "chat", KEY) as host:
        ready_with_host(api, "chat", host)
        wait_for("chat-kv", lambda: api.get(dep_path("chat-kv")), 30)
        wait_for("the children's uids recorded",
                 lambda: len(api.topic(NS, "chat")["status"].get("childUIDs") or {}) >= 6)
        uid = api.topic(NS, "chat")["metadata"]["uid"]
        for path in (cm_path("chat"), dep_path("chat-kv"), f"/api/v1/namespaces/{NS}/secrets/chat-member"):
            before = (api.get(path) or {})["metadata"]["uid"]
            api.call("PATCH", path, [{"op": "remove", "path": "/metadata/ownerReferences"}],
                     "application/json-patch+json")
            wait_for(f"{path} adopted again", lambda p=path: [r for r in (api.get(p) or {})["metadata"].get(
                "ownerReferences", []) if r["uid"] == uid and r.get("controller")], 10)
            assert (api.get(path) or {})["metadata"]["uid"] == before
        assert condition(api.topic(NS, "chat"), "Ready")["reason"] != "NameConflict"
        # A stranger with the operator's labels, made while the topic is paused: never adopted.
        api.merge(api.topic_path(NS, "chat"), {"spec": {"paused": True}})
        wait_for("paused", lambda: api.topic(NS, "chat")["status"].get("phase") == "Paused")
        labels = (api.get(cm_path("chat")) or {})["metadata"]["labels"]
        api.delete(cm_path("chat"))
        wait_for("the ConfigMap gone", lambda: api.get(cm_path("chat")) is None, 10)
        stranger = api.create(f"/api/v1/namespaces/{NS}/configmaps", {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "chat-swarm", "namespace": NS,
                                                                 "labels": labels},
            "data": {"baseKey": OTHER, "hostPublicKey": "ee" * 32, "topic": "chat"}})
        assert stranger is not None
        api.merge(api.topic_path(NS, "chat"), {"spec": {"paused": False}})
        cond = wait_condition(api, "chat", "Ready", "False", "NameConflict")
        assert "ConfigMap chat-swarm" in cond["message"]
        time.sleep(1.0)
        assert not (api.get(cm_path("chat")) or {})["metadata"].get("ownerReferences")
        assert (api.get(cm_path("chat")) or {})["data"]["baseKey"] == OTHER


def test_spec_base_key_cannot_name_another_base_once_a_key_is_recorded(api: Api, operator: Operator) -> None:
    api.create(api.topic_path(NS), example_topic("chat", clients=0))
    with FakeHost(seed_of(api, "chat"), "chat", KEY) as host:
        ready_with_host(api, "chat", host)
    path = api.topic_path(NS, "chat")
    with pytest.raises(AssertionError) as refused:
        api.merge(path, {"spec": {"baseKey": OTHER}})
    assert " 422 " in str(refused.value) and "spec.baseKey" in str(refused.value)
    api.merge(path, {"spec": {"baseKey": KEY}})  # naming the recorded key is fine
    assert api.topic(NS, "chat")["spec"]["baseKey"] == KEY


def test_an_untouched_topic_shows_no_drift(api: Api, operator: Operator) -> None:
    api.create(api.topic_path(NS), {"apiVersion": names.API_VERSION, "kind": "SwarmTopic",
                                    "metadata": {"name": "bare", "namespace": NS}, "spec": {}})
    with FakeHost(seed_of(api, "bare"), "bare", KEY) as host:
        ready_with_host(api, "bare", host)  # host 0 (spec: {} is three hosts: the others need no stand-in here)
        wait_for("every child made", lambda: api.get(cm_path("bare")) and api.get(svc_path("bare")), 10)
        time.sleep(3.0)  # ten re-checks
    assert events_of(api, "bare", "DriftRepaired") == []


def test_a_topic_string_outside_the_basic_multilingual_plane_works_end_to_end(api: Api, operator: Operator) -> None:
    topic = example_topic("chat", clients=2)
    topic["spec"]["topic"] = "чат-🔥-話題"
    api.create(api.topic_path(NS), topic)
    with FakeHost(seed_of(api, "chat"), "чат-🔥-話題", KEY) as host:
        ready_with_host(api, "chat", host)
        dep = wait_for("the clients", lambda: api.get(dep_path("chat-kv")), 30)
    configmap = api.get(cm_path("chat")) or {}
    assert configmap["data"]["topic"] == "чат-🔥-話題" and configmap["data"]["baseKey"] == KEY
    env = {e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SWARM_TOPIC"] == "чат-🔥-話題"
    assert dep["spec"]["replicas"] == 2
