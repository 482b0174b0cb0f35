"""What the real API server refuses before the operator ever sees it: the CRD's schema, its CEL
transition rules and its subresources, served and enforced by kube-apiserver itself (an emulator
without them let every one of these through)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from integration_support import Api, example_topic
from localcluster.controlplane import ControlPlane
from localcluster.testing import kubectl

NS = "apps"


def refused(api: Api, method: str, path: str, body: dict, content_type: str = "application/json") -> str:
    with pytest.raises(AssertionError) as info:
        api.call(method, path, body, content_type)
    return str(info.value)


def test_schema_refuses_bad_values_at_admission(api: Api) -> None:
    cases = {
        "negative replicas": ({"clients": [{"name": "kv", "replicas": -3,
                                             "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}]},
                              "spec.clients[0].replicas"),
        "bad base key": ({"baseKey": "not-a-key"}, "spec.baseKey"),
        "duplicate client names": ({"clients": [
            {"name": "kv", "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}},
            {"name": "kv", "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}]},
            "spec.clients"),
    }
    for what, (spec, field) in cases.items():
        topic = example_topic("bad")
        topic["spec"].update(spec)
        message = refused(api, "POST", api.topic_path(NS), topic)
        assert " 422 " in message and field in message, f"{what}: {message}"
    assert api.get(api.topic_path(NS, "bad")) is None


def test_cel_rules_refuse_changing_topic_and_a_set_base_key(api: Api) -> None:
    topic = example_topic("chat", baseKey="ab" * 32)
    api.create(api.topic_path(NS), topic)
    path = api.topic_path(NS, "chat")
    ctype = "application/merge-patch+json"
    assert "spec.topic is immutable" in refused(api, "PATCH", path, {"spec": {"topic": "other"}}, ctype)
    assert "baseKey" in refused(api, "PATCH", path, {"spec": {"baseKey": "cd" * 32}}, ctype)
    assert api.topic(NS, "chat")["spec"]["baseKey"] == "ab" * 32


def test_kubectl_scale_and_explain_come_from_the_server(api: Api, api_server: ControlPlane) -> None:
    api.create(api.topic_path(NS), example_topic("chat"))
    with pytest.raises(subprocess.CalledProcessError) as info:
        kubectl(api_server.kubeconfig, "scale", "swarmtopic/chat", "-n", NS, "--replicas=2")
    assert "scale" in info.value.stderr.lower() or "not found" in info.value.stderr.lower(), info.value.stderr
    explained = kubectl(api_server.kubeconfig, "explain", "swarmtopic.spec.clients")
    assert "replicas" in explained and "template" in explained
    served = json.loads(kubectl(api_server.kubeconfig, "get", "--raw",
                                "/openapi/v3/apis/swarm-operator.dev/v1alpha1"))
    assert "dev.swarm-operator.v1alpha1.SwarmTopic" in json.dumps(served["components"]["schemas"])


def test_the_crd_on_the_server_is_the_repository_crd(api_server: ControlPlane) -> None:
    import yaml
    local = yaml.safe_load(Path(__file__).resolve().parents[2].joinpath(
        "crds", "swarmtopics.swarm-operator.dev.yaml").read_text())
    served = json.loads(kubectl(api_server.kubeconfig, "get", "crd", local["metadata"]["name"], "-o", "json"))
    assert served["spec"]["versions"][0]["schema"] == local["spec"]["versions"][0]["schema"]


def test_the_charts_admission_policy_keeps_pod_templates_off_the_node(api: Api) -> None:
    """The chart's ValidatingAdmissionPolicy (installed with the release), evaluated by the API
    server: privileged containers, hostPath volumes and the node's namespaces are refused in
    client and host templates alike, naming the field; an ordinary template passes. (Every rule of
    the policy: tests/integration/test_authors_rights.py.)"""
    def client(**pod: object) -> dict:
        spec = {"containers": [{"name": "app", "image": "x"}], **pod}
        return {"clients": [{"name": "kv", "template": {"spec": spec}}]}

    at = "spec.clients[kv].template.spec"
    cases = {
        "hostNetwork": (client(hostNetwork=True), f"{at}.hostNetwork"),
        "hostPID": (client(hostPID=True), f"{at}.hostPID"),
        "hostPath": (client(volumes=[{"name": "root", "hostPath": {"path": "/"}}]), f"{at}.volumes[root].hostPath"),
        "privileged": (client(containers=[{"name": "app", "image": "x", "securityContext": {"privileged": True}}]),
                       f"{at}.containers[app].securityContext.privileged"),
        "privileged init": (client(initContainers=[{"name": "i", "image": "x",
                                                    "securityContext": {"privileged": True}}]),
                            f"{at}.initContainers[i].securityContext.privileged"),
        "host template": ({"bootstrapHost": {"template": {"spec": {"hostNetwork": True}}}},
                          "spec.bootstrapHost.template.spec.hostNetwork"),
    }
    for what, (spec, words) in cases.items():
        topic = example_topic("bad")
        topic["spec"].update(spec)
        message = refused(api, "POST", api.topic_path(NS), topic)
        assert "ValidatingAdmissionPolicy" in message and words in message, f"{what}: {message}"
    assert api.get(api.topic_path(NS, "bad")) is None
    fine = example_topic("fine")
    fine["spec"].update(client(volumes=[{"name": "scratch", "emptyDir": {}}]))
    api.create(api.topic_path(NS), fine)
