"""Issue 23, "the record checked against the host, not only kept", with the real operator process on
a real API server (who wrote what is the API server's own metadata.managedFields): a status.baseKey
written by another field manager is never given to the children, which stay on the key the host
signs; a host key annotation moved on the identity Secret moves nothing (it is put back); a
status.hostPublicKey written by someone else stops the topic's writes, and no identity is deleted."""

from __future__ import annotations

import time
from typing import Any

from fakehost import FakeHost
from integration_support import Api, Operator, example_topic, wait_for
from nacl.signing import SigningKey
from test_operator import KEY, NS, condition, seed_of, start_host, wait_condition
from test_ownership_and_drift import cm_path, dep_path, events_of, sts_path

OTHER = "e7" * 32
ANNOTATION = "swarm-operator.dev/host-public-key"


def status_patch(api: Api, name: str, status: dict[str, Any], manager: str = "") -> None:
    """A status write as another client would make it (kubectl, a script), under its field manager."""
    query = f"?fieldManager={manager}" if manager else ""
    api.call("PATCH", api.topic_path(NS, name) + "/status" + query, {"status": status},
             "application/merge-patch+json")


def managers_of(api: Api, name: str, field: str) -> list[str]:
    return [e["manager"] for e in api.topic(NS, name)["metadata"]["managedFields"]
            if f"f:{field}" in ((e.get("fieldsV1") or {}).get("f:status") or {})]


def ready(api: Api, host: FakeHost, clients: bool = True) -> dict[str, Any]:
    start_host(api, "chat", host, ready=True)
    wait_condition(api, "chat", "BaseKeyRecorded", "True", timeout=30)
    if clients:
        wait_for("the client Deployment", lambda: api.get(dep_path("chat-kv")), 30)
    return api.topic(NS, "chat")


def test_a_base_key_written_by_someone_else_is_never_given_to_the_children(api: Api, operator: Operator) -> None:
    api.create(api.topic_path(NS), example_topic("chat", clients=1))
    with FakeHost(seed_of(api, "chat"), "chat", KEY) as host:
        ready(api, host)
        assert managers_of(api, "chat", "baseKey") == ["swarm-operator"]
        deployment = api.get(dep_path("chat-kv")) or {}
        status_patch(api, "chat", {"baseKey": OTHER}, "intruder")
        cond = wait_condition(api, "chat", "Degraded", "True", "UntrustedRecord")
        assert "status.baseKey" in cond["message"] and "'intruder'" in cond["message"] and KEY in cond["message"]
        time.sleep(2.0)  # many passes
        assert (api.get(cm_path("chat")) or {})["data"]["baseKey"] == KEY, "the children were moved"
        assert (api.get(dep_path("chat-kv")) or {})["metadata"]["generation"] == deployment["metadata"]["generation"]
        assert api.topic(NS, "chat")["status"]["phase"] == "Stuck"
        assert len(events_of(api, "chat", "UntrustedRecord")) == 1
        # Put back by hand (another manager, but the key the host signs): trusted again.
        status_patch(api, "chat", {"baseKey": KEY}, "admin")
        wait_condition(api, "chat", "Degraded", "False", "AsExpected")


def test_a_forged_field_manager_is_still_checked_against_the_host(api: Api, operator: Operator) -> None:
    """Anyone can name any field manager: a status.baseKey written as "swarm-operator" and signed by
    no host is a conflict, and the children stay on the key they have."""
    api.create(api.topic_path(NS), example_topic("chat", clients=1))
    with FakeHost(seed_of(api, "chat"), "chat", KEY) as host:
        ready(api, host)
        status_patch(api, "chat", {"baseKey": OTHER}, "swarm-operator")
        cond = wait_condition(api, "chat", "Degraded", "True", "BaseKeyConflict")
        assert KEY in cond["message"]
        time.sleep(2.0)
        assert (api.get(cm_path("chat")) or {})["data"]["baseKey"] == KEY, "the children were moved"


def test_the_host_key_is_pinned_where_a_metadata_edit_cannot_move_it(api: Api, operator: Operator) -> None:
    api.create(api.topic_path(NS), example_topic("chat", clients=1))
    seed = seed_of(api, "chat")
    public = SigningKey(bytes.fromhex(seed)).verify_key.encode().hex()
    with FakeHost(seed, "chat", KEY) as host:
        ready(api, host)
        identity = api.get(f"/api/v1/namespaces/{NS}/secrets/chat-identity") or {}
        api.merge(f"/api/v1/namespaces/{NS}/secrets/chat-identity",
                  {"metadata": {"annotations": {ANNOTATION: OTHER}}})
        wait_for("the annotation put back", lambda: (api.get(f"/api/v1/namespaces/{NS}/secrets/chat-identity") or {})[
            "metadata"]["annotations"][ANNOTATION] == public, 10)
        time.sleep(1.5)
        topic = api.topic(NS, "chat")
        assert topic["status"]["hostPublicKey"] == public
        assert (api.get(f"/api/v1/namespaces/{NS}/secrets/chat-identity") or {})["metadata"]["uid"] == \
            identity["metadata"]["uid"]
        assert (api.get(cm_path("chat")) or {})["data"]["hostPublicKey"] == public
        assert events_of(api, "chat", "IdentityRotated") == [] and events_of(api, "chat", "WrongIdentity") == []
        assert [e for e in events_of(api, "chat", "DriftRepaired") if "chat-identity" in e["message"]]
        assert condition(topic, "HostReady")["status"] == "True"


def test_a_host_key_written_into_status_by_someone_else_moves_nothing(api: Api, operator: Operator) -> None:
    api.create(api.topic_path(NS), example_topic("chat", clients=1))
    seed = seed_of(api, "chat")
    public = SigningKey(bytes.fromhex(seed)).verify_key.encode().hex()
    with FakeHost(seed, "chat", KEY) as host:
        ready(api, host)
        identity = api.get(f"/api/v1/namespaces/{NS}/secrets/chat-identity") or {}
        template = (api.get(sts_path("chat")) or {})["spec"]["template"]
        status_patch(api, "chat", {"hostPublicKey": OTHER}, "intruder")
        cond = wait_condition(api, "chat", "Degraded", "True", "UntrustedRecord")
        assert "status.hostPublicKey" in cond["message"] and "'intruder'" in cond["message"]
        time.sleep(2.0)
        assert (api.get(f"/api/v1/namespaces/{NS}/secrets/chat-identity") or {})["metadata"]["uid"] == \
            identity["metadata"]["uid"], "the host identity was deleted"
        assert (api.get(sts_path("chat")) or {})["spec"]["template"] == template
        assert (api.get(cm_path("chat")) or {})["data"]["hostPublicKey"] == public
        assert events_of(api, "chat", "WrongIdentity") == [] and events_of(api, "chat", "IdentityRotated") == []
        status_patch(api, "chat", {"hostPublicKey": public}, "admin")  # the Secret's key: trusted again
        wait_condition(api, "chat", "Degraded", "False", "AsExpected")
