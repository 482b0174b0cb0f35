"""Issue 23, "the author's rights, not the operator's", on the real API server: every pod template of
tests/podpolicy-cases.yaml (restricted Pod Security, other topics' Secrets, the host's Secret
volumes) is refused by the chart's admission policy naming the field, and again by the operator
(InvalidSpec, nothing created) when the policy is out of the way; no topic in the operator's
namespace, no pod as its ServiceAccount; a namespace the chart names is exempt from the profile."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakehost import FakeHost
from integration_support import Api, Operator, accepted, example_topic, wait_for
from localcluster.controlplane import ControlPlane
from localcluster.testing import CHART, OPERATOR_NAMESPACE, OPERATOR_SA, RELEASE, helm
from swarm_operator import names
from test_operator import KEY, seed_of, start_host, warning_events

NS = "apps"
CASES = yaml.safe_load((Path(__file__).resolve().parents[1] / "podpolicy-cases.yaml").read_text())


def case_topic(name: str, case: dict[str, Any], namespace: str = NS) -> dict[str, Any]:
    spec = copy.deepcopy(CASES["base"])
    pod = spec["clients"][0]["template"]["spec"]
    pod.update(copy.deepcopy(case.get("client_pod", {})))
    pod["containers"][0].update(copy.deepcopy(case.get("client_container", {})))
    if "host_template" in case:
        spec["bootstrapHost"] = {"template": copy.deepcopy(case["host_template"])}
    return {"apiVersion": names.API_VERSION, "kind": "SwarmTopic",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def refusal(api: Api, topic: dict[str, Any]) -> str:
    with pytest.raises(AssertionError) as info:
        api.create(api.topic_path(topic["metadata"]["namespace"]), topic)
    return str(info.value)


def invalid(api: Api, name: str, namespace: str = NS) -> str | None:
    topic = api.get(api.topic_path(namespace, name)) or {}
    ready = next((c for c in (topic.get("status") or {}).get("conditions", []) if c["type"] == "Ready"), {})
    return ready.get("message") if ready.get("reason") == "InvalidSpec" else None


def children_of(api: Api, namespace: str, name: str) -> list[str]:
    selector = f"labelSelector=swarm-operator.dev/topic%3D{name}"
    found = []
    for root, plural in (("/api/v1", "secrets"), ("/api/v1", "configmaps"), ("/api/v1", "services"),
                         ("/apis/apps/v1", "statefulsets"), ("/apis/apps/v1", "deployments")):
        items = api.items(f"{root}/namespaces/{namespace}/{plural}?{selector}")
        found += [f"{plural}/{o['metadata']['name']}" for o in items]
    return found


@pytest.fixture
def operator_namespace_cleanup(api: Api) -> Iterator[None]:
    """Topics made in the operator's namespace removed afterwards, and their children with them
    (garbage collection)."""
    yield
    for topic in api.items(api.topic_path(OPERATOR_NAMESPACE)):
        api.delete(api.topic_path(OPERATOR_NAMESPACE, topic["metadata"]["name"]))
    volumes = f"/api/v1/namespaces/{OPERATOR_NAMESPACE}/persistentvolumeclaims"
    for claim in api.items(f"{volumes}?labelSelector=swarm-operator.dev/topic"):  # the retained host volumes
        api.delete(f"{volumes}/{claim['metadata']['name']}")
    wait_for("the children gone", lambda: not any(children_of(api, OPERATOR_NAMESPACE, t)
                                                  for t in ("chat", "allowed", "thief")), 60)


def test_the_admission_policy_refuses_every_case_naming_the_field(api: Api) -> None:
    for i, case in enumerate(CASES["cases"]):
        message = refusal(api, case_topic(f"bad-{i}", case))
        assert " 403 " in message and "ValidatingAdmissionPolicy" in message and case["field"] in message, \
            f"{case['what']}: {message}"
    assert api.items(api.topic_path(NS)) == []
    in_operator_ns = example_topic("chat")
    in_operator_ns["metadata"]["namespace"] = OPERATOR_NAMESPACE
    assert "metadata.namespace" in refusal(api, in_operator_ns)
    fine = example_topic("fine")
    fine["spec"]["clients"][0]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"] = {
        "drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}
    assert api.create(api.topic_path(NS), fine) is not None


def test_the_operator_refuses_every_case_itself_and_creates_nothing(api: Api, without_policy: None,
                                                                   operator: Operator) -> None:
    for i, case in enumerate(CASES["cases"]):
        api.create(api.topic_path(NS), case_topic(f"bad-{i}", case))
    for i, case in enumerate(CASES["cases"]):
        message = wait_for(f"InvalidSpec of {case['what']}", lambda n=f"bad-{i}": invalid(api, n), 30)
        assert case["field"] in message, f"{case['what']}: {message}"
    time.sleep(1.0)
    for i, _ in enumerate(CASES["cases"]):
        assert children_of(api, NS, f"bad-{i}") == [], f"bad-{i} got children"
    assert len(warning_events(api, "InvalidSpec")) == len(CASES["cases"])  # one each


def test_no_topic_in_the_operators_namespace_unless_the_chart_says_so(
        api: Api, without_policy: None, operator: Operator, operator_namespace_cleanup: None) -> None:
    topic = example_topic("chat")
    topic["metadata"]["namespace"] = OPERATOR_NAMESPACE
    api.create(api.topic_path(OPERATOR_NAMESPACE), topic)
    message = wait_for("InvalidSpec", lambda: invalid(api, "chat", OPERATOR_NAMESPACE), 30)
    assert f"metadata.namespace: {OPERATOR_NAMESPACE} is the operator's own namespace" in message
    time.sleep(1.0)
    assert children_of(api, OPERATOR_NAMESPACE, "chat") == []


def test_a_topics_pod_never_runs_as_the_operators_service_account(
        api: Api, without_policy: None, operator_kubeconfig_path: Path, tmp_path: Path,
        operator_namespace_cleanup: None) -> None:
    op = Operator(str(operator_kubeconfig_path), tmp_path / "op.log", "--metrics-port", "0", "--liveness-port", "0",
                  "--allow-topics-in-operator-namespace")
    op.start()
    try:
        thief = example_topic("thief")
        thief["metadata"]["namespace"] = OPERATOR_NAMESPACE
        thief["spec"]["clients"][0]["template"]["spec"]["serviceAccountName"] = OPERATOR_SA
        api.create(api.topic_path(OPERATOR_NAMESPACE), thief)
        message = wait_for("InvalidSpec", lambda: invalid(api, "thief", OPERATOR_NAMESPACE), 30)
        assert f"spec.clients[kv].template.spec.serviceAccountName: {OPERATOR_SA} is the operator's" in message
        allowed = example_topic("allowed")
        allowed["metadata"]["namespace"] = OPERATOR_NAMESPACE
        api.create(api.topic_path(OPERATOR_NAMESPACE), allowed)
        wait_for("the allowed topic's host", lambda: api.get(
            f"/apis/apps/v1/namespaces/{OPERATOR_NAMESPACE}/statefulsets/allowed-host"), 30)
        assert children_of(api, OPERATOR_NAMESPACE, "thief") == []
    finally:
        op.stop()


@pytest.fixture
def exempt_release(api_server: ControlPlane, api: Api) -> Iterator[None]:
    """The session's release with `apps` a trusted namespace; the chart's defaults restored after."""
    helm(api_server, "upgrade", RELEASE, str(CHART), "-n", OPERATOR_NAMESPACE, "--reuse-values", "--wait",
         "--set-json", f'topics.podSecurityExemptNamespaces=["{NS}"]')
    try:
        yield
    finally:
        helm(api_server, "upgrade", RELEASE, str(CHART), "-n", OPERATOR_NAMESPACE, "--reuse-values", "--wait",
             "--set-json", "topics.podSecurityExemptNamespaces=[]")


def test_a_namespace_the_chart_names_is_exempt_from_the_profile_only(
        api: Api, api_server: ControlPlane, exempt_release: None, operator_kubeconfig_path: Path,
        tmp_path: Path) -> None:
    privileged = case_topic("tools", CASES["cases"][0])  # SYS_ADMIN, NET_ADMIN, SYS_PTRACE
    privileged["spec"]["bootstrapHost"] = {"announceTimeoutSeconds": 30}
    wait_for("the exempt policy", lambda: accepted(api, privileged), 20)
    api.create(api.topic_path(NS), privileged)
    loot = next(c for c in CASES["cases"] if "other-encryption" in json.dumps(c))
    message = refusal(api, case_topic("loot", loot))  # the other rules still hold there
    assert loot["field"] in message
    op = Operator(str(operator_kubeconfig_path), tmp_path / "op.log", "--metrics-port", "0", "--liveness-port", "0",
                  "--pod-security-exempt-namespace", NS)
    op.start()
    try:
        with FakeHost(seed_of(api, "tools"), "tools", KEY) as host:
            start_host(api, "tools", host, ready=True)
            dep = wait_for("the client Deployment",
                           lambda: api.get(f"/apis/apps/v1/namespaces/{NS}/deployments/tools-kv"), 30)
        added = dep["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]["add"]
        assert added == ["SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE"]
    finally:
        op.stop()
