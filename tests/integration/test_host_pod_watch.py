"""Host pods are watched (server-side label selector): pod Ready -> key recorded does not wait
for the periodic re-check, here 30 s away."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from fakehost import FakeHost
from integration_support import Api, Operator, example_topic, wait_for
from localcluster.controlplane import ControlPlane, audit_events
from localcluster.testing import OPERATOR_USER
from test_operator import KEY, NS, seed_of, start_host, wait_condition

INTERVAL = 30.0


def pod_watches(plane: ControlPlane) -> list[str]:
    return [unquote(e["requestURI"]) for e in audit_events(plane.audit_log)
            if e.get("user", {}).get("username") == OPERATOR_USER and e.get("verb") == "watch"
            and e.get("objectRef", {}).get("resource") == "pods"]


def test_a_host_pod_turning_ready_records_the_key_without_waiting_for_the_timer(
        api: Api, api_server: ControlPlane, operator_kubeconfig_path: Path, tmp_path: Path) -> None:
    operator = Operator(str(operator_kubeconfig_path), tmp_path / "operator.log", "--metrics-port", "0",
                        "--liveness-port", "0", "--reconcile-interval", str(INTERVAL))
    operator.start()
    try:
        api.create(api.topic_path(NS), example_topic("chat", clients=1))
        with FakeHost(seed_of(api, "chat"), "chat", KEY) as host:
            start_host(api, "chat", host, ready=False)
            wait_condition(api, "chat", "HostReady", "False", "WaitingForAnnounce", timeout=INTERVAL / 2)
            start_host(api, "chat", host, ready=True)
            # Well within one interval: only an event can have brought the topic back.
            wait_condition(api, "chat", "BaseKeyRecorded", "True", timeout=INTERVAL / 3)
        watches = wait_for("the operator's pod watch in the audit log", lambda: pod_watches(api_server), 10)
        selector = ("labelSelector=app.kubernetes.io/component=bootstrap-host,"
                    "app.kubernetes.io/managed-by=swarm-operator")
        assert all(selector in uri for uri in watches), watches
    finally:
        operator.stop()
        print(operator.log()[-4000:])
