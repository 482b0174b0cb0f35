"""The scale benchmark's key -> Ready breakdown (bench/scale_figures.py: ready_path): each step
dated from the audit log, owned by the topic of its client Deployment, and the steps adding up to
the whole wait."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from scale_figures import PATH_STEPS, path_summary, ready_path

OPERATOR = "system:serviceaccount:swarm-operator:swarm-operator"
RS = "system:serviceaccount:kube-system:replicaset-controller"
DEPLOY = "system:serviceaccount:kube-system:deployment-controller"
T0 = 1_800_000_000.0


def event(at: float, user: str, verb: str, resource: str, name: str, sub: str | None = None,
          namespace: str = "ns", code: int = 200) -> str:
    ref = {"resource": resource, "namespace": namespace, "name": name, **({"subresource": sub} if sub else {})}
    stamp = datetime.fromtimestamp(T0 + at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps({"auditID": f"{at}-{name}-{verb}", "verb": verb, "user": {"username": user}, "objectRef": ref,
                       "responseStatus": {"code": code}, "requestReceivedTimestamp": stamp, "stageTimestamp": stamp})


def test_each_step_is_dated_by_its_owner_and_the_steps_add_up(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    lines = [
        event(1.0, OPERATOR, "create", "deployments", "chat-kv"),
        event(1.1, OPERATOR, "create", "deployments", "chat-kv", code=409),  # refused: not a mark
        event(1.5, DEPLOY, "update", "deployments", "chat-kv", "status"),
        event(2.0, RS, "update", "replicasets", "chat-kv-5d9f", "status"),
        event(2.5, RS, "update", "replicasets", "chat-kv-5d9f", "status"),  # the first one counts
        event(3.0, "system:node:n1", "patch", "pods", "chat-kv-5d9f-aaaaa", "status"),
        event(4.0, "system:node:n1", "patch", "pods", "chat-kv-5d9f-bbbbb", "status"),  # the last pod counts
        event(4.5, DEPLOY, "update", "deployments", "chat-kv", "status"),
        # Another topic whose name is a prefix of this one's Deployment: never mixed up.
        event(1.2, OPERATOR, "create", "deployments", "chat-kv-x-kv"),
        # After Ready: not part of the wait.
        event(9.0, DEPLOY, "update", "deployments", "chat-kv", "status"),
    ]
    log.write_text("\n".join(lines) + "\n")
    key, ready = {("ns", "chat"): T0 + 0.5, ("ns", "chat-kv-x"): T0 + 0.6}, {("ns", "chat"): T0 + 5.0}
    steps = ready_path(log, key, ready, OPERATOR)
    assert list(steps) == [("ns", "chat")]  # the other never became Ready
    got = steps[("ns", "chat")]
    assert [round(s, 3) for s in got] == [0.5, 1.0, 2.0, 0.5, 0.5]
    assert abs(sum(got) - (ready[("ns", "chat")] - key[("ns", "chat")])) < 1e-6
    summary = path_summary(steps)
    assert len(summary) == 1 + len(PATH_STEPS) and "n=1" in summary[0]


def test_no_topic_found_says_so(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text("")
    assert path_summary(ready_path(log, {("ns", "a"): T0}, {("ns", "a"): T0 + 1}, OPERATOR)) == [
        "key -> Ready by step: no topic found whole in the audit log"]
