"""The examples work from any namespace: the private DHT always lands in one namespace, the one
the SwarmTopic's DHT address names, and the topic itself goes wherever it is applied."""

from __future__ import annotations

import re

import yaml
from packaging_support import REPO

EXAMPLES = REPO / "examples"


def test_the_dht_address_names_the_namespace_the_dht_runs_in() -> None:
    dht = list(yaml.safe_load_all((EXAMPLES / "dht.yaml").read_text()))
    topic = yaml.safe_load((EXAMPLES / "topic.yaml").read_text())
    namespaces = {doc["metadata"].get("namespace") for doc in dht}
    assert len(namespaces) == 1 and None not in namespaces, \
        f"examples/dht.yaml follows the current namespace ({namespaces}); the topic's address does not"
    (dht_ns,) = namespaces
    service = next(d for d in dht if d["kind"] == "Service")
    sts = next(d for d in dht if d["kind"] == "StatefulSet")
    port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "dht")
    want = f"{sts['metadata']['name']}-0.{service['metadata']['name']}.{dht_ns}.svc:{port}"
    assert topic["spec"]["dht"]["bootstrap"] == [want]
    assert "namespace" not in topic["metadata"], "the topic goes where it is applied"
    assert re.search(r"kubectl apply -n <namespace> -f examples/topic\.yaml", (EXAMPLES / "topic.yaml").read_text())
