"""The API: pydantic models, the CRD generated from them, and that the two cannot drift."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest
import yaml
from pydantic import ValidationError
from swarm_operator import crd
from swarm_operator.models import SwarmTopicSpec
from swarm_operator.validation import parse_spec
from unit_support import make_topic

K8S = "1.35.0"


def test_checked_in_crd_is_generated_from_the_models() -> None:
    assert crd.CRD_FILE.read_text() == crd.render(), "run `make crd`"
    assert crd.main(["--check"]) == 0


def test_crd_is_valid_for_kubernetes_1_35_strict() -> None:
    kubernetes_validate.validate(yaml.safe_load(crd.CRD_FILE.read_text()), K8S, strict=True)


def test_crd_schema_is_structural() -> None:
    """No construct a structural schema forbids survives the translation."""
    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            for bad in ("$ref", "anyOf", "oneOf", "allOf", "title", "$defs"):
                assert bad not in node, f"{bad} at {where}"
            # A map's value schema is structural; beside properties, or as a boolean, it is not.
            if "additionalProperties" in node:
                assert isinstance(node["additionalProperties"], dict) and "properties" not in node, where
            if "properties" in node:
                assert node.get("type") == "object", where
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")
    walk(crd.build_crd()["spec"]["versions"][0]["schema"], "schema")


def test_crd_carries_the_contract() -> None:
    version = crd.build_crd()["spec"]["versions"][0]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == ["Phase", "Reason", "Base key", "Clients",
                                                                         "Age"]
    assert version["additionalPrinterColumns"][1]["jsonPath"] == ".status.reason"
    assert spec["properties"]["baseKey"]["pattern"] == "^([0-9a-f]{64})?$"
    clients = spec["properties"]["clients"]
    assert clients["x-kubernetes-list-type"] == "map" and clients["x-kubernetes-list-map-keys"] == ["name"]
    assert clients["items"]["properties"]["replicas"]["minimum"] == 0
    assert clients["items"]["properties"]["name"]["pattern"].startswith("^[a-z0-9]")
    rules = " ".join(r["rule"] for r in spec["x-kubernetes-validations"])
    assert "oldSelf.topic" in rules and "oldSelf.baseKey" in rules
    assert crd.build_crd()["spec"]["names"]["shortNames"] == ["st"]


def test_example_topic_is_a_valid_spec() -> None:
    spec = SwarmTopicSpec.model_validate(make_topic()["spec"])
    assert spec.clients[0].replicas == 5
    assert spec.bootstrapHost.storage.retainOnDelete is True
    assert spec.topic_of("chat") == "chat"


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda s: s["clients"][0].update(replicas=-3), "spec.clients.0.replicas"),
    (lambda s: s.update(baseKey="xyz"), "spec.baseKey"),
    (lambda s: s["clients"].append(copy.deepcopy(s["clients"][0])), "spec.clients"),
    (lambda s: s["clients"][0].update(name="Not_A_Label"), "spec.clients.0.name"),
    (lambda s: s["dht"].update(bootstrap=["no-port"]), "spec.dht.bootstrap"),
    (lambda s: s.update(unknownField=1), "spec.unknownField"),
    (lambda s: s["clients"][0]["template"]["spec"].update(containers=[]), "spec.clients.0.template"),
    (lambda s: s["dht"].update(bootstrap=["dht:0"]), "spec.dht.bootstrap"),
    (lambda s: s["dht"].update(bootstrap=["dht:99999"]), "spec.dht.bootstrap"),
    (lambda s: s.update(topic=""), "spec.topic"),
    (lambda s: s.update(topic="   "), "spec.topic"),
    (lambda s: s.update(topic="chat\x00x"), "spec.topic"),
    (lambda s: s.update(topic="chat\nx"), "spec.topic"),
    (lambda s: s["bootstrapHost"]["storage"].update(size="0"), "spec.bootstrapHost.storage.size"),
    (lambda s: s["bootstrapHost"]["storage"].update(size="0Gi"), "spec.bootstrapHost.storage.size"),
    (lambda s: s["bootstrapHost"].update(image="a" * 10000), "spec.bootstrapHost.image"),
    (lambda s: s["bootstrapHost"].update(image="Not A Ref!"), "spec.bootstrapHost.image"),
    (lambda s: s["clients"][0]["template"]["spec"]["containers"][0].update(image="x" * 300),
     "spec.clients.0.template"),
    (lambda s: s.update(writers={"policy": "Everyone"}), "spec.writers.policy"),
    (lambda s: s["clients"][0]["template"]["spec"].update(
        volumes=[{"name": "innocent", "secret": {"secretName": "chat-identity"}}]), "spec.clients[kv].template"),
    (lambda s: s["clients"][0]["template"]["spec"].update(volumes=[{"name": "p", "projected": {"sources": [
        {"secret": {"name": "chat-identity"}}]}}]), "spec.clients[kv].template"),
    (lambda s: s["bootstrapHost"].update(template={"spec": {"initContainers": [
        {"name": "steal", "image": "busybox", "volumeMounts": [{"name": "identity", "mountPath": "/x"}]}]}}),
     "spec.bootstrapHost.template"),
    (lambda s: s["clients"][0]["template"]["spec"]["containers"][0].update(env=[{"name": "SEED", "valueFrom": {
        "secretKeyRef": {"name": "chat-identity", "key": "seed"}}}]), "spec.clients[kv].template"),
    (lambda s: s["clients"][0]["template"]["spec"]["containers"][0].update(envFrom=[
        {"secretRef": {"name": "chat-identity"}}]), "spec.clients[kv].template"),
    (lambda s: s["bootstrapHost"].update(template={"spec": {"containers": [
        {"name": "sidecar", "image": "busybox", "envFrom": [{"secretRef": {"name": "chat-identity"}}]}]}}),
     "spec.bootstrapHost.template"),
])
def test_invalid_specs_name_the_field(mutate, field) -> None:
    topic = make_topic()
    mutate(topic["spec"])
    spec, error = parse_spec(topic)
    assert spec is None
    assert error is not None and field in error, error


def test_models_reject_what_the_crd_rejects() -> None:
    with pytest.raises(ValidationError):
        SwarmTopicSpec.model_validate({"bootstrapHost": {"announceTimeoutSeconds": 0}})


@pytest.mark.parametrize("name", ["1chat", "chat.v1", "Chat", "chat-", "a" * 41, "-chat"])
def test_names_that_cannot_make_valid_children_are_invalid(name: str) -> None:
    topic = make_topic()
    topic["metadata"]["name"] = name
    spec, error = parse_spec(topic)
    assert spec is None and error is not None and "metadata.name" in error, error


@pytest.mark.parametrize("good", [
    {"dht": {"bootstrap": ["dht-0.dht.apps.svc:49737", "10.0.0.1:1", "h:65535"]}},
    {"bootstrapHost": {"image": "registry.example.com:5000/team/peer:1.2.3@sha256:" + "a" * 64,
                       "storage": {"size": "0.5Gi"}}},
    {"topic": "chat room / ünïcode"},
    {"writers": {"policy": "HostOnly"}},
])
def test_valid_edges_pass(good: dict) -> None:
    topic = make_topic()
    for key, value in good.items():
        if isinstance(value, dict) and isinstance(topic["spec"].get(key), dict):
            topic["spec"][key].update(value)
        else:
            topic["spec"][key] = value
    spec, error = parse_spec(topic)
    assert spec is not None, error


def test_crd_rules_check_the_name_and_the_same_fields() -> None:
    root = crd.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    rules = " ".join(r["rule"] for r in root["x-kubernetes-validations"])
    assert "self.metadata.name.matches('^[a-z]" in rules and "size() <= 40" in rules
    spec = root["properties"]["spec"]["properties"]
    assert "6553[0-5]" in spec["dht"]["properties"]["bootstrap"]["items"]["pattern"]
    assert spec["topic"]["pattern"].startswith("^[^\\x00") and spec["bootstrapHost"]["properties"]["image"][
        "maxLength"] == 255
    assert spec["writers"]["properties"]["policy"]["enum"] == ["Clients", "HostOnly", "Open"]


def test_v1beta1_is_stored_and_v1alpha1_served_deprecated_with_the_same_schema() -> None:
    built = crd.build_crd()["spec"]
    versions = {v["name"]: v for v in built["versions"]}
    assert set(versions) == {"v1beta1", "v1alpha1"}
    assert [v["name"] for v in built["versions"] if v["storage"]] == ["v1beta1"]
    assert all(v["served"] for v in versions.values())
    assert versions["v1alpha1"]["deprecated"] is True
    assert "use swarm-operator.dev/v1beta1" in versions["v1alpha1"]["deprecationWarning"]
    assert "deprecated" not in versions["v1beta1"]
    # Equal schemas (and columns, subresources): the None strategy only rewrites apiVersion.
    assert built["conversion"] == {"strategy": "None"}
    strip = ("name", "storage", "deprecated", "deprecationWarning")
    assert {k: v for k, v in versions["v1alpha1"].items() if k not in strip} == \
        {k: v for k, v in versions["v1beta1"].items() if k not in strip}
