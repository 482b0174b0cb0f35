"""The topic's NetworkPolicy on the real API server, with the real operator process run as the chart
runs it (--topic-network-policy, its namespace and pod labels): made before the host's StatefulSet
and accepted by the API server's validation; kept (deleted or edited by hand, it comes back as it
was); the spec's app rules in it; switched off and on by spec.networkPolicy.enabled; a rule the API
server refuses is one condition and one event, never a crash or a silent wait. No network plugin
runs here: that the policy is enforced is the e2e suite's (e2e/test_network_policy.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakehost import FakeHost
from integration_support import Api, Operator, example_topic, wait_for
from test_operator import seed_of, start_host, wait_condition, warning_events

NS = "apps"
KEY = "5b" * 32
POLICIES = f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies"
OPERATOR_LABELS = {"app.kubernetes.io/name": "swarm-operator", "app.kubernetes.io/component": "operator"}
APP_PORT = {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}}],
            "ports": [{"port": 8081, "protocol": "TCP"}]}


@pytest.fixture
def guarding_operator(operator_kubeconfig_path: Path, api: Api, tmp_path: Path) -> Iterator[Operator]:
    """The operator with the chart's default: every topic gets its policy."""
    labels = [arg for key, value in OPERATOR_LABELS.items() for arg in ("--operator-pod-label", f"{key}={value}")]
    op = Operator(str(operator_kubeconfig_path), tmp_path / "operator.log", "--metrics-port", "0",
                  "--liveness-port", "0", "--topic-network-policy", "--operator-namespace", "swarm-operator",
                  *labels)
    op.start()
    try:
        yield op
    finally:
        op.stop()
        print(op.log()[-4000:])


def policy(api: Api, name: str = "chat") -> dict[str, Any] | None:
    return api.get(f"{POLICIES}/{name}-peers")


class Order(threading.Thread):
    """Samples the StatefulSet and the policy together: the host must never exist unguarded."""

    def __init__(self, api: Api, name: str) -> None:
        super().__init__(daemon=True)
        self.api, self.name = api, name
        self.unguarded = 0
        self.samples = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            statefulset = self.api.get(f"/apis/apps/v1/namespaces/{NS}/statefulsets/{self.name}-host")
            if statefulset is not None and policy(self.api, self.name) is None:
                self.unguarded += 1
            self.samples += 1
            time.sleep(0.02)


def test_the_operator_makes_the_policy_first_and_keeps_it(api: Api, guarding_operator: Operator) -> None:
    order = Order(api, "chat")
    order.start()
    try:
        api.create(api.topic_path(NS), example_topic("chat", clients=2,
                                                     networkPolicy={"ingress": [APP_PORT]}))
        wait_for("the host's StatefulSet", lambda: api.get(f"/apis/apps/v1/namespaces/{NS}/statefulsets/chat-host"),
                 30)
    finally:
        order.halt.set()
        order.join(5)
    assert order.samples > 5 and order.unguarded == 0, "the host's StatefulSet existed before its NetworkPolicy"
    made = policy(api)
    assert made is not None
    topic = api.topic(NS, "chat")
    assert made["metadata"]["ownerReferences"][0]["uid"] == topic["metadata"]["uid"]
    spec = made["spec"]
    assert spec["podSelector"]["matchLabels"] == {"swarm-operator.dev/topic": "chat",
                                                  "app.kubernetes.io/managed-by": "swarm-operator"}
    [status] = [r for r in spec["ingress"] if {"protocol": "TCP", "port": "status"} in r.get("ports", [])]
    assert status["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "swarm-operator"}},
                               "podSelector": {"matchLabels": OPERATOR_LABELS}}]
    assert spec["ingress"][-1] == APP_PORT  # the spec's app rule, after the operator's

    # The policy changes nothing of the ordering: the key recorded from the verified host, then the clients.
    with FakeHost(seed_of(api, "chat"), "chat", KEY) as host:
        start_host(api, "chat", host, ready=True)
        wait_condition(api, "chat", "BaseKeyRecorded", "True", timeout=30)

    # Kept without writes: what the API server stored is what the operator wants (no drift found in
    # its defaults), so several re-checks leave it as it is.
    kept = policy(api)
    assert kept is not None
    time.sleep(2.0)
    still = policy(api)
    assert still is not None and still["metadata"]["resourceVersion"] == kept["metadata"]["resourceVersion"]
    assert not [e for e in warning_events(api, "DriftRepaired") if "NetworkPolicy" in e["message"]]

    # Deleted by hand: made again. Edited by hand ("everyone, every port"): put back, one DriftRepaired.
    api.delete(f"{POLICIES}/chat-peers")
    again = wait_for("the policy made again", lambda: (p := policy(api)) and p["metadata"]["uid"] !=
                     made["metadata"]["uid"] and p, 30)
    edited = dict(again)
    edited["spec"] = {**again["spec"], "ingress": [*again["spec"]["ingress"], {}]}
    api.call("PUT", f"{POLICIES}/chat-peers", edited)
    wait_for("the edit undone", lambda: (p := policy(api)) and p["spec"]["ingress"] == again["spec"]["ingress"], 30)
    wait_for("one DriftRepaired event", lambda: [e for e in warning_events(api, "DriftRepaired")
                                                  if "NetworkPolicy chat-peers" in e["message"]], 10)


def test_the_spec_switches_the_policy_off_and_on(api: Api, guarding_operator: Operator) -> None:
    api.create(api.topic_path(NS), example_topic("chat", clients=1))
    first = wait_for("the policy", lambda: policy(api), 30)
    api.merge(api.topic_path(NS, "chat"), {"spec": {"networkPolicy": {"enabled": False}}})
    wait_for("the policy deleted", lambda: policy(api) is None, 30)
    assert guarding_operator.proc is not None and guarding_operator.proc.poll() is None
    api.merge(api.topic_path(NS, "chat"), {"spec": {"networkPolicy": {"enabled": None}}})  # the operator's default
    back = wait_for("the policy made again", lambda: policy(api), 30)
    assert back["metadata"]["uid"] != first["metadata"]["uid"] and back["spec"] == first["spec"]


def test_without_the_operator_default_a_topic_asks_for_its_policy(api: Api, operator: Operator) -> None:
    api.create(api.topic_path(NS), example_topic("plain", clients=1))
    api.create(api.topic_path(NS), example_topic("guarded", clients=1, networkPolicy={"enabled": True}))
    wait_for("the guarded topic's policy", lambda: policy(api, "guarded"), 30)
    wait_for("the plain topic's host", lambda: api.get(f"/apis/apps/v1/namespaces/{NS}/statefulsets/plain-host"), 30)
    assert policy(api, "plain") is None
    # Without --operator-namespace outside a pod no operator pod is known: the status port is the node's alone.
    guarded = policy(api, "guarded")
    assert guarded is not None
    assert not [r for r in guarded["spec"]["ingress"] if {"protocol": "TCP", "port": "status"} in r.get("ports", [])]


def test_a_rule_the_api_server_refuses_is_one_condition_and_one_event(api: Api, guarding_operator: Operator) -> None:
    """The CRD keeps the app's rules free-form; the API server judges the policy the operator writes.
    Its refusal stops the pass before the host (which would otherwise run unguarded)."""
    bad = {"ports": [{"port": 70000, "protocol": "TCP"}]}  # no such port
    api.create(api.topic_path(NS), example_topic("chat", clients=1, networkPolicy={"ingress": [bad]}))
    cond = wait_condition(api, "chat", "Ready", "False", "ApiRejected", timeout=30)
    assert "NetworkPolicy chat-peers" in cond["message"] and "70000" in cond["message"]
    time.sleep(2.0)  # several reconcile intervals of the standing refusal
    assert len(warning_events(api, "ApiRejected")) == 1
    assert api.get(f"/apis/apps/v1/namespaces/{NS}/statefulsets/chat-host") is None
    assert guarding_operator.proc is not None and guarding_operator.proc.poll() is None
    api.merge(api.topic_path(NS, "chat"), {"spec": {"networkPolicy": {"ingress": [APP_PORT]}}})
    wait_for("the host's StatefulSet once the rule is fixed",
             lambda: api.get(f"/apis/apps/v1/namespaces/{NS}/statefulsets/chat-host"), 30)
    assert policy(api) is not None
