"""Issue 9 and the operator's side of issue 8, with the real operator process: it trusts only what
it owns, repairs drift by content, says why it is stuck, and keeps the topic's Secrets to itself."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from fakehost import FakeHost
from integration_support import Api, Operator, example_topic, wait_for
from nacl.signing import SigningKey
from test_operator import condition, deployments, seed_of, start_host, wait_condition, warning_events

NS = "apps"
KEY = "5b" * 32
OTHER = "e7" * 32


ROOTS = {"cm": f"/api/v1/namespaces/{NS}/configmaps/{{}}-swarm",
         "sts": f"/apis/apps/v1/namespaces/{NS}/statefulsets/{{}}-host",
         "dep": f"/apis/apps/v1/namespaces/{NS}/deployments/{{}}"}


def cm_path(name: str) -> str:
    return ROOTS["cm"].format(name)


def sts_path(name: str) -> str:
    return ROOTS["sts"].format(name)


def dep_path(name: str) -> str:
    return ROOTS["dep"].format(name)


def events_of(api: Api, name: str, reason: str | None = None) -> list[dict[str, Any]]:
    return [e for e in api.items(f"/api/v1/namespaces/{NS}/events")
            if e["involvedObject"].get("name") == name and e["involvedObject"].get("kind") == "SwarmTopic"
            and (reason is None or e.get("reason") == reason)]



def put(api: Api, path: str, edit: Any) -> None:
    """Read, change and write back an object, as `kubectl edit` does (again on a 409: a controller,
    the Deployment's own, wrote it meanwhile)."""
    for _ in range(5):
        obj = api.get(path)
        assert obj is not None, path
        edit(obj)
        try:
            api.call("PUT", path, obj)
            return
        except AssertionError as exc:
            if " 409 " not in str(exc):
                raise
    raise AssertionError(f"PUT {path}: a 409 five times")


def env_of(deployment: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_a_foreign_configmap_is_never_used_then_the_real_key_is_recorded(api: Api, operator: Operator) -> None:
    foreign = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "chat-swarm", "namespace": NS},
               "data": {"baseKey": OTHER, "hostPublicKey": "ee" * 32, "topic": "chat"}}
    made = api.create(f"/api/v1/namespaces/{NS}/configmaps", foreign)
    assert made is not None
    api.create(api.topic_path(NS), example_topic("chat", clients=2))
    cond = wait_condition(api, "chat", "Ready", "False", "NameConflict")
    assert "ConfigMap chat-swarm" in cond["message"]
    time.sleep(2.0)  # several reconcile intervals of a standing conflict
    topic = api.topic(NS, "chat")
    assert topic["status"]["phase"] == "Stuck" and topic["status"]["reason"] == "NameConflict"
    assert "baseKey" not in topic["status"]
    still = api.get(cm_path("chat"))
    assert still is not None and still["metadata"]["resourceVersion"] == made["metadata"]["resourceVersion"]
    # No host ever ran (it would read the ConfigMap's key): the ConfigMap is made before the
    # StatefulSet, and its create's 409 stopped the pass.
    assert api.get(sts_path("chat")) is None and deployments(api, "chat") == []
    assert len(events_of(api, "chat", "NameConflict")) == 1, "a standing conflict posts one event"

    api.delete(cm_path("chat"))  # the name is free: the operator proceeds on its own
    with FakeHost(seed_of(api, "chat"), "chat", KEY) as host:
        start_host(api, "chat", host, ready=True)
        wait_condition(api, "chat", "BaseKeyRecorded", "True", timeout=30)
    configmap = api.get(cm_path("chat"))
    assert configmap is not None and configmap["data"]["baseKey"] == KEY
    assert configmap["metadata"]["ownerReferences"][0]["uid"] == api.topic(NS, "chat")["metadata"]["uid"]


def test_a_foreign_identity_secret_is_never_read_replaced_or_deleted(api: Api, operator: Operator) -> None:
    data = base64.b64encode(b"someone else's data").decode()
    made = api.create(f"/api/v1/namespaces/{NS}/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "chat-identity", "namespace": NS},
        "type": "Opaque", "data": {"seed": data}})
    assert made is not None
    api.create(api.topic_path(NS), example_topic("chat"))
    cond = wait_condition(api, "chat", "Ready", "False", "NameConflict")
    assert "Secret chat-identity" in cond["message"]
    time.sleep(2.0)
    secret = api.get(f"/api/v1/namespaces/{NS}/secrets/chat-identity")
    assert secret is not None and secret["metadata"]["uid"] == made["metadata"]["uid"]
    assert secret["data"] == {"seed": data} and not secret["metadata"].get("ownerReferences")
    assert api.get(sts_path("chat")) is None
    assert len(events_of(api, "chat", "NameConflict")) == 1


def test_colliding_client_deployment_names_are_a_name_conflict(api: Api, operator: Operator) -> None:
    first = example_topic("a", clients=2)
    first["spec"]["clients"][0]["name"] = "b-kv"
    api.create(api.topic_path(NS), first)
    with FakeHost(seed_of(api, "a"), "a", KEY) as host:
        start_host(api, "a", host, ready=True)
        wait_for("Deployment a-b-kv", lambda: api.get(dep_path("a-b-kv")), 30)
    second = example_topic("a-b", clients=5)  # group kv: Deployment a-b-kv too
    api.create(api.topic_path(NS), second)
    cond = wait_condition(api, "a-b", "Ready", "False", "NameConflict")
    assert "Deployment a-b-kv" in cond["message"] and "SwarmTopic a" in cond["message"]
    time.sleep(1.5)
    dep = api.get(dep_path("a-b-kv"))
    assert dep is not None and dep["spec"]["replicas"] == 2
    assert dep["metadata"]["ownerReferences"][0]["name"] == "a"
    assert api.get(sts_path("a-b")) is None


def test_a_hand_made_deployment_of_the_same_name_is_left_alone(api: Api, operator: Operator) -> None:
    labels = {"app": "mine"}
    made = api.create(f"/apis/apps/v1/namespaces/{NS}/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "chat-kv", "namespace": NS},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    assert made is not None
    api.create(api.topic_path(NS), example_topic("chat", clients=3))
    with FakeHost(seed_of(api, "chat"), "chat", KEY) as host:
        # None of the operator's labels: no cache sees it; the client Deployment's create (once
        # the key is recorded) meets it, and from then on the topic reads it by name.
        start_host(api, "chat", host, ready=True)
        cond = wait_condition(api, "chat", "Ready", "False", "NameConflict", timeout=30)
        assert "Deployment chat-kv (controlled by nothing)" in cond["message"]
        time.sleep(1.5)
        dep = api.get(dep_path("chat-kv"))
        assert dep is not None and dep["metadata"]["generation"] == made["metadata"]["generation"]
        assert dep["spec"]["replicas"] == 2 and "ownerReferences" not in dep["metadata"]
        assert api.topic(NS, "chat")["status"]["baseKey"] == KEY  # harmless: no client ever ran on it
        assert len(events_of(api, "chat", "NameConflict")) == 1
        api.delete(dep_path("chat-kv"))
        wait_for("the operator's chat-kv", lambda: ((api.get(dep_path("chat-kv")) or {}).get("metadata") or {}).get(
            "ownerReferences"), 30)


def test_drift_is_repaired_by_content_within_one_interval(api: Api, operator: Operator) -> None:
    api.create(api.topic_path(NS), example_topic("chat", clients=2))
    with FakeHost(seed_of(api, "chat"), "chat", KEY) as host:
        start_host(api, "chat", host, ready=True)
        wait_for("chat-kv", lambda: api.get(dep_path("chat-kv")), 30)

        def cm_key() -> str | None:
            return ((api.get(cm_path("chat")) or {}).get("data") or {}).get("baseKey")

        api.merge(cm_path("chat"), {"data": {"baseKey": OTHER}})
        wait_for("the ConfigMap's key restored", lambda: cm_key() == KEY, 5)
        api.merge(cm_path("chat"), {"data": {"baseKey": None}})
        wait_for("the removed key restored", lambda: cm_key() == KEY, 5)

        def edit_env(dep: dict[str, Any]) -> None:
            container = dep["spec"]["template"]["spec"]["containers"][0]
            container["env"] = [e for e in container["env"] if e["name"] != "SWARM_BASE_KEY"] + [
                {"name": "SWARM_BASE_KEY", "value": OTHER}]
        put(api, dep_path("chat-kv"), edit_env)
        wait_for("the client env restored", lambda: "valueFrom" in env_of(api.get(dep_path("chat-kv")) or {})[
            "SWARM_BASE_KEY"], 5)

        def edit_image(sts: dict[str, Any]) -> None:
            sts["spec"]["template"]["spec"]["containers"][0]["image"] = "evil.example.com/peer:1"
        put(api, sts_path("chat"), edit_image)
        wait_for("the host image restored", lambda: (api.get(sts_path("chat")) or {})["spec"]["template"]["spec"][
            "containers"][0]["image"] != "evil.example.com/peer:1", 5)
    words = ("ConfigMap chat-swarm", "data.baseKey", "Deployment chat-kv", "SWARM_BASE_KEY", "StatefulSet chat-host",
             "image")

    def told() -> str | None:  # the event is posted right after the repair it tells of
        drift = " ".join(e["message"] for e in events_of(api, "chat", "DriftRepaired"))
        return drift if all(what in drift for what in words) else None
    wait_for("a DriftRepaired event for each repair", told, 5)
    assert api.topic(NS, "chat")["status"]["baseKey"] == KEY


def test_set_replicas_are_held_and_unset_replicas_are_left_to_scaling(api: Api, operator: Operator) -> None:
    topic = example_topic("chat", clients=3)
    held = topic["spec"]["clients"][0]
    free = {**held, "name": "free"}
    free.pop("replicas")
    topic["spec"]["clients"] = [held, free]
    api.create(api.topic_path(NS), topic)
    with FakeHost(seed_of(api, "chat"), "chat", KEY) as host:
        start_host(api, "chat", host, ready=True)
        wait_for("both groups", lambda: api.get(dep_path("chat-kv")) and api.get(dep_path("chat-free")), 30)
        assert (api.get(dep_path("chat-free")) or {})["spec"]["replicas"] == 1  # created at 1
        api.merge(dep_path("chat-kv"), {"spec": {"replicas": 6}})  # as `kubectl scale` or an HPA would
        api.merge(dep_path("chat-free") + "/scale", {"spec": {"replicas": 4}})  # the HPA's own way
        wait_for("chat-kv held at 3", lambda: (api.get(dep_path("chat-kv")) or {})["spec"]["replicas"] == 3, 5)
        time.sleep(1.5)
        assert (api.get(dep_path("chat-free")) or {})["spec"]["replicas"] == 4, "an unset group was reverted"
    held_events = events_of(api, "chat", "ReplicasHeld")
    assert len(held_events) == 1 and "chat-kv" in held_events[0]["message"]


def test_a_replayed_report_records_nothing(api: Api, operator: Operator) -> None:
    api.create(api.topic_path(NS), example_topic("chat"))
    seed = seed_of(api, "chat")
    with FakeHost(seed, "chat", KEY) as host:
        host.echo_nonce = False  # a signed report with no nonce
        start_host(api, "chat", host, ready=True)
        cond = wait_condition(api, "chat", "HostReady", "False", "StaleReport")
        assert "nonce" in cond["message"]
        # A correctly signed report with an old nonce, replayed as is.
        payload = json.dumps({**json.loads(host.payload()), "nonce": "00" * 32})
        host.replay = json.dumps({"payload": payload, "publicKey": host.key.verify_key.encode().hex(),
                                  "signature": host.key.sign(payload.encode()).signature.hex()}).encode()
        time.sleep(1.5)
        topic = api.topic(NS, "chat")
        assert "baseKey" not in topic["status"] and deployments(api, "chat") == []
        assert condition(topic, "HostReady")["reason"] == "StaleReport"
        assert warning_events(api, "StaleReport")
        host.replay = None
        host.echo_nonce = True
        wait_condition(api, "chat", "BaseKeyRecorded", "True")
    assert api.topic(NS, "chat")["status"]["baseKey"] == KEY


def _secret_values(api: Api, name: str) -> list[str]:
    values = []
    for suffix, key in (("identity", "seed"), ("member", "invite-seed"), ("encryption", "key")):
        secret = wait_for(f"Secret {name}-{suffix}", lambda s=suffix: api.get(
            f"/api/v1/namespaces/{NS}/secrets/{name}-{s}"))
        owner = secret["metadata"]["ownerReferences"][0]
        assert owner["kind"] == "SwarmTopic" and owner["controller"] is True
        data = secret.get("data") or {}
        value = base64.b64decode(data[key]).decode() if key in data else secret["stringData"][key]
        assert len(value) == 64 and int(value, 16) >= 0
        values.append(value)
    return values


def test_the_topic_secrets_are_owned_and_never_leak(api: Api, operator: Operator) -> None:
    topic = example_topic("chat", clients=0)
    topic["spec"]["writers"] = {"policy": "HostOnly"}
    api.create(api.topic_path(NS), topic)
    values = _secret_values(api, "chat")
    with FakeHost(values[0], "chat", KEY) as host:
        start_host(api, "chat", host, ready=True)
        wait_condition(api, "chat", "Ready", "True", timeout=30)
    seen = json.dumps([api.topic(NS, "chat"), api.items(f"/api/v1/namespaces/{NS}/events"),
                       api.get(cm_path("chat")), api.get(sts_path("chat")), deployments(api, "chat")])
    public = SigningKey(bytes.fromhex(values[0])).verify_key.encode().hex()
    assert public in seen  # the public key is meant to be seen...
    for value in values:
        assert value not in seen  # ...no Secret value ever is
    sts = api.get(sts_path("chat"))
    assert sts is not None
    env = {e["name"]: e.get("value") for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SWARM_WRITERS_POLICY"] == "HostOnly"
    assert env["SWARM_MEMBER_SEED_FILE"] == "/var/run/swarm/member/invite-seed"
    client = deployments(api, "chat")[0]["spec"]["template"]["spec"]
    assert "chat-member" not in json.dumps(client["volumes"]) and "chat-encryption" in json.dumps(client["volumes"])


def test_a_clean_cold_start_posts_at_most_six_events(api: Api, operator: Operator) -> None:
    api.create(api.topic_path(NS), example_topic("chat", clients=0))
    with FakeHost(seed_of(api, "chat"), "chat", KEY) as host:
        time.sleep(1.0)
        start_host(api, "chat", host, ready=False)
        time.sleep(1.0)
        start_host(api, "chat", host, ready=True)
        wait_condition(api, "chat", "Ready", "True", timeout=30)
        time.sleep(1.5)
    reasons = [e["reason"] for e in events_of(api, "chat")]  # timestamps have 1 s resolution: no order
    print("events on a clean cold start:", len(reasons), reasons)
    assert len(reasons) <= 6, reasons
    # The first state is no transition; with no client the key and Ready come in one pass.
    assert sorted(reasons) == ["BaseKeyRecorded"] and "Warning" not in [
        e["type"] for e in events_of(api, "chat")]


def test_open_writers_get_one_warning(api: Api, operator: Operator) -> None:
    topic = example_topic("chat", clients=1)
    topic["spec"]["writers"] = {"policy": "Open"}
    api.create(api.topic_path(NS), topic)
    wait_for("an OpenWriters warning", lambda: warning_events(api, "OpenWriters"))
    time.sleep(1.0)
    assert len(warning_events(api, "OpenWriters")) == 1


def test_a_rejected_child_write_is_api_rejected_with_the_message(api_server: Any, api: Api,
                                                                operator: Operator) -> None:
    topic = example_topic("chat", clients=1)
    topic["spec"]["bootstrapHost"]["template"] = {"spec": {"tolerations": [{"operator": "Bogus"}]}}
    api.create(api.topic_path(NS), topic)
    cond = wait_condition(api, "chat", "Ready", "False", "ApiRejected", timeout=30)
    assert "StatefulSet chat-host" in cond["message"] and "422" in cond["message"]
    assert api.topic(NS, "chat")["status"]["phase"] == "Stuck"
    time.sleep(2.0)
    assert len(warning_events(api, "ApiRejected")) == 1


def test_a_paused_topic_still_observes_and_reports(api: Api, operator: Operator) -> None:
    api.create(api.topic_path(NS), example_topic("chat", clients=1))
    with FakeHost(seed_of(api, "chat"), "chat", KEY) as host:
        start_host(api, "chat", host, ready=True)
        wait_for("chat-kv", lambda: api.get(dep_path("chat-kv")), 30)
        group = example_topic("chat")["spec"]["clients"][0]
        api.merge(api.topic_path(NS, "chat"), {"spec": {"paused": True, "clients": [{**group, "replicas": 4}]}})
        wait_for("phase Paused", lambda: api.topic(NS, "chat")["status"].get("phase") == "Paused")
        host.base_key = OTHER  # something happens while paused: it is still seen and reported
        cond = wait_condition(api, "chat", "Degraded", "True", "BaseKeyConflict")
        assert OTHER in cond["message"]
        topic = api.topic(NS, "chat")
        assert topic["status"]["phase"] == "Paused" and topic["status"]["baseKey"] == KEY
        assert topic["status"]["observedGeneration"] == topic["metadata"]["generation"]
        assert (api.get(dep_path("chat-kv")) or {})["spec"]["replicas"] == 1, "a paused topic wrote a child"
        host.base_key = KEY
        api.merge(api.topic_path(NS, "chat"), {"spec": {"paused": False}})
        wait_for("4 replicas", lambda: (api.get(dep_path("chat-kv")) or {})["spec"]["replicas"] == 4)


def test_a_host_that_is_not_a_writer_is_reported(api: Api, operator: Operator) -> None:
    api.create(api.topic_path(NS), example_topic("chat", clients=0))
    with FakeHost(seed_of(api, "chat"), "chat", KEY) as host:
        host.writable = False
        start_host(api, "chat", host, ready=True)
        cond = wait_condition(api, "chat", "HostWritable", "False", "HostNotWritable")
        assert "not a writer" in cond["message"]
        topic = api.topic(NS, "chat")
        assert topic["status"]["phase"] == "Stuck" and topic["status"]["reason"] == "HostNotWritable"
        host.writable = True
        wait_condition(api, "chat", "Ready", "True")


def test_a_client_template_carrying_the_host_identity_is_invalid(api: Api, without_policy: None,
                                                                 operator: Operator) -> None:
    topic = example_topic("chat")
    pod = topic["spec"]["clients"][0]["template"]["spec"]
    pod["volumes"].append({"name": "innocent-looking", "secret": {"secretName": "chat-identity"}})
    pod["containers"][0]["volumeMounts"].append({"name": "innocent-looking", "mountPath": "/x"})
    api.create(api.topic_path(NS), topic)
    cond = wait_condition(api, "chat", "Ready", "False", "InvalidSpec")
    assert "spec.clients[kv].template" in cond["message"] and "chat-identity" in cond["message"]
    assert api.get(f"/api/v1/namespaces/{NS}/secrets/chat-identity") is None
