"""The upgrade brake: a new host template reaches a topic's hosts one at a time, only while every
host is Ready, and only while the topic holds one of a bounded number of roll slots, granted in a
stable order."""

from __future__ import annotations

import copy
from typing import Any

from swarm_operator import children, names, owned
from swarm_operator.children import Inputs
from swarm_operator.children.disruption import host_disruption_budget
from swarm_operator.planner import Plan, plan
from swarm_operator.planner.brake import REVISION_LABEL
from swarm_operator.reconciler.rolls import Rolls
from swarm_operator.validation import parse_spec
from test_hosts_plan import KEY, MEMBER_ID, PUBS, host_pod, report, secrets, topic3
from unit_support import NOW, observed_of

OLD, NEW = "ghcr.io/swarm-operator/swarm-peer:0.1.0", "ghcr.io/swarm-operator/swarm-peer:0.2.0"


def test_slots_go_in_a_stable_order_and_never_beyond_the_limit() -> None:
    rolls = Rolls(limit=2)
    keys = [("apps", f"t{n}") for n in (3, 1, 4, 0, 2)]
    assert [rolls.may_roll(k) for k in keys] == [False] * 5  # unknown until a pass says it waits
    for k in keys:
        rolls.settle(k, "held")
    granted = [k for k in keys if rolls.may_roll(k)]
    assert sorted(granted) == [("apps", "t0"), ("apps", "t1")] and rolls.active == set(granted)
    assert rolls.waiting == 3
    rolls.settle(("apps", "t0"), "none")  # its hosts all run the new template: the slot frees
    assert not rolls.may_roll(("apps", "t4")) and rolls.may_roll(("apps", "t2"))  # t2 is next, not t4
    assert len(rolls.active) == 2
    assert Rolls(limit=0).may_roll(("apps", "x"))  # no limit


def _world(image: str, sts_image: str, pods: dict[int, dict[str, Any]], revision: str, current: str,
           may_roll: bool = True, partition: int = 0, sts_hash_from: str | None = None,
           pinned: str | None = None) -> Any:
    topic = topic3(status={"hostPublicKey": PUBS[0], "baseKey": KEY})
    if pinned:
        topic["spec"].setdefault("bootstrapHost", {})["image"] = pinned
    spec = parse_spec(topic)[0]
    assert spec is not None
    made = Inputs(topic, spec, sts_image, PUBS[0], KEY, 3, PUBS, hosts=3, partition=partition,
                  member_seed_id=MEMBER_ID)
    sts = copy.deepcopy(children.host_statefulset(made))
    sts["metadata"].update(uid="sts", resourceVersion="7", generation=2)
    sts["status"] = {"observedGeneration": 2, "replicas": 3, "readyReplicas": 3, "updatedReplicas": 3,
                     "currentRevision": current, "updateRevision": revision}
    obs = observed_of(topic=topic, spec=spec, spec_error=None, now=NOW, peer_image=image, secrets=secrets(),
                      configmap=children.swarm_configmap(made), service=children.host_service(made),
                      statefulset=sts, may_roll=may_roll)
    obs.set_child(owned.DISRUPTION_BUDGET, "chat-host", host_disruption_budget(made))
    for obj in obs.children.values():
        for child in obj.values():
            child["metadata"].setdefault("uid", "u")
    obs.host_pods.update(pods)
    obs.reports.update({n: report(n) for n in pods})
    return obs


def _pods(revisions: tuple[str, str, str], ready: tuple[bool, bool, bool] = (True, True, True)) -> dict[int, Any]:
    out = {}
    for n in range(3):
        pod = host_pod(n, ready[n])
        pod["metadata"]["labels"] = {REVISION_LABEL: revisions[n]}
        out[n] = pod
    return out


def _sts_write(p: Plan) -> dict[str, Any]:
    return next(w.body for w in p.writes if w.target.kind == "StatefulSet" and w.op == "apply")


def _partition(body: dict[str, Any]) -> int:
    return int(body["spec"]["updateStrategy"]["rollingUpdate"]["partition"])


def test_a_new_peer_image_goes_in_with_no_host_restarted_then_one_host_at_a_time() -> None:
    # The operator's peer image changed: the new template goes in with the partition at the top.
    p = plan(_world(NEW, OLD, _pods(("r1", "r1", "r1")), "r1", "r1"))
    body = _sts_write(p)
    assert body["spec"]["template"]["spec"]["containers"][0]["image"] == NEW and _partition(body) == 3
    assert p.roll == "rolling"
    # The controller made revision r2; every host Ready: host 2 goes first.
    p = plan(_world(NEW, NEW, _pods(("r1", "r1", "r1")), "r2", "r1", partition=3))
    assert _partition(_sts_write(p)) == 2
    # Host 2 updated but not Ready yet: the partition stays (the others hold the quorum).
    p = plan(_world(NEW, NEW, _pods(("r1", "r1", "r2"), (True, True, False)), "r2", "r1", partition=2))
    assert [w for w in p.writes if w.target.kind == "StatefulSet"] == [] and p.roll == "rolling"
    # Host 2 back: host 1 next; then host 0.
    p = plan(_world(NEW, NEW, _pods(("r1", "r1", "r2")), "r2", "r1", partition=2))
    assert _partition(_sts_write(p)) == 1
    p = plan(_world(NEW, NEW, _pods(("r1", "r2", "r2")), "r2", "r1", partition=1))
    assert _partition(_sts_write(p)) == 0
    # Every host on r2 and the controller says so: nothing left to roll, the slot goes.
    done = plan(_world(NEW, NEW, _pods(("r2", "r2", "r2")), "r2", "r2", partition=0))
    assert done.roll == "none" and [w for w in done.writes if w.target.kind == "StatefulSet"] == []


def test_a_topic_that_pins_its_peer_image_is_left_alone_by_an_operator_upgrade() -> None:
    # spec.bootstrapHost.image names 0.1.0; the operator's default peer image became 0.2.0.
    p = plan(_world(NEW, OLD, _pods(("r1", "r1", "r1")), "r1", "r1", pinned=OLD))
    assert [w for w in p.writes if w.target.kind == "StatefulSet"] == [] and p.roll == "none"
    # Unpinned, the same world rolls (the pin is what held it).
    p = plan(_world(NEW, OLD, _pods(("r1", "r1", "r1")), "r1", "r1"))
    assert p.roll == "rolling"


def test_a_topic_without_a_slot_holds_its_hosts_where_they_are() -> None:
    held = plan(_world(NEW, OLD, _pods(("r1", "r1", "r1")), "r1", "r1", may_roll=False))
    body = _sts_write(held)
    assert _partition(body) == 3 and held.roll == "held"  # the template goes in, no host restarts
    assert held.recheck is not None and held.recheck <= 5
    midway = plan(_world(NEW, NEW, _pods(("r1", "r1", "r2")), "r2", "r1", may_roll=False, partition=2))
    assert [w for w in midway.writes if w.target.kind == "StatefulSet"] == [] and midway.roll == "held"


def test_a_statefulset_of_an_older_operator_is_braked_too() -> None:
    """No template-hash annotation: its template is another, rolled under the brake."""
    obs = _world(NEW, OLD, _pods(("r1", "r1", "r1")), "r1", "r1", may_roll=False)
    assert obs.statefulset is not None
    del obs.statefulset["metadata"]["annotations"][names.ANNOTATION_TEMPLATE_HASH]
    assert _partition(_sts_write(plan(obs))) == 3


def test_a_host_pod_being_replaced_holds_the_partition_and_breaks_nothing() -> None:
    """The StatefulSet controller deletes a host's pod to update it: for a moment it is absent
    (a planner crash with a KeyError before, every pass, until the pod was back)."""
    pods = _pods(("r1", "r1", "r2"))
    del pods[2]
    p = plan(_world(NEW, NEW, pods, "r2", "r1", partition=2))
    assert [w for w in p.writes if w.target.kind == "StatefulSet"] == [] and p.roll == "rolling"


def test_a_statefulset_made_again_rolls_the_pods_it_adopted_under_the_brake() -> None:
    """One host to several: the StatefulSet is made again and adopts the running pods, of the old
    one's revision; the controller starts the new one with current = update revision, so its status
    alone says nothing is left to roll (before: the partition went to 0 at once, every such topic's
    hosts restarting together, no slot taken)."""
    adopted = _pods(("r1", "r1", "r1"))
    held = plan(_world(NEW, NEW, adopted, "r2", "r2", may_roll=False, partition=3))
    assert held.roll == "held" and [w for w in held.writes if w.target.kind == "StatefulSet"] == []
    rolling = plan(_world(NEW, NEW, adopted, "r2", "r2", partition=3))
    assert rolling.roll == "rolling" and _partition(_sts_write(rolling)) == 2  # one host at a time


def test_a_topic_keeps_its_slot_until_its_hosts_are_all_ready() -> None:
    """The controller may say current = update revision before the last rolled host is Ready (a
    StatefulSet made again): the topic keeps its slot until then, and a topic without one is left alone."""
    pods = _pods(("r2", "r2", "r2"), (False, True, True))
    kept = plan(_world(NEW, NEW, pods, "r2", "r2"))
    assert kept.roll == "rolling" and [w for w in kept.writes if w.target.kind == "StatefulSet"] == []
    del pods[0]  # being replaced
    assert plan(_world(NEW, NEW, pods, "r2", "r2")).roll == "rolling"
    assert plan(_world(NEW, NEW, pods, "r2", "r2", may_roll=False)).roll == "none"
    assert plan(_world(NEW, NEW, _pods(("r2", "r2", "r2")), "r2", "r2")).roll == "none"  # Ready: the slot goes


def test_the_partition_stays_until_the_controller_has_seen_the_statefulset() -> None:
    """Right after a write (a new template with the partition at the top, or a StatefulSet just made
    again over running pods) the cached status is the controller's view of the old spec, or none at
    all: the pass before it looks must not read it as "nothing to roll" (before: the partition went
    to 0 and every host of every such topic restarted at once; seen on an upgrade from 0.1.0)."""
    pods = _pods(("r1", "r1", "r1"))
    applied = _world(NEW, NEW, pods, "r1", "r1", partition=3, may_roll=False)
    assert applied.statefulset is not None
    applied.statefulset["metadata"]["generation"] = 3  # the new template; observedGeneration is 2
    held = plan(applied)
    assert [w for w in held.writes if w.target.kind == "StatefulSet"] == [] and held.roll == "none"
    made = _world(NEW, NEW, pods, "r1", "r1", partition=3)
    assert made.statefulset is not None
    made.statefulset.update(status={})  # just made: the controller has not written a status yet
    made.statefulset["metadata"]["generation"] = 1
    rolling = plan(made)
    assert [w for w in rolling.writes if w.target.kind == "StatefulSet"] == [] and rolling.roll == "rolling"
