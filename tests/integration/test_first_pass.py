"""A topic's first pass on the real API server (issue 24): what needs no order goes out at once (the
identity and member Secrets, the ConfigMap, the Service), the StatefulSet only once they were all
answered. Told by the API server's audit log: when it received each request and when it answered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from integration_support import Api, Operator, example_topic, wait_for
from localcluster.controlplane import ControlPlane, audit_events
from localcluster.testing import OPERATOR_USER
from test_operator import NS


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def creates(plane: ControlPlane, name: str) -> dict[str, tuple[float, float]]:
    """The operator's creates of `name`'s children: resource/name -> (received, answered)."""
    out: dict[str, tuple[float, float]] = {}
    for event in audit_events(plane.audit_log):
        ref: dict[str, Any] = event.get("objectRef") or {}
        if event.get("user", {}).get("username") != OPERATOR_USER or event.get("verb") != "create" \
                or ref.get("namespace") != NS or not str(ref.get("name", "")).startswith(name):
            continue
        out[f"{ref['resource']}/{ref['name']}"] = (_seconds(event["requestReceivedTimestamp"]),
                                                   _seconds(event["stageTimestamp"]))
    return out


def test_the_first_writes_go_out_together_and_the_statefulset_after_their_answers(
        api: Api, api_server: ControlPlane, operator: Operator) -> None:
    wait_for("the operator to lead", lambda: "leads" in operator.log(), 30)
    api.create(api.topic_path(NS), example_topic("burst"))
    wait_for("the StatefulSet", lambda: api.get(f"/apis/apps/v1/namespaces/{NS}/statefulsets/burst-host"), 30)

    def seen() -> dict[str, tuple[float, float]] | None:
        found = creates(api_server, "burst")
        return found if "statefulsets/burst-host" in found and len(found) >= 5 else None

    found = wait_for("the creates in the audit log", seen, 15)
    first = {k: v for k, v in found.items() if k in (
        "secrets/burst-identity", "secrets/burst-member", "configmaps/burst-swarm", "services/burst-host")}
    assert len(first) == 4, found
    print({k: (round(v[0] % 100, 4), round(v[1] % 100, 4)) for k, v in found.items()})
    # All four in flight at one moment: the last received before the first answered.
    assert max(r for r, _ in first.values()) < min(a for _, a in first.values()), first
    # The StatefulSet (it mounts the Secrets and reads the ConfigMap) only after all four answers.
    assert found["statefulsets/burst-host"][0] > max(a for _, a in first.values()), found
