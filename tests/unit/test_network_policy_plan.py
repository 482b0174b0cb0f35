"""The topic's NetworkPolicy `<name>-peers`: its builder (what a peer of the topic needs and nothing
else), the switch (the spec's, else the operator's default), the planner making it before the host
and deleting it once switched off, and the command line that configures the operator's side."""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pytest
from swarm_operator import owned
from swarm_operator.children import Inputs
from swarm_operator.children.networkpolicy import topic_network_policy
from swarm_operator.cli import build_parser, config_of
from swarm_operator.config import DHT_NODES, TopicNetwork
from swarm_operator.models import SwarmTopicSpec
from swarm_operator.planner import plan
from swarm_operator.validation import parse_spec
from test_plan import IMAGE, PUB, SECRETS, live, observed
from unit_support import NOW, make_topic, more_seeds, observed_of

K8S = "1.35.0"
OPERATOR = TopicNetwork(enabled=True, operator_namespace="swarm-operator",
                        operator_labels=(("app.kubernetes.io/name", "swarm-operator"),
                                         ("app.kubernetes.io/component", "operator")))
TOPIC_PODS = {"swarm-operator.dev/topic": "chat", "app.kubernetes.io/managed-by": "swarm-operator"}


def build(spec: dict[str, Any] | None = None, network: TopicNetwork = OPERATOR) -> dict[str, Any] | None:
    topic = make_topic()
    topic["spec"].update(spec or {})
    return topic_network_policy(Inputs(topic, SwarmTopicSpec.model_validate(topic["spec"]), "img", PUB,
                                       network=network))


DNS = {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}


def rules_with(rules: list[dict[str, Any]], protocol: str) -> list[dict[str, Any]]:
    """The rules with a port of `protocol`, DNS's aside."""
    return [r for r in rules if any(p.get("protocol") == protocol for p in r.get("ports", [])) and r != DNS]


def test_the_spec_switch_wins_over_the_operator_default() -> None:
    assert build(network=TopicNetwork()) is None  # the operator's own default: off
    assert build({"networkPolicy": {"enabled": True}}, TopicNetwork()) is not None
    assert build(network=OPERATOR) is not None  # the chart's default: on
    assert build({"networkPolicy": {"enabled": False}}, OPERATOR) is None


def test_the_policy_lets_in_the_topic_the_operator_and_the_dht_and_nothing_else() -> None:
    policy = build()
    assert policy is not None
    kubernetes_validate.validate(policy, K8S, strict=True)
    spec = policy["spec"]
    assert policy["metadata"]["name"] == "chat-peers" and policy["metadata"]["namespace"] == "apps"
    assert policy["metadata"]["ownerReferences"][0]["controller"] is True
    assert spec["podSelector"] == {"matchLabels": TOPIC_PODS}  # host and clients
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    own = {"podSelector": {"matchLabels": TOPIC_PODS}}
    # The topic's own pods: every port and protocol (holepunching picks ports at random).
    assert spec["ingress"][0] == {"from": [own]} and spec["egress"][0] == {"to": [own]}
    # The hosts' status port: the operator's pods, by their namespace and labels.
    [status] = [r for r in spec["ingress"] if {"protocol": "TCP", "port": "status"} in r.get("ports", [])]
    assert status["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "swarm-operator"}},
                               "podSelector": {"matchLabels": dict(OPERATOR.operator_labels)}}]
    # The DHT's nodes (examples/topic.yaml names one by host name): UDP both ways with the cluster's DHT
    # pods, and out to the bootstrap entry's port anywhere (a name cannot be matched).
    assert rules_with(spec["ingress"], "UDP") == [{"from": [DHT_NODES], "ports": [{"protocol": "UDP"}]}]
    assert {"to": [DHT_NODES], "ports": [{"protocol": "UDP"}]} in spec["egress"]
    assert {"ports": [{"protocol": "UDP", "port": 49737}]} in spec["egress"]
    assert DNS in spec["egress"]
    # Nothing else: no TCP in but the status port, no rule open to everyone on every port.
    assert [r for r in spec["ingress"][1:] if r is not status and "UDP" not in json.dumps(r)] == []
    assert all(r.get("ports") or r.get("from") for r in spec["ingress"])
    assert all(r.get("ports") or r.get("to") for r in spec["egress"])
    assert len(spec["ingress"]) == 3 and len(spec["egress"]) == 4


def test_bootstrap_nodes_by_address_are_matched_by_address() -> None:
    policy = build({"dht": {"bootstrap": ["10.1.2.3:49737", "10.1.2.4:50000"]}})
    assert policy is not None
    by_address = [{"ipBlock": {"cidr": "10.1.2.3/32"}}, {"ipBlock": {"cidr": "10.1.2.4/32"}}]
    assert rules_with(policy["spec"]["ingress"], "UDP") == [
        {"from": [DHT_NODES, *by_address], "ports": [{"protocol": "UDP"}]}]
    assert rules_with(policy["spec"]["egress"], "UDP") == [{"to": [DHT_NODES, *by_address],
                                                            "ports": [{"protocol": "UDP"}]}]  # no port "anywhere"
    kubernetes_validate.validate(policy, K8S, strict=True)


def test_the_public_dht_is_udp_to_and_from_anywhere_and_the_status_port_stays_closed() -> None:
    policy = build({"dht": {"bootstrap": []}})
    assert policy is not None
    assert rules_with(policy["spec"]["ingress"], "UDP") == [{"ports": [{"protocol": "UDP"}]}]
    assert {"ports": [{"protocol": "UDP"}]} in policy["spec"]["egress"]
    assert not [r for r in policy["spec"]["ingress"] if not r.get("ports") and not r.get("from")]
    kubernetes_validate.validate(policy, K8S, strict=True)


def test_without_the_operator_namespace_the_status_port_is_the_node_s_alone() -> None:
    """An operator that does not know its namespace (run outside the cluster) lets no pod in: a
    `from` of a bare podSelector would mean the topic's namespace, and an empty one everyone."""
    policy = build(network=TopicNetwork(enabled=True, dht_peers="[]"))
    assert policy is not None
    assert [r for r in policy["spec"]["ingress"] if "TCP" in json.dumps(r)] == []
    assert policy["spec"]["ingress"] == [{"from": [{"podSelector": {"matchLabels": TOPIC_PODS}}]}]
    assert {"ports": [{"protocol": "UDP", "port": 49737}]} in policy["spec"]["egress"]


def test_status_readers_and_the_spec_rules_are_added_after_the_operator_s() -> None:
    prometheus = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    app_in = {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}}],
              "ports": [{"port": 8081, "protocol": "TCP"}]}
    app_out = {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 5432}]}
    network = TopicNetwork(enabled=True, operator_namespace="ops", status_from=json.dumps([prometheus]))
    policy = build({"networkPolicy": {"ingress": [app_in], "egress": [app_out]}}, network)
    assert policy is not None
    [status] = [r for r in policy["spec"]["ingress"] if {"protocol": "TCP", "port": "status"} in r.get("ports", [])]
    assert status["from"][1:] == [prometheus]
    assert status["from"][0]["podSelector"] == {"matchLabels": {}}  # no labels given: every pod of `ops`
    assert policy["spec"]["ingress"][-1] == app_in and policy["spec"]["egress"][-1] == app_out
    kubernetes_validate.validate(policy, K8S, strict=True)


@pytest.mark.parametrize("rules", [
    {"ingress": [{"to": [{"podSelector": {}}]}]},  # an egress key in an ingress rule
    {"egress": [{"to": []}]},  # an empty peer list means everyone: refused, leave it out instead
    {"ingress": [{"from": [{"pods": {}}]}]},
    {"egress": [{"ports": [{"port": 80, "proto": "TCP"}]}]},
])
def test_malformed_extra_rules_are_an_invalid_spec(rules: dict[str, Any]) -> None:
    topic = make_topic()
    topic["spec"]["networkPolicy"] = rules
    spec, error = parse_spec(topic)
    assert spec is None and error is not None and "networkPolicy" in error


def _with_network(obs: Any, network: TopicNetwork) -> Any:
    obs.network = network
    return obs


def test_the_policy_is_made_before_the_host_and_deleted_once_switched_off() -> None:
    topic = make_topic()
    spec = parse_spec(topic)[0]
    assert spec is not None
    fresh = {"chat-identity": "01" * 32, "chat-member": "02" * 32, "chat-encryption": "03" * 32, **more_seeds()}
    first = plan(_with_network(observed_of(topic=topic, spec=spec, spec_error=None, now=NOW, peer_image=IMAGE,
                                           secrets=dict.fromkeys(SECRETS), fresh=fresh), OPERATOR))
    creates = [(w.target.kind, w.body["metadata"]["name"]) for w in first.writes if w.op == "create"]
    assert creates.index(("NetworkPolicy", "chat-peers")) < creates.index(("StatefulSet", "chat-host"))

    # Kept while wanted: a pass over the policy as made writes nothing to it.
    made = next(w.body for w in first.writes if w.target.kind == "NetworkPolicy")
    steady = observed(make_topic())
    steady.set_child(owned.NETWORK_POLICY, "chat-peers", live(made))
    assert not [w for w in plan(_with_network(steady, OPERATOR)).writes if w.target.kind == "NetworkPolicy"]

    # Switched off in the spec: the topic's own policy goes, by uid.
    off = make_topic()
    off["spec"]["networkPolicy"] = {"enabled": False}
    obs = observed(off)
    obs.set_child(owned.NETWORK_POLICY, "chat-peers", live(made))
    [delete] = [w for w in plan(_with_network(obs, OPERATOR)).writes if w.target.kind == "NetworkPolicy"]
    assert (delete.op, delete.target.name, delete.uid) == ("delete", "chat-peers", "chat-peers-uid")


def test_a_foreign_policy_of_that_name_is_a_name_conflict_and_never_deleted() -> None:
    obs = observed(make_topic())
    obs.set_child(owned.NETWORK_POLICY, "chat-peers", {"metadata": {"name": "chat-peers", "uid": "theirs"}})
    p = plan(_with_network(obs, TopicNetwork()))
    assert p.writes == [] and p.status["reason"] == "NameConflict"
    [ready] = [c for c in p.status["conditions"] if c["type"] == "Ready"]
    assert ready["message"].startswith("NetworkPolicy chat-peers (controlled by nothing): not controlled")


def test_someone_else_s_edit_of_the_policy_is_repaired() -> None:
    made = build()
    assert made is not None
    edited = live(made)
    edited["spec"]["ingress"].append({})  # "everyone, every port", added by hand
    obs = observed(make_topic())
    obs.set_child(owned.NETWORK_POLICY, "chat-peers", edited)
    [repair] = [w for w in plan(_with_network(obs, OPERATOR)).writes if w.target.kind == "NetworkPolicy"]
    assert repair.op == "repair"


def test_the_command_line_configures_the_operator_s_side() -> None:
    args = build_parser().parse_args([
        "run", "--topic-network-policy", "--operator-namespace", "ops", "--operator-pod-label", "app=op",
        "--operator-pod-label", "tier=control", "--topic-status-from", '[{"namespaceSelector": {}}]'])
    network = config_of(args).topic_network
    assert network.enabled and network.operator_namespace == "ops"
    assert network.operator_labels == (("app", "op"), ("tier", "control"))
    assert network.peers("status_from") == [{"namespaceSelector": {}}]
    assert network.peers("dht_peers") == [DHT_NODES]
    assert not config_of(build_parser().parse_args(["run"])).topic_network.enabled
    for bad in (["--topic-status-from", "{"], ["--topic-dht-peers", '[{"pods": {}}]'], ["--operator-pod-label", "x"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["run", *bad])


def test_owners_of_the_table_know_the_kind() -> None:
    assert owned.BY_KIND["NetworkPolicy"] is owned.NETWORK_POLICY
    assert owned.NETWORK_POLICY in owned.built() and owned.NETWORK_POLICY in owned.watched()
    order = [k.kind for k in owned.built()]
    assert order.index("NetworkPolicy") < order.index("StatefulSet")
    assert owned.NETWORK_POLICY.path("apps", "chat-peers") == \
        "/apis/networking.k8s.io/v1/namespaces/apps/networkpolicies/chat-peers"
