"""Several hosts (spec.bootstrapHost.replicas 3), branch by branch on the pure planner: host 0 alone
until its key is recorded and in the ConfigMap, then the others; each host its own identity and the
hosts' own credential; HostsReady and Quorum; a lost majority is QuorumLost and nothing is made
anew; fewer hosts are refused; one host to several on a live topic."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from swarm_operator import children, names, owned
from swarm_operator import conditions as c
from swarm_operator.children import Inputs
from swarm_operator.children.disruption import host_disruption_budget
from swarm_operator.hostreport import HostReport
from swarm_operator.identity import public_key_of
from swarm_operator.planner import Observed, Plan, after_refusal, plan
from swarm_operator.planner.types import fresh_key
from swarm_operator.validation import parse_spec
from unit_support import NOW, UID, make_topic, observed_of, stamp

KEY = "cd" * 32
IMAGE = "ghcr.io/swarm-operator/swarm-peer:0.1.0"
SEEDS = {0: "01" * 32, 1: "02" * 32, 2: "03" * 32}
PUBS = tuple(public_key_of(SEEDS[n]) for n in range(3))
WRITERS = {0: "a0" * 32, 1: "a1" * 32, 2: "a2" * 32}


def topic3(status: dict[str, Any] | None = None) -> dict[str, Any]:
    topic = make_topic(status=status)
    topic["spec"]["bootstrapHost"]["replicas"] = 3
    return topic


def owned_meta(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "uid": f"{name}-uid", "resourceVersion": "3", "annotations": annotations or {},
                         "ownerReferences": [{"apiVersion": "swarm-operator.dev/v1beta1", "kind": "SwarmTopic",
                                              "name": "chat", "uid": UID, "controller": True}]}}


def identity(ordinals: int = 3) -> dict[str, Any]:
    return owned_meta("chat-identity", {names.host_public_key_annotation(n): PUBS[n] for n in range(ordinals)})


MEMBER_ID = "chat-member-uid"  # the seed id of owned_meta("chat-member") (its uid: no id annotation)


def secrets(ordinals: int = 3) -> dict[str, Any]:
    return {"chat-identity": identity(ordinals), "chat-member": owned_meta("chat-member"),
            "chat-encryption": owned_meta("chat-encryption"), "chat-hosts": owned_meta("chat-hosts")}


def host_pod(n: int, ready: bool, running: bool = True, age: float = 300) -> dict[str, Any]:
    return {"metadata": {"name": f"chat-host-{n}", "creationTimestamp": stamp(NOW - timedelta(seconds=age)),
                         "annotations": {names.ANNOTATION_HOST_PUBLIC_KEY: PUBS[0]}},
            "spec": {"containers": [{"name": "swarm-peer", "ports": [{"name": "status", "containerPort": 8080}]}]},
            "status": {"podIP": f"10.0.0.{n + 5}", "phase": "Running" if running else "Pending",
                       "startTime": stamp(NOW - timedelta(seconds=age - 1)),
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def report(n: int, indexers: tuple[int, ...] = (0, 1, 2), writer: str | None = None,
           slots: dict[int, str] | None = None, signed: int = 10) -> HostReport:
    return HostReport(topic="chat", bootstrap_topic_hash="00" * 32, base_key=KEY, writer_key=writer or WRITERS[n],
                      discovery_key="22" * 32, announced_at="2026-11-24T11:59:58.000Z", announce_seconds=0.2,
                      peers=2, writable=True, ordinal=n, indexer=(writer or WRITERS[n]) in
                      {WRITERS[i] for i in indexers}, indexer_keys=tuple(WRITERS[i] for i in indexers),
                      host_slots=tuple(sorted((slots or WRITERS).items())), signed_length=signed, unconfirmed=0)


def live(obj: dict[str, Any] | None, **status: Any) -> dict[str, Any]:
    assert obj is not None
    out = copy.deepcopy(obj)
    out["metadata"].update(uid=f"{obj['metadata']['name']}-uid", resourceVersion="7", generation=1)
    if status:
        out["status"] = status
    return out


def rolled_sts(topic: dict[str, Any], replicas: int, key: str | None = KEY) -> dict[str, Any]:
    spec = parse_spec(topic)[0]
    assert spec is not None
    sts = children.host_statefulset(Inputs(topic, spec, IMAGE, PUBS[0], key, replicas, PUBS, hosts=3,
                                                      member_seed_id=MEMBER_ID))
    return live(sts, observedGeneration=1, replicas=replicas, updatedReplicas=replicas, currentRevision="r1",
                updateRevision="r1", readyReplicas=replicas)


def world(topic: dict[str, Any], *, sts_replicas: int = 3, key_in_cm: bool = True, pods: dict[int, Any] | None = None,
          reports: dict[int, HostReport] | None = None, **kw: Any) -> Observed:
    spec = parse_spec(topic)[0]
    assert spec is not None
    made = Inputs(topic, spec, IMAGE, PUBS[0], KEY if key_in_cm else None, sts_replicas, PUBS, hosts=3,
                  member_seed_id=MEMBER_ID)
    obs = observed_of(topic=topic, spec=spec, spec_error=None, now=NOW, peer_image=IMAGE, secrets=secrets(),
                      configmap=live(children.swarm_configmap(made)), service=live(children.host_service(made)),
                      statefulset=rolled_sts(topic, sts_replicas, KEY if key_in_cm else None),
                      deployments={"chat-kv": live(children.client_deployment(made, spec.clients[0], 5),
                                                   readyReplicas=5)}, **kw)
    obs.set_child(owned.DISRUPTION_BUDGET, "chat-host",
                  live(host_disruption_budget(made)))
    obs.host_pods.update(pods if pods is not None else {n: host_pod(n, True) for n in range(3)})
    obs.reports.update(reports if reports is not None else {n: report(n) for n in range(3)})
    return obs


def cond(p: Plan, ctype: str) -> dict[str, Any]:
    found = c.find(p.status["conditions"], ctype)
    assert found is not None, ctype
    return found


def test_a_new_topic_of_three_hosts_starts_host_0_alone_with_every_identity_and_the_hosts_credential() -> None:
    topic = topic3()
    fresh = {"chat-identity": SEEDS[0], "chat-member": "04" * 32, "chat-encryption": "05" * 32,
             "chat-hosts": "06" * 32, fresh_key("chat-identity", "seed-1"): SEEDS[1],
             fresh_key("chat-identity", "seed-2"): SEEDS[2], fresh_key("chat-identity", "seed-3"): "07" * 32,
             fresh_key("chat-identity", "seed-4"): "08" * 32}
    p = plan(observed_of(topic=topic, spec=parse_spec(topic)[0], spec_error=None, now=NOW, peer_image=IMAGE,
                         fresh=fresh))
    made = [(w.target.kind, w.body["metadata"]["name"]) for w in p.writes if w.op == "create"]
    # Every Secret before the StatefulSet that mounts them, the encryption key too (issue 23).
    assert made == [("Secret", "chat-identity"), ("Secret", "chat-member"), ("Secret", "chat-encryption"),
                    ("Secret", "chat-hosts"), ("ConfigMap", "chat-swarm"), ("Service", "chat-host"),
                    ("StatefulSet", "chat-host"), ("PodDisruptionBudget", "chat-host")]
    ident = p.writes[0].body
    # A seed for every host the topic may ever have (5): scaling up never changes the Secret.
    assert ident["stringData"] == {"seed": SEEDS[0], "seed-1": SEEDS[1], "seed-2": SEEDS[2], "seed-3": "07" * 32,
                                   "seed-4": "08" * 32}
    assert [ident["metadata"]["annotations"][names.host_public_key_annotation(n)] for n in range(3)] == list(PUBS)
    sts = next(w.body for w in p.writes if w.target.kind == "StatefulSet")
    assert sts["spec"]["replicas"] == 1 and sts["spec"]["podManagementPolicy"] == "Parallel"
    pod_spec = sts["spec"]["template"]["spec"]
    env = {e["name"]: e for e in pod_spec["containers"][0]["env"]}
    assert env["SWARM_HOST_REPLICAS"]["value"] == "3"
    assert env["SWARM_HOST_ORDINAL"]["valueFrom"]["fieldRef"]["fieldPath"] == \
        "metadata.labels['apps.kubernetes.io/pod-index']"
    assert {"name": "swarm-hosts", "secret": {"secretName": "chat-hosts", "defaultMode": 0o440}} in pod_spec["volumes"]
    assert pod_spec["affinity"]["podAntiAffinity"] and pod_spec["topologySpreadConstraints"]
    pdb = next(w.body for w in p.writes if w.target.kind == "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert all(w.target.kind != "Deployment" for w in p.writes)
    assert all(v not in w.what for w in p.writes for v in fresh.values())


def test_the_hosts_credential_never_reaches_a_client() -> None:
    topic = topic3()
    spec = parse_spec(topic)[0]
    assert spec is not None
    made = Inputs(topic, spec, IMAGE, PUBS[0], KEY, 3, PUBS, hosts=3, member_seed_id=MEMBER_ID)
    dep = children.client_deployment(made, spec.clients[0], 5)
    assert "chat-hosts" not in str(dep) and "SWARM_HOST_SEED_FILE" not in str(dep)


def test_the_key_is_recorded_from_host_0_then_the_others_start_after_the_configmap_has_it() -> None:
    topic = topic3(status={"hostPublicKey": PUBS[0]})
    obs = world(topic, sts_replicas=1, key_in_cm=False, pods={0: host_pod(0, True)}, reports={0: report(0, (0,))})
    obs.set_child(owned.DEPLOYMENT, "chat-kv", None)
    p = plan(obs)
    assert [(w.op, w.target.kind) for w in p.writes][:3] == [
        ("record-status", "SwarmTopic"), ("apply", "ConfigMap"), ("scale", "StatefulSet")]
    assert p.writes[2].body == {"spec": {"replicas": 3}}
    assert p.recorded_now and p.status["baseKey"] == KEY
    # The next pass: the ConfigMap has the key, the StatefulSet runs 3: nothing to write for it.
    again = plan(world(topic3(status=p.status), pods={0: host_pod(0, True)}, reports={0: report(0, (0,))}))
    assert [w for w in again.writes if w.target.kind == "StatefulSet"] == []


def test_three_indexers_up_is_ready_and_one_host_down_still_is() -> None:
    status = {"hostPublicKey": PUBS[0], "baseKey": KEY}
    p = plan(world(topic3(status=status)))
    assert cond(p, c.HOSTS_READY)["status"] == "True" and cond(p, c.QUORUM)["reason"] == "QuorumHeld"
    assert cond(p, c.READY)["status"] == "True" and p.phase == "Ready"
    assert [(h["ordinal"], h["publicKey"], h["ready"], h["indexer"]) for h in p.status["hosts"]] == [
        (n, PUBS[n], True, True) for n in range(3)]
    assert p.host_stats == {"quorum": True, "indexers": 3, "unconfirmed": 0, "lost": []}
    down = plan(world(topic3(status=p.status), pods={0: host_pod(0, True), 1: host_pod(1, False),
                                                      2: host_pod(2, True)}, reports={0: report(0), 2: report(2)}))
    assert cond(down, c.HOSTS_READY)["status"] == "False" and "2/3" in cond(down, c.HOSTS_READY)["message"]
    assert cond(down, c.QUORUM)["status"] == "True" and down.phase == "Ready"
    assert down.recheck is not None and down.recheck <= 10  # a host's report changes without its pod
    # Host 0 (the creator) down: the others serve.
    zero = plan(world(topic3(status=p.status), pods={1: host_pod(1, True), 2: host_pod(2, True)},
                      reports={1: report(1), 2: report(2)}))
    assert cond(zero, c.HOST_READY)["status"] == "True" and zero.phase == "Ready"


def test_two_hosts_down_is_quorum_down_and_clears_when_they_return() -> None:
    status = {"hostPublicKey": PUBS[0], "baseKey": KEY}
    p = plan(world(topic3(status=status), pods={0: host_pod(0, True), 1: host_pod(1, False, running=False),
                                                 2: host_pod(2, False, running=False)}, reports={0: report(0)}))
    quorum = cond(p, c.QUORUM)
    assert quorum["reason"] == "QuorumDown" and "1 of 3 indexers up, 2 needed" in quorum["message"]
    assert p.phase == "Stuck" and p.status["reason"] == "QuorumDown"
    back = plan(world(topic3(status=p.status)))
    assert back.phase == "Ready" and [e.reason for e in back.events] == ["Ready"]


def test_a_host_promoted_before_its_pod_is_ready_holds_the_quorum_while_it_starts() -> None:
    # Seen on the real node (CI, e2e/test_observability.py): a fresh topic of three Ready on host 0;
    # host 0 promotes host 1 (indexers 0 and 1: both needed) a moment before host 1's readiness
    # probe says so. That moment said QuorumDown: Ready False, phase Stuck, a Warning.
    ready = {"hostPublicKey": PUBS[0], "baseKey": KEY}
    before = plan(world(topic3(status=ready), pods={0: host_pod(0, True)}, reports={0: report(0, (0,))}))
    assert before.phase == "Ready"
    promoted = {0: report(0, (0, 1)), 1: report(1, (0,))}  # host 1's report read while it paired

    def starting(age: float) -> Plan:
        return plan(world(topic3(status=before.status), pods={0: host_pod(0, True), 1: host_pod(1, False, age=age),
                                                               2: host_pod(2, False, age=age)}, reports=promoted))

    p = starting(age=6)
    quorum = cond(p, c.QUORUM)
    assert quorum["status"] == "True" and "1 of 2 indexers up, host(s) 1 starting" in quorum["message"], quorum
    assert p.phase == "Ready" and not p.events and p.host_stats["quorum"] is True
    assert p.recheck is not None and p.recheck <= 10  # looked at again well within the grace
    # A host that does not come up within the grace is down, as any other.
    late = starting(age=120)
    assert cond(late, c.QUORUM)["reason"] == "QuorumDown" and late.phase == "Stuck"
    assert [(e.type, e.reason) for e in late.events] == [("Warning", "QuorumDown")]


def test_a_topic_made_again_over_retained_volumes_is_not_stuck_while_its_hosts_start() -> None:
    # Its three indexers are known from host 0's disk before hosts 1 and 2 exist: the StatefulSet
    # is given all three when the key is recorded.
    recorded = {"type": c.BASE_KEY_RECORDED, "status": "True", "reason": "Recorded", "message": "",
                "lastTransitionTime": stamp(NOW - timedelta(seconds=2))}
    status = {"hostPublicKey": PUBS[0], "baseKey": KEY, "conditions": [recorded]}
    p = plan(world(topic3(status=status), pods={0: host_pod(0, True)}, reports={0: report(0)}))
    assert cond(p, c.QUORUM)["status"] == "True" and p.phase in ("RollingOut", "Ready"), p.phase
    assert [e for e in p.events if e.type == "Warning"] == []
    old = {**recorded, "lastTransitionTime": stamp(NOW - timedelta(seconds=120))}
    gone = plan(world(topic3(status={**status, "conditions": [old]}), pods={0: host_pod(0, True)},
                      reports={0: report(0)}))
    assert cond(gone, c.QUORUM)["reason"] == "QuorumDown" and gone.phase == "Stuck"


def test_two_disks_lost_for_good_is_quorum_lost_and_nothing_is_made_anew() -> None:
    status = {"hostPublicKey": PUBS[0], "baseKey": KEY}
    fresh1, fresh2 = "b1" * 32, "b2" * 32  # hosts 1 and 2 came back on empty disks: new writer keys
    reports = {0: report(0), 1: report(1, writer=fresh1), 2: report(2, writer=fresh2)}
    pods = {0: host_pod(0, True), 1: host_pod(1, False), 2: host_pod(2, False)}  # never promoted: never Ready
    p = plan(world(topic3(status=status), pods=pods, reports=reports))
    lost = cond(p, c.QUORUM)
    assert lost["reason"] == "QuorumLost" and "hosts 1, 2 lost their disks" in lost["message"]
    assert p.phase == "Stuck" and p.status["reason"] == "QuorumLost" and p.status["baseKey"] == KEY
    assert [(e.type, e.reason) for e in p.events] == [("Warning", "QuorumLost")]
    assert [w for w in p.writes if w.op in ("create", "delete", "orphan")] == []
    # The replaced hosts' reports missing for a moment (a restart, a slow answer): still lost.
    again = world(topic3(status=p.status), pods=pods, reports={0: report(0)})
    again.lost_keys = frozenset(p.host_stats["lost"])
    assert cond(plan(again), c.QUORUM)["reason"] == "QuorumLost"
    # One disk lost is what heals: a majority of the old keys is still there.
    one = plan(world(topic3(status=status), pods={**pods, 2: host_pod(2, True)},
                     reports={0: report(0), 1: report(1, writer=fresh1), 2: report(2)}))
    assert cond(one, c.QUORUM)["reason"] == "QuorumHeld" and one.phase == "Ready"


def test_two_disks_lost_with_the_seats_already_naming_the_new_keys_is_quorum_lost() -> None:
    # Seen on the real node: host 0 adds both new keys at once; the seats (and autobase's optimistic
    # view) name them at once, but no majority of the old indexers confirms it, so the consensus
    # (what the reports say since) still names the old keys, and the new hosts are no indexers.
    status = {"hostPublicKey": PUBS[0], "baseKey": KEY}
    fresh1, fresh2 = "b1" * 32, "b2" * 32
    seats = {0: WRITERS[0], 1: fresh1, 2: fresh2}
    reports = {0: report(0, slots=seats), 1: report(1, writer=fresh1, slots=seats),
               2: report(2, writer=fresh2, slots=seats)}
    p = plan(world(topic3(status=status), pods={0: host_pod(0, True), 1: host_pod(1, False),
                                                 2: host_pod(2, False)}, reports=reports))
    lost = cond(p, c.QUORUM)
    assert lost["reason"] == "QuorumLost" and "hosts 1, 2 lost their disks" in lost["message"], lost
    assert p.phase == "Stuck" and p.status["baseKey"] == KEY
    assert [w for w in p.writes if w.op in ("create", "delete", "orphan")] == []
    # While a host has not answered yet, nobody is called lost on that ground: down, not lost.
    down = plan(world(topic3(status=status), pods={0: host_pod(0, True), 1: host_pod(1, False),
                                                    2: host_pod(2, False, running=False)},
                      reports={0: report(0, slots=seats), 1: report(1, writer=fresh1, slots=seats)}))
    assert cond(down, c.QUORUM)["reason"] == "QuorumDown"


def test_fewer_hosts_are_refused_and_the_running_ones_kept() -> None:
    topic = topic3(status={"hostPublicKey": PUBS[0], "baseKey": KEY})
    obs = world(topic)
    topic["spec"]["bootstrapHost"]["replicas"] = 1
    obs.spec = parse_spec(topic)[0]
    p = plan(obs)
    ready = cond(p, c.READY)
    assert ready["reason"] == "ScaleDownRefused" and p.phase == "Stuck"
    # Nothing of the hosts changes: not the StatefulSet (no remake, no new template), not the budget.
    assert [(w.op, w.target.kind) for w in p.writes] == []
    assert [h["ordinal"] for h in p.status["hosts"]] == [0, 1, 2] and cond(p, c.QUORUM)["status"] == "True"


def test_one_host_to_three_on_a_live_topic_remakes_the_statefulset_and_adds_seeds() -> None:
    topic = make_topic(status={"hostPublicKey": PUBS[0], "baseKey": KEY})  # one host, as made before
    spec1 = parse_spec(topic)[0]
    assert spec1 is not None
    one = Inputs(topic, spec1, IMAGE, PUBS[0], KEY, 1, PUBS[:1], member_seed_id=MEMBER_ID)
    topic["spec"]["bootstrapHost"]["replicas"] = 3
    fresh = {fresh_key("chat-identity", "seed-1"): SEEDS[1], fresh_key("chat-identity", "seed-2"): SEEDS[2],
             "chat-hosts": "06" * 32}
    obs = observed_of(topic=topic, spec=parse_spec(topic)[0], spec_error=None, now=NOW, peer_image=IMAGE,
                      fresh=fresh, secrets={k: v for k, v in secrets(1).items() if k != "chat-hosts"},
                      configmap=live(children.swarm_configmap(one)), service=live(children.host_service(one)),
                      statefulset=live(children.host_statefulset(one), observedGeneration=1, replicas=1,
                                       updatedReplicas=1, currentRevision="r1", updateRevision="r1"),
                      host_pod=host_pod(0, True), report=report(0, (0,)))
    p = plan(obs)
    ops = [(w.op, w.target.kind, w.target.name) for w in p.writes]
    assert ("patch", "Secret", "chat-identity") in ops and ("create", "Secret", None) in ops
    patch = next(w.body for w in p.writes if w.op == "patch" and w.target.name == "chat-identity")
    assert patch["stringData"] == {"seed-1": SEEDS[1], "seed-2": SEEDS[2]} and "seed" not in patch["stringData"]
    assert ("orphan", "StatefulSet", "chat-host") in ops  # OrderedReady cannot become Parallel in place
    assert not any(k == "StatefulSet" and op in ("apply", "create") for op, k, _ in ops)
    # Made again without it: host 0 first (one replica) until the StatefulSet has rolled it.
    obs.set_child(owned.STATEFULSET, "chat-host", None)
    obs.secrets["chat-identity"] = identity(3)
    again = plan(obs)
    sts = next(w.body for w in again.writes if w.target.kind == "StatefulSet")
    assert sts["spec"]["replicas"] == 1 and sts["spec"]["podManagementPolicy"] == "Parallel"


def test_a_paused_topic_without_its_identity_tells_no_invented_key() -> None:
    """A topic made paused (a restore puts its Secrets in afterwards) writes nothing and says no host
    key: a fresh seed's key, drawn anew on every pass, would be a new status on every pass."""
    topic = topic3()
    topic["spec"]["paused"] = True
    fresh = {"chat-identity": SEEDS[0], "chat-member": "04" * 32, "chat-encryption": "05" * 32,
             "chat-hosts": "06" * 32, **{fresh_key("chat-identity", f"seed-{n}"): f"0{n}" * 32 for n in range(1, 5)}}
    p = plan(observed_of(topic=topic, spec=parse_spec(topic)[0], spec_error=None, now=NOW, peer_image=IMAGE,
                         fresh=fresh))
    assert p.writes == [] and p.phase == "Paused" and "hostPublicKey" not in p.status


def test_a_refused_write_leaves_status_hosts_as_it_was() -> None:
    """One host to three, the pass's first write refused (seen on the upgrade e2e: the API server did
    not know the new CRD version yet, 403): the identity Secret never got the seeds that pass drew,
    so status.hosts, which pins the hosts' keys, must not name their keys (before: it did, the next
    pass wrote other seeds, and hosts 1 and 2 were WrongIdentity for good)."""
    topic = make_topic(status={"hostPublicKey": PUBS[0], "baseKey": KEY})
    spec1 = parse_spec(topic)[0]
    assert spec1 is not None
    one = Inputs(topic, spec1, IMAGE, PUBS[0], KEY, 1, PUBS[:1], member_seed_id=MEMBER_ID)
    topic["spec"]["bootstrapHost"]["replicas"] = 3

    def pass_with(seeds: tuple[str, str], status: dict[str, Any]) -> Plan:
        fresh = {fresh_key("chat-identity", "seed-1"): seeds[0], fresh_key("chat-identity", "seed-2"): seeds[1],
                 "chat-hosts": "06" * 32}
        now = {**topic, "status": status}
        return plan(observed_of(topic=now, spec=parse_spec(now)[0], spec_error=None, now=NOW, peer_image=IMAGE,
                                fresh=fresh, secrets={k: v for k, v in secrets(1).items() if k != "chat-hosts"},
                                configmap=live(children.swarm_configmap(one)), service=live(children.host_service(one)),
                                statefulset=live(children.host_statefulset(one), observedGeneration=1, replicas=1,
                                                 updatedReplicas=1, currentRevision="r1", updateRevision="r1"),
                                host_pod=host_pod(0, True), report=report(0, (0,))))

    first = pass_with((SEEDS[1], SEEDS[2]), topic["status"])
    assert [h.get("publicKey") for h in first.status["hosts"]] == list(PUBS)
    create = next(w for w in first.writes if w.op == "create" and w.target.kind == "Secret")
    refused = after_refusal(first, create, "Forbidden", "403 Forbidden", NOW)
    assert "hosts" not in refused.status and cond(refused, c.READY)["reason"] == "Forbidden"
    other = ("0a" * 32, "0b" * 32)  # the next pass draws other seeds, and writes them
    second = pass_with(other, refused.status)
    patch = next(w.body for w in second.writes if w.op == "patch" and w.target.name == "chat-identity")
    assert patch["stringData"] == {"seed-1": other[0], "seed-2": other[1]}
    assert [h.get("publicKey") for h in second.status["hosts"]][1:] == [public_key_of(s) for s in other]


def test_a_refused_identity_secret_records_no_host_key() -> None:
    """A new topic whose identity Secret's creation is refused: status.hostPublicKey (which pins host
    0's key) must not name the key of a seed that was never written (the next pass draws another)."""
    topic = topic3()
    fresh = {"chat-identity": SEEDS[0], "chat-member": "04" * 32, "chat-encryption": "05" * 32,
             "chat-hosts": "06" * 32,
             **{fresh_key("chat-identity", f"seed-{n}"): f"{n + 6:02x}" * 32 for n in range(1, 5)}}
    p = plan(observed_of(topic=topic, spec=parse_spec(topic)[0], spec_error=None, now=NOW, peer_image=IMAGE,
                         fresh=fresh))
    first = p.writes[0]
    assert (first.op, first.target.kind, first.body["metadata"]["name"]) == ("create", "Secret", "chat-identity")
    refused = after_refusal(p, first, "Forbidden", "403 Forbidden", NOW)
    assert "hostPublicKey" not in refused.status and "hosts" not in refused.status
