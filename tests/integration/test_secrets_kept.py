"""Issue 23, "a topic's secrets are never silently replaced" and "every name checked before anything
is created", with the real operator process on a real API server: a lost encryption key is never
made again once a base exists (Stuck, EncryptionKeyLost, one event; restored, the topic goes on), a
replaced member seed rolls the host and the clients with an event, the Secrets are immutable, and
a same-named object without the operator's labels stops the topic before anything is created."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fakehost import FakeHost
from integration_support import Api, Operator, example_topic, wait_for
from test_operator import KEY, NS, seed_of, start_host, wait_condition
from test_ownership_and_drift import dep_path, events_of, sts_path

SEED_ID = "swarm-operator.dev/member-seed-id"


def secret_path(name: str) -> str:
    return f"/api/v1/namespaces/{NS}/secrets/{name}"


def template_annotations(obj: dict[str, Any] | None) -> dict[str, str]:
    return ((obj or {}).get("spec", {}).get("template", {}).get("metadata") or {}).get("annotations") or {}


def ready_topic(api: Api, host: FakeHost, name: str = "chat") -> dict[str, Any]:
    start_host(api, name, host, ready=True)
    wait_condition(api, name, "BaseKeyRecorded", "True", timeout=30)
    wait_for("the client Deployment", lambda: api.get(dep_path(f"{name}-kv")), 30)
    return api.topic(NS, name)


def test_a_lost_encryption_key_is_never_made_again_once_a_base_exists(api: Api, operator: Operator) -> None:
    api.create(api.topic_path(NS), example_topic("chat", clients=1))
    with FakeHost(seed_of(api, "chat"), "chat", KEY) as host:
        ready_topic(api, host)
        kept = api.get(secret_path("chat-encryption"))
        assert kept is not None
        api.delete(secret_path("chat-encryption"))
        cond = wait_condition(api, "chat", "Ready", "False", "EncryptionKeyLost", timeout=15)
        assert "chat-encryption" in cond["message"] and KEY in cond["message"] and "restore" in cond["message"]
        time.sleep(2.0)  # many passes: still no new key
        assert api.get(secret_path("chat-encryption")) is None
        topic = api.topic(NS, "chat")
        assert topic["status"]["phase"] == "Stuck" and topic["status"]["baseKey"] == KEY
        assert len(events_of(api, "chat", "EncryptionKeyLost")) == 1
        # Put back as `swarm-operator restore` does: the same data, the topic its controller.
        meta = kept["metadata"]
        api.create(f"/api/v1/namespaces/{NS}/secrets", {
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque", "immutable": True, "data": kept["data"],
            "metadata": {"name": "chat-encryption", "namespace": NS, "labels": meta["labels"],
                         "ownerReferences": [r for r in meta["ownerReferences"] if r["kind"] == "SwarmTopic"]}})
        wait_for("out of Stuck", lambda: api.topic(NS, "chat")["status"].get("reason") != "EncryptionKeyLost", 15)
    restored = api.get(secret_path("chat-encryption")) or {}
    assert restored["data"] == kept["data"], "the restored key was replaced"


def test_a_replaced_member_seed_rolls_the_host_and_the_clients_with_an_event(api: Api, operator: Operator) -> None:
    api.create(api.topic_path(NS), example_topic("chat", clients=1))
    with FakeHost(seed_of(api, "chat"), "chat", KEY) as host:
        ready_topic(api, host)
        old = api.get(secret_path("chat-member")) or {}
        old_id = old["metadata"]["annotations"]["swarm-operator.dev/seed-id"]
        assert template_annotations(api.get(sts_path("chat")))[SEED_ID] == old_id
        assert template_annotations(api.get(dep_path("chat-kv")))[SEED_ID] == old_id
        api.delete(secret_path("chat-member"))  # the way to rotate it: it is immutable

        def replaced() -> dict[str, Any] | None:
            secret = api.get(secret_path("chat-member"))
            return secret if secret and secret["metadata"]["uid"] != old["metadata"]["uid"] else None
        new = wait_for("a new member Secret", replaced, 15)
        new_id = new["metadata"]["annotations"]["swarm-operator.dev/seed-id"]
        assert new_id != old_id and new["data"] != old["data"]
        wait_for("the host rolled onto it",
                 lambda: template_annotations(api.get(sts_path("chat"))).get(SEED_ID) == new_id, 10)
        wait_for("the clients rolled onto it",
                 lambda: template_annotations(api.get(dep_path("chat-kv"))).get(SEED_ID) == new_id, 10)
    [event] = wait_for("the event (posted after the writes)", lambda: events_of(api, "chat", "MemberSeedReplaced"), 10)
    assert event["type"] == "Warning" and "old seed admits no writer" in event["message"]


def test_the_topics_secrets_are_immutable(api: Api, operator: Operator) -> None:
    api.create(api.topic_path(NS), example_topic("chat", clients=0))
    seed_of(api, "chat")
    for suffix in ("identity", "member", "encryption"):
        secret = wait_for(f"chat-{suffix}", lambda s=suffix: api.get(secret_path(f"chat-{s}")), 20)
        assert secret.get("immutable") is True
        key = next(iter(secret["data"]))
        with pytest.raises(AssertionError) as refused:
            api.merge(secret_path(f"chat-{suffix}"), {"data": {key: "AAAA"}})
        assert " 422 " in str(refused.value) and "immutable" in str(refused.value)


FOREIGN: dict[str, tuple[str, dict[str, Any]]] = {
    "Secret chat-encryption": ("/api/v1/namespaces/apps/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "chat-encryption"},
        "stringData": {"key": "aa" * 32}}),
    "Secret chat-member": ("/api/v1/namespaces/apps/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "chat-member"},
        "stringData": {"invite-seed": "bb" * 32}}),
    "ConfigMap chat-swarm": ("/api/v1/namespaces/apps/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "chat-swarm"}, "data": {"baseKey": "cc" * 32}}),
    "Service chat-host": ("/api/v1/namespaces/apps/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "chat-host"},
        "spec": {"clusterIP": "None", "selector": {"app": "mine"}, "ports": [{"name": "x", "port": 80}]}}),
    "StatefulSet chat-host": ("/apis/apps/v1/namespaces/apps/statefulsets", {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "chat-host"},
        "spec": {"replicas": 0, "serviceName": "mine", "selector": {"matchLabels": {"app": "mine"}},
                 "template": {"metadata": {"labels": {"app": "mine"}}, "spec": {"containers": [
                     {"name": "c", "image": "registry.example.com/mine:1", "volumeMounts": [
                         {"name": "loot", "mountPath": "/loot"}]}],
                     "volumes": [{"name": "loot", "secret": {"secretName": "chat-encryption"}}]}}}}),
}


@pytest.mark.parametrize("what", FOREIGN)
def test_a_foreign_name_stops_the_topic_before_anything_is_created(api: Api, operator: Operator, what: str) -> None:
    path, body = FOREIGN[what]
    assert api.create(path, body) is not None
    api.create(api.topic_path(NS), example_topic("chat", clients=1))
    cond = wait_condition(api, "chat", "Ready", "False", "NameConflict")
    assert what in cond["message"], cond["message"]
    time.sleep(1.5)
    selector = "labelSelector=swarm-operator.dev/topic%3Dchat"
    for root, plural in (("/api/v1", "secrets"), ("/api/v1", "configmaps"), ("/api/v1", "services"),
                         ("/apis/apps/v1", "statefulsets"), ("/apis/apps/v1", "deployments")):
        made = [o["metadata"]["name"] for o in api.items(f"{root}/namespaces/{NS}/{plural}?{selector}")]
        assert made == [], f"{plural} {made} created before the NameConflict on {what}"
    assert len(events_of(api, "chat", "NameConflict")) == 1
