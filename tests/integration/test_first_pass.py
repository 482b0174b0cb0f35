"""A topic's first pass on the real API server (issue 24): what needs no order goes out at once (the
identity, member and encryption Secrets, the ConfigMap, the Service), the StatefulSet only once they were all
answered. Told by the API server's audit log (when it received each request and when it answered),
with the operator behind the fault proxy, which holds each write's answer a moment (a slow server)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from faultproxy import FaultProxy, FaultRates
from integration_support import Api, Operator, example_topic, wait_for
from localcluster.controlplane import ControlPlane, audit_events
from localcluster.testing import OPERATOR_USER, operator_kubeconfig
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


DELAY = 0.15  # seconds the proxy holds each write's answer: below the throttle's target (its window stays)


def test_the_first_writes_go_out_together_and_the_statefulset_after_their_answers(
        api: Api, api_server: ControlPlane, tmp_path: Path) -> None:
    serving = api_server.pki.serving("fault-proxy", ["127.0.0.1"])
    with FaultProxy(api_server.server, FaultRates(write_delay=DELAY), 0, upstream_ca=api_server.pki.ca_crt,
                    serving=serving) as proxy:
        kubeconfig = yaml.safe_load(operator_kubeconfig(api_server).read_text())
        kubeconfig["clusters"][0]["cluster"]["server"] = proxy.url
        (tmp_path / "proxied.kubeconfig").write_text(yaml.safe_dump(kubeconfig))
        operator = Operator(str(tmp_path / "proxied.kubeconfig"), tmp_path / "operator.log")
        operator.start()
        try:
            wait_for("the operator to lead", lambda: "leads" in operator.log(), 30)
            api.create(api.topic_path(NS), example_topic("burst"))
            wait_for("the StatefulSet", lambda: api.get(f"/apis/apps/v1/namespaces/{NS}/statefulsets/burst-host"), 30)
        finally:
            operator.stop()

    def seen() -> dict[str, tuple[float, float]] | None:
        found = creates(api_server, "burst")
        return found if "statefulsets/burst-host" in found and len(found) >= 6 else None

    found = wait_for("the creates in the audit log", seen, 15)
    first = {k: v for k, v in found.items() if k in (
        "secrets/burst-identity", "secrets/burst-member", "secrets/burst-encryption", "configmaps/burst-swarm",
        "services/burst-host")}
    assert len(first) == 5, found
    print({k: (round(v[0] % 100, 4), round(v[1] % 100, 4)) for k, v in found.items()})
    # All five in flight at one moment: each answer reaches the operator DELAY after the API server
    # gave it, so one sent after another's answer would be received at least DELAY after it.
    received = [r for r, _ in first.values()]
    assert max(received) - min(received) < DELAY, first
    # The StatefulSet (it mounts the Secrets and reads the ConfigMap) only after all five answers.
    assert found["statefulsets/burst-host"][0] > max(a for _, a in first.values()) + DELAY, found
