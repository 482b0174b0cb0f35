"""The operator's move to v1beta1, as an upgrade meets it: children made by the v1alpha1 operator
(ownerReferences naming v1alpha1) are re-applied once, metadata only: no drift event, and no pod
template change (no host or client restarts)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from swarm_operator import manifests, names
from swarm_operator.steps import ensure
from swarm_operator.validation import parse_spec
from unit_support import make_topic

IMAGE = "ghcr.io/swarm-operator/swarm-peer:0.1.0"
PUB = "ab" * 32


def made_by_the_v1alpha1_operator(desired: dict[str, Any]) -> dict[str, Any]:
    """`desired` as the previous release made it: its ownerReference on v1alpha1, its spec hash over that."""
    old = copy.deepcopy(desired)
    old["metadata"]["annotations"].pop(names.ANNOTATION_SPEC_HASH)
    old["metadata"]["ownerReferences"][0]["apiVersion"] = f"{names.GROUP}/v1alpha1"
    old = manifests.with_spec_hash(old)
    old["metadata"].update(uid="child-uid", resourceVersion="7")
    return old


@pytest.mark.parametrize("child", ["statefulset", "deployment", "service", "configmap"])
def test_children_of_v1alpha1_are_reapplied_once_without_a_pod_template_change(child: str) -> None:
    topic = make_topic()
    spec, _ = parse_spec(topic)
    assert spec is not None
    desired = {
        "statefulset": lambda: manifests.host_statefulset(topic, spec, IMAGE, PUB),
        "deployment": lambda: manifests.client_deployment(topic, spec, spec.clients[0], PUB, 5),
        "service": lambda: manifests.host_service(topic),
        "configmap": lambda: manifests.swarm_configmap(topic, spec, PUB, "cd" * 32),
    }[child]()
    assert desired["metadata"]["ownerReferences"][0]["apiVersion"] == names.API_VERSION == f"{names.GROUP}/v1beta1"
    live = made_by_the_v1alpha1_operator(desired)
    write, drifted = ensure(desired, live, topic)
    assert write is not None and write.op == "apply" and drifted == []  # an update, not a DriftRepaired
    assert write.body["metadata"]["ownerReferences"][0]["apiVersion"] == names.API_VERSION
    assert write.body.get("spec", {}).get("template") == live.get("spec", {}).get("template")
    applied = {**write.body, "metadata": {**write.body["metadata"], "uid": "child-uid"}}
    assert ensure(desired, applied, topic) == (None, [])  # once
