"""The NetworkPolicy `<name>-peers` over a topic's pods (host and clients): what a Hyperswarm peer of
the topic needs, and nothing else (docs/network-policy.md).

- Between the topic's own pods, every port, UDP and TCP: the DHT, holepunching (a peer's ports are
  picked at random) and replication all share one UDP socket per peer.
- The DHT's nodes, UDP both ways: the cluster's DHT pods (`TopicNetwork.dht_peers`, the chart's
  topicNetworkPolicy.dhtPeers) and the IP addresses of spec.dht.bootstrap; out, also the ports of
  the bootstrap entries named by host name (a name cannot be matched, so any address on that port).
  With no spec.dht.bootstrap the peers use the public DHT: UDP to and from anywhere.
- The hosts' status port (TCP `status`) from the operator's pods, which read the signed report, and
  from `TopicNetwork.status_from` (Prometheus scraping the PodMonitor's targets). The kubelet's
  probes come from the node, which network plugins let through.
- DNS (port 53, UDP and TCP, any address: the cluster's DNS may be a Service, a node-local cache).
- The spec's own rules (spec.networkPolicy.ingress/egress: the app's ports), after the operator's.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from .. import names
from ..config import TopicNetwork
from .common import Inputs, metadata, with_spec_hash

UDP = "UDP"
DNS_PORT = 53


def topic_pods(topic_name: str) -> dict[str, str]:
    """The labels of every pod of the topic, host and clients (the policy's own pods)."""
    return {names.LABEL_TOPIC: topic_name, names.LABEL_MANAGED_BY: "swarm-operator"}


def wanted(inputs: Inputs) -> bool:
    """The spec's switch, else the operator's default."""
    enabled = inputs.spec.networkPolicy.enabled
    return inputs.network.enabled if enabled is None else enabled


def _ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _dht(bootstrap: list[str], network: TopicNetwork) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(ingress, egress) rules of the DHT: its nodes, UDP."""
    if not bootstrap:  # the public DHT: nodes and peers anywhere
        return [{"ports": [{"protocol": UDP}]}], [{"ports": [{"protocol": UDP}]}]
    entries = [entry.rsplit(":", 1) for entry in bootstrap]
    by_address = [{"ipBlock": {"cidr": f"{host}/32"}} for host, _ in entries if _ip(host)]
    nodes = [*network.peers("dht_peers"), *by_address]
    ingress = [{"from": nodes, "ports": [{"protocol": UDP}]}] if nodes else []
    egress = [{"to": nodes, "ports": [{"protocol": UDP}]}] if nodes else []
    named = sorted({int(port) for host, port in entries if not _ip(host)})
    if named:  # a bootstrap node by name: its port, anywhere
        egress.append({"ports": [{"protocol": UDP, "port": port} for port in named]})
    return ingress, egress


def _status_readers(network: TopicNetwork) -> list[dict[str, Any]]:
    """Who may reach the peers' status port: the operator's pods, and `status_from`."""
    readers = network.peers("status_from")
    if network.operator_namespace:
        readers.insert(0, {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name":
                                                                 network.operator_namespace}},
                           "podSelector": {"matchLabels": dict(network.operator_labels)}})
    return readers


def topic_network_policy(inputs: Inputs) -> dict[str, Any] | None:
    """None when the topic wants no policy (the spec's switch, else the operator's default)."""
    if not wanted(inputs):
        return None
    name, spec = inputs.name, inputs.spec
    own = [{"podSelector": {"matchLabels": topic_pods(name)}}]
    dht_in, dht_out = _dht(spec.dht.bootstrap, inputs.network)
    readers = _status_readers(inputs.network)
    status = [{"from": readers, "ports": [{"protocol": "TCP", "port": names.STATUS_PORT_NAME}]}] if readers else []
    dns = [{"ports": [{"protocol": protocol, "port": DNS_PORT} for protocol in (UDP, "TCP")]}]
    return with_spec_hash({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(inputs.topic, names.network_policy(name), names.COMPONENT_HOST),
        "spec": {
            "podSelector": {"matchLabels": topic_pods(name)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": own}, *status, *dht_in, *spec.networkPolicy.ingress],
            "egress": [{"to": own}, *dns, *dht_out, *spec.networkPolicy.egress],
        },
    })
