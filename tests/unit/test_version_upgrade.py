"""The operator's move to v1beta1, as an upgrade meets it: children made by the v1alpha1 operator
(ownerReferences naming v1alpha1) are re-applied once, metadata only: no drift event, and no pod
template change (no host or client restarts)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from swarm_operator import children, names, owned
from swarm_operator.children.common import with_spec_hash
from swarm_operator.planner.desired import Want
from swarm_operator.planner.ensure import keep
from swarm_operator.validation import parse_spec
from unit_support import make_topic

IMAGE = "ghcr.io/swarm-operator/swarm-peer:0.1.0"
PUB = "ab" * 32


def made_by_the_v1alpha1_operator(desired: dict[str, Any]) -> dict[str, Any]:
    """`desired` as the previous release made it: its ownerReference on v1alpha1, its spec hash over that."""
    old = copy.deepcopy(desired)
    old["metadata"]["annotations"].pop(names.ANNOTATION_SPEC_HASH)
    old["metadata"]["ownerReferences"][0]["apiVersion"] = f"{names.GROUP}/v1alpha1"
    old = with_spec_hash(old)
    old["metadata"].update(uid="child-uid", resourceVersion="7")
    return old


@pytest.mark.parametrize("child", ["statefulset", "deployment", "service", "configmap"])
def test_children_of_v1alpha1_are_reapplied_once_without_a_pod_template_change(child: str) -> None:
    topic = make_topic()
    spec, _ = parse_spec(topic)
    assert spec is not None
    inputs = children.Inputs(topic=topic, spec=spec, peer_image=IMAGE, host_public_key=PUB, base_key="cd" * 32)
    desired = {
        "statefulset": lambda: children.host_statefulset(inputs),
        "deployment": lambda: children.client_deployment(inputs, spec.clients[0], 5),
        "service": lambda: children.host_service(inputs),
        "configmap": lambda: children.swarm_configmap(inputs),
    }[child]()
    assert desired["metadata"]["ownerReferences"][0]["apiVersion"] == names.API_VERSION == f"{names.GROUP}/v1beta1"
    live = made_by_the_v1alpha1_operator(desired)
    want = Want(owned.BY_KIND[desired["kind"]], desired["metadata"]["name"], ("v1beta1", child), lambda: desired)
    kept = keep(want, live, topic)
    (write,) = kept.writes
    assert write.op == "apply" and kept.events == ()  # an update, not a DriftRepaired
    assert write.body["metadata"]["ownerReferences"][0]["apiVersion"] == names.API_VERSION
    assert write.body.get("spec", {}).get("template") == live.get("spec", {}).get("template")
    applied = {**write.body, "metadata": {**write.body["metadata"], "uid": "child-uid"}}
    assert keep(want, applied, topic).writes == ()  # once
