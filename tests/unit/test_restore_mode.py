"""Restore mode of a restored topic's hosts (planner/restore.py), on the pure planner: a topic that
`swarm-operator restore` made (annotation restored-from) gets `restore: "true"` in its ConfigMap
before its StatefulSet exists, its hosts read it as SWARM_RESTORE through an optional reference,
and the key turns "false" for good once every host reported; no other topic ever gets it."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from nacl.signing import SigningKey
from swarm_operator import children, names, owned
from swarm_operator.children import Inputs
from swarm_operator.cli.topic_status import restore_line
from swarm_operator.hashes import bootstrap_topic_hash
from swarm_operator.hostreport import HostReport, verify_report
from swarm_operator.planner import Observed, Plan, plan
from swarm_operator.validation import parse_spec
from test_hosts_plan import IMAGE, KEY, MEMBER_ID, PUBS, host_pod, live, report, secrets, topic3
from unit_support import NOW, make_topic, observed_of

SOURCE = "apps/chat (backup of 2026-11-24T11:00:00Z)"
RESTORE_ENV = {"name": "SWARM_RESTORE", "valueFrom": {"configMapKeyRef": {
    "name": "chat-swarm", "key": "restore", "optional": True}}}


def restored(hosts: int = 3, status: dict[str, Any] | None = None, annotated: bool = True) -> dict[str, Any]:
    """The topic as `swarm-operator restore` creates it (resumed): on the bundle's base, annotated."""
    topic = topic3(status=status) if hosts == 3 else make_topic(status=status)
    topic["spec"]["baseKey"] = KEY
    if annotated:
        topic["metadata"]["annotations"] = {names.ANNOTATION_RESTORED_FROM: SOURCE}
    return topic


def first_pass(topic: dict[str, Any]) -> Observed:
    """The restored Secrets there (the restore made them), nothing else yet."""
    spec = parse_spec(topic)[0]
    return observed_of(topic=topic, spec=spec, spec_error=None, now=NOW, peer_image=IMAGE, secrets=secrets())


def running(topic: dict[str, Any], restore_key: str | None, reports: dict[int, HostReport], sts_replicas: int = 3,
            configmap: bool = True) -> Observed:
    """Later passes: the ConfigMap (with `restore_key`, if any) and the StatefulSet live, the pods of
    `reports` Ready, the others not."""
    spec = parse_spec(topic)[0]
    assert spec is not None
    made = Inputs(topic, spec, IMAGE, PUBS[0], KEY, sts_replicas, PUBS, hosts=spec.bootstrapHost.replicas,
                  member_seed_id=MEMBER_ID, restore=restore_key, restored=restore_key is not None)
    sts = live(children.host_statefulset(made), observedGeneration=1, replicas=sts_replicas,
               updatedReplicas=sts_replicas, currentRevision="r1", updateRevision="r1", readyReplicas=sts_replicas)
    obs = observed_of(topic=topic, spec=spec, spec_error=None, now=NOW, peer_image=IMAGE, secrets=secrets(),
                      configmap=live(children.swarm_configmap(made)) if configmap else None,
                      service=live(children.host_service(made)), statefulset=sts)
    obs.host_pods.update({n: host_pod(n, n in reports) for n in range(spec.bootstrapHost.replicas)})
    obs.reports.update(reports)
    return obs


def configmap_writes(p: Plan) -> list[dict[str, Any]]:
    return [w.body for w in p.writes if w.target.kind == "ConfigMap"]


def host_env(p: Plan) -> list[dict[str, Any]]:
    sts = next(w.body for w in p.writes if w.target.kind == "StatefulSet" and w.op == "create")
    return list(sts["spec"]["template"]["spec"]["containers"][0]["env"])


def restored_report(n: int, why: str | None = None) -> HostReport:
    return replace(report(n), restored=why is None, restore_why=why)


def test_a_restored_topic_starts_its_hosts_in_restore_mode_from_the_configmap() -> None:
    p = plan(first_pass(restored()))
    created = [(w.target.kind, w.body["metadata"]["name"]) for w in p.writes if w.op == "create"]
    # The ConfigMap, with the key, before the StatefulSet whose pods read it at their start.
    assert created.index(("ConfigMap", "chat-swarm")) < created.index(("StatefulSet", "chat-host"))
    assert configmap_writes(p)[0]["data"][names.CM_RESTORE] == "true"
    assert RESTORE_ENV in host_env(p)
    assert p.status["restore"] == {"source": SOURCE, "startedAt": "2026-11-24T12:00:00Z"}
    assert p.recheck is not None and p.recheck <= 10  # reports change without an event


def test_a_topic_never_restored_gets_neither_the_key_nor_the_reference() -> None:
    p = plan(first_pass(restored(annotated=False)))
    assert names.CM_RESTORE not in configmap_writes(p)[0]["data"]
    assert all(e["name"] != "SWARM_RESTORE" for e in host_env(p)) and "restore" not in p.status


def test_restore_mode_stays_on_until_every_host_reported_even_when_host_0_records_the_key() -> None:
    started = {"hostPublicKey": PUBS[0], "restore": {"source": SOURCE, "startedAt": "2026-11-24T11:59:00Z"}}
    # Host 0 alone reported: its report records the key, which rewrites the ConfigMap: the key stays.
    p = plan(running(restored(status=started), "true", {0: restored_report(0)}, sts_replicas=1))
    assert p.recorded_now and configmap_writes(p)
    assert all(cm["data"][names.CM_RESTORE] == "true" for cm in configmap_writes(p))
    assert p.status["restore"] == started["restore"] and not [e for e in p.events if e.reason == "RestoreFinished"]
    # Two of three: still on, nothing to write to the ConfigMap.
    two = plan(running(restored(status=p.status), "true", {0: restored_report(0), 1: restored_report(1)}))
    assert configmap_writes(two) == [] and "finishedAt" not in two.status["restore"]


def test_when_every_host_reported_the_key_turns_false_for_good_with_one_event() -> None:
    started = {"hostPublicKey": PUBS[0], "baseKey": KEY,
               "restore": {"source": SOURCE, "startedAt": "2026-11-24T11:59:00Z"}}
    why = "no slot for host 2 in the base"
    reports = {0: restored_report(0), 1: restored_report(1), 2: restored_report(2, why)}
    p = plan(running(restored(status=started), "true", reports))
    (cm,) = configmap_writes(p)  # "false", not a removal: server-side apply keeps a key the create wrote
    assert cm["data"][names.CM_RESTORE] == "false" and cm["data"][names.CM_BASE_KEY] == KEY
    assert [w for w in p.writes if w.target.kind == "StatefulSet"] == []  # no host restarts
    assert p.status["restore"] == {"source": SOURCE, "startedAt": "2026-11-24T11:59:00Z",
                                   "finishedAt": "2026-11-24T12:00:00Z", "restoredHosts": [0, 1]}
    (event,) = [e for e in p.events if e.reason == "RestoreFinished"]
    assert event.type == "Normal" and "host 0 took back its writer key" in event.message and why in event.message
    # Later: a host down, even a re-made ConfigMap (deleted by someone): never on again.
    later = running(restored(status=p.status), "false", {0: report(0), 1: report(1)}, configmap=False)
    again = plan(later)
    assert configmap_writes(again)[0]["data"][names.CM_RESTORE] == "false"
    assert "RestoreFinished" not in [e.reason for e in again.events]


def test_one_restored_host_finishes_in_the_pass_that_records_its_key() -> None:
    started = {"hostPublicKey": PUBS[0], "restore": {"source": SOURCE, "startedAt": "2026-11-24T11:59:00Z"}}
    p = plan(running(restored(hosts=1, status=started), "true", {0: restored_report(0)}, sts_replicas=1))
    assert p.recorded_now and configmap_writes(p)
    assert all(cm["data"][names.CM_RESTORE] == "false" for cm in configmap_writes(p))
    assert p.status["restore"]["finishedAt"] and p.status["restore"]["restoredHosts"] == [0]


def test_a_topic_restored_before_restore_mode_never_starts_one_late() -> None:
    # Annotated, hosts already made (no status.restore: an operator without restore mode restored it),
    # a host down: the ConfigMap never gets the key (the template gets the reference, set nowhere).
    status = {"hostPublicKey": PUBS[0], "baseKey": KEY}
    p = plan(running(restored(status=status), None, {0: report(0), 1: report(1)}))
    assert all(names.CM_RESTORE not in cm["data"] for cm in configmap_writes(p)) and "restore" not in p.status


def test_a_paused_restore_waits_with_the_mode_on_and_writes_no_child() -> None:
    topic = restored()
    topic["spec"]["paused"] = True  # swarm-operator restore --paused (volume snapshots to bring first)
    p = plan(first_pass(topic))
    assert [w for w in p.writes if w.target.kind != owned.TOPIC.kind] == []
    assert p.status["restore"]["source"] == SOURCE and "finishedAt" not in p.status["restore"]


def test_the_report_says_whether_the_host_took_back_its_key() -> None:
    key = SigningKey(b"\x05" * 32)

    def signed(**extra: object) -> bytes:
        payload = json.dumps({"topic": "chat", "bootstrapTopicHash": bootstrap_topic_hash("chat"), "baseKey": KEY,
                              "writerKey": "11" * 32, "discoveryKey": "22" * 32, "announcedAt": "2026-11-24T12:00:00Z",
                              "announceSeconds": 0.5, "peers": 1, **extra})
        return json.dumps({"payload": payload, "signature": key.sign(payload.encode()).signature.hex(),
                           "publicKey": key.verify_key.encode().hex()}).encode()

    pub = key.verify_key.encode().hex()
    took = verify_report(signed(restored=True, restore={"restored": True, "why": None}), pub, "chat")
    assert (took.restored, took.restore_why) == (True, None)
    not_taken = verify_report(signed(restored=False, restore={"restored": False, "why": "no slot"}), pub, "chat")
    assert (not_taken.restored, not_taken.restore_why) == (False, "no slot")
    older = verify_report(signed(), pub, "chat")  # a host before restore mode
    assert (older.restored, older.restore_why) == (None, None)


def test_swarm_operator_status_says_where_the_restore_is() -> None:
    waiting = {"restore": {"source": SOURCE, "startedAt": "2026-11-24T11:59:00Z"}}
    assert restore_line(waiting) == [f"  restored from {SOURCE}: restore mode on since 2026-11-24T11:59:00Z, until "
                                     "every host reported (a waiting host's /readyz says what for)"]
    done = {"restore": {**waiting["restore"], "finishedAt": "2026-11-24T12:00:00Z", "restoredHosts": [0, 2]}}
    assert restore_line(done)[0].endswith("off since 2026-11-24T12:00:00Z; hosts that took back their writer keys: "
                                          "0, 2")
    assert restore_line({"baseKey": KEY}) == []
