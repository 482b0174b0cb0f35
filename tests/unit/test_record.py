"""The record checked, not only kept (issue 23): who wrote `status.baseKey`/`status.hostPublicKey`
(managedFields, as the cache keeps them), and what the children are given (planner/record.py)."""

from __future__ import annotations

from typing import Any

from swarm_operator import conditions as c
from swarm_operator import names, owned
from swarm_operator.identity import known_host_key, known_public_key, untrusted_host_key
from swarm_operator.managed import foreign_writers, with_record_writers
from swarm_operator.planner import plan
from test_plan import KEY, OTHER, PUB, cond, observed, owned_meta, pod, report
from unit_support import UID, make_topic


def managed(*entries: tuple[str, tuple[str, ...]]) -> list[dict[str, Any]]:
    """managedFields: each (manager, the status fields it owns), as the API server writes them."""
    return [{"manager": m, "operation": "Update", "subresource": "status", "fieldsV1": {
        "f:status": {f"f:{f}": {} for f in fields}}} for m, fields in entries]


def topic_written_by(*entries: tuple[str, tuple[str, ...]], status: dict[str, Any] | None = None) -> dict[str, Any]:
    topic = make_topic(status=status or {"baseKey": KEY, "hostPublicKey": PUB})
    topic["metadata"]["managedFields"] = managed(*entries)
    return with_record_writers(topic)


def test_the_cache_keeps_who_wrote_the_record() -> None:
    topic = topic_written_by(("kubectl-edit", ("baseKey",)), ("swarm-operator", ("hostPublicKey", "phase")))
    assert topic["recordWriters"] == {"baseKey": ["kubectl-edit"], "hostPublicKey": ["swarm-operator"],
                                     "hosts": []}
    assert foreign_writers(topic, "baseKey") == ["kubectl-edit"]
    assert foreign_writers(topic, "hostPublicKey") is None
    reset = topic_written_by()  # managedFields reset: nobody owns the record
    assert foreign_writers(reset, "baseKey") == [""]
    assert foreign_writers(make_topic(status={"baseKey": KEY}), "baseKey") is None  # nothing known: trusted


def test_a_foreign_base_key_is_not_given_the_children_stay_on_theirs() -> None:
    topic = topic_written_by(("kubectl-patch", ("baseKey",)), ("swarm-operator", ("hostPublicKey",)),
                             status={"baseKey": OTHER, "hostPublicKey": PUB})
    configmap = {**owned_meta("chat-swarm"), "data": {"baseKey": KEY}}  # what the children have
    p = plan(observed(topic, configmap=configmap))
    degraded = cond(p, c.DEGRADED)
    assert degraded["reason"] == "UntrustedRecord" and "status.baseKey" in degraded["message"]
    assert "'kubectl-patch'" in degraded["message"] and KEY in degraded["message"]
    assert p.status["phase"] == "Stuck"
    assert OTHER not in repr([w.body for w in p.writes if w.op != "record-status"]), "the record reached a child"
    # The host signs it: whoever wrote it, it is the base (a person put the right key back).
    vouched = observed(topic, host_pod=pod(ready=True), report=report(OTHER))
    assert cond(plan(vouched), c.DEGRADED)["reason"] == "AsExpected"


def test_without_a_key_to_stay_on_the_children_are_left_alone() -> None:
    topic = topic_written_by(("someone", ("baseKey",)), ("swarm-operator", ("hostPublicKey",)))
    obs = observed(topic)
    obs.set_child(owned.CONFIGMAP, "chat-swarm", None)
    p = plan(obs)
    assert p.writes == [] or all(w.op == "record-status" for w in p.writes)


def test_a_host_key_written_by_someone_else_is_trusted_only_as_the_secrets() -> None:
    identity = {"metadata": {"name": "chat-identity", "annotations": {"swarm-operator.dev/host-public-key": PUB},
                             "ownerReferences": [{"uid": UID, "controller": True}]}}
    topic = topic_written_by(("swarm-operator", ("baseKey",)), ("intruder", ("hostPublicKey",)),
                             status={"baseKey": KEY, "hostPublicKey": OTHER})
    assert untrusted_host_key(topic, identity) is not None
    assert known_public_key(topic, None, identity) is None
    restored = topic_written_by(("swarm-operator", ("baseKey",)), ("admin", ("hostPublicKey",)))
    assert untrusted_host_key(restored, identity) is None and known_public_key(restored, None, identity) == PUB
    # Recorded by the operator, the status wins over the Secret's metadata.
    moved = {"metadata": {**identity["metadata"], "annotations": {"swarm-operator.dev/host-public-key": OTHER}}}
    ours = topic_written_by(("swarm-operator", ("baseKey", "hostPublicKey")))
    assert known_public_key(ours, None, moved) == PUB


def test_an_untrusted_host_key_writes_nothing_and_deletes_nothing() -> None:
    topic = topic_written_by(("swarm-operator", ("baseKey",)), ("intruder", ("hostPublicKey",)),
                             status={"baseKey": KEY, "hostPublicKey": OTHER})
    p = plan(observed(topic, host_pod=pod(ready=True)))
    assert p.writes == []
    assert cond(p, c.DEGRADED)["reason"] == "UntrustedRecord" and p.status["hostPublicKey"] == OTHER


def test_a_moved_annotation_is_put_back_with_an_event() -> None:
    obs = observed(make_topic(status={"baseKey": KEY}))
    obs.secrets["chat-identity"]["metadata"]["annotations"]["swarm-operator.dev/host-public-key"] = OTHER
    p = plan(obs)
    [patch] = [w for w in p.writes if w.target.kind == "Secret"]
    assert patch.body["metadata"]["annotations"] == {"swarm-operator.dev/host-public-key": PUB}
    assert [e.reason for e in p.events] == ["DriftRepaired"] and p.status["hostPublicKey"] == PUB


def test_a_later_hosts_key_is_pinned_as_recorded_in_status() -> None:
    """Host 1's key, once the operator recorded it in status.hosts, is what its report is checked
    against: an identity Secret whose annotation was changed since (an insider) does not move it; a
    status.hosts written by anyone but the operator is trusted only where the Secret carries it."""
    hosts = [{"ordinal": 1, "publicKey": PUB}]
    identity = owned_meta("t-identity")
    identity["metadata"]["annotations"] = {names.host_public_key_annotation(1): "changed"}
    mine = topic_written_by(("swarm-operator", ("hosts",)), status={"hosts": hosts})
    assert known_host_key(mine, identity, 1) == PUB
    theirs = topic_written_by(("kubectl-edit", ("hosts",)), status={"hosts": hosts})
    assert known_host_key(theirs, identity, 1) is None
    identity["metadata"]["annotations"] = {names.host_public_key_annotation(1): PUB}
    assert known_host_key(theirs, identity, 1) == PUB
    identity["metadata"]["annotations"] = {names.host_public_key_annotation(1): "changed"}
    assert known_host_key(make_topic(), identity, 1) == "changed"  # nothing recorded yet
    assert known_host_key(make_topic(), {"metadata": {"name": "t-identity", "annotations": {
        names.host_public_key_annotation(1): "x"}}}, 1) is None  # a Secret not the operator's
