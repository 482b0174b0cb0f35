"""What a SwarmTopic's pod templates may do (issue 23, operator side; the chart's admission policy is
checked with the same cases on the real API server in tests/integration/test_authors_rights.py)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from swarm_operator import children
from swarm_operator.children import Inputs
from swarm_operator.podpolicy import TopicRules, restricted_defaults
from swarm_operator.validation import parse_spec
from unit_support import make_topic

CASES = yaml.safe_load((Path(__file__).resolve().parents[1] / "podpolicy-cases.yaml").read_text())
RULES = TopicRules(operator_namespace="swarm-operator", operator_service_account="swarm-operator")
# The cases of the restricted profile; the others are about Secrets, which hold everywhere.
PROFILE = [c for c in CASES["cases"] if "secret" not in c["field"].lower() and "volumeMounts" not in c["field"]]
SECRETS = [c for c in CASES["cases"] if c not in PROFILE]


def case_topic(case: dict[str, Any], namespace: str = "apps", name: str = "bad") -> dict[str, Any]:
    spec = copy.deepcopy(CASES["base"])
    pod = spec["clients"][0]["template"]["spec"]
    pod.update(copy.deepcopy(case.get("client_pod", {})))
    pod["containers"][0].update(copy.deepcopy(case.get("client_container", {})))
    if "host_template" in case:
        spec["bootstrapHost"] = {"template": copy.deepcopy(case["host_template"])}
    topic = make_topic(spec)
    topic["metadata"].update(name=name, namespace=namespace)
    return topic


@pytest.mark.parametrize("case", CASES["cases"], ids=[c["what"] for c in CASES["cases"]])
def test_each_case_is_invalid_naming_its_field(case: dict[str, Any]) -> None:
    spec, error = parse_spec(case_topic(case), RULES)
    assert spec is None and error is not None and case["field"] in error, error


def test_the_base_and_the_examples_are_valid() -> None:
    assert parse_spec(case_topic({}), RULES)[0] is not None
    assert parse_spec(make_topic(), RULES)[0] is not None
    example = yaml.safe_load((Path(__file__).resolve().parents[2] / "examples" / "kv-app" / "topic.yaml").read_text())
    assert parse_spec(make_topic(example["spec"]), RULES)[0] is not None


@pytest.mark.parametrize("case", PROFILE, ids=lambda c: c["what"])
def test_an_exempt_namespace_is_not_held_to_the_profile(case: dict[str, Any]) -> None:
    rules = TopicRules(exempt_namespaces=frozenset({"trusted"}))
    spec, error = parse_spec(case_topic(case, namespace="trusted"), rules)
    assert spec is not None, error
    assert parse_spec(case_topic(case, namespace="apps"), rules)[0] is None


def test_secret_rules_hold_in_an_exempt_namespace_too() -> None:
    rules = TopicRules(exempt_namespaces=frozenset({"trusted"}))
    assert len(SECRETS) == 8
    for case in SECRETS:
        spec, error = parse_spec(case_topic(case, namespace="trusted"), rules)
        assert spec is None and error is not None and case["field"] in error, error


def test_the_operators_namespace_and_service_account() -> None:
    spec, error = parse_spec(case_topic({}, namespace="swarm-operator"), RULES)
    assert spec is None and error is not None and error.startswith("metadata.namespace: swarm-operator"), error
    allowed = TopicRules("swarm-operator", "swarm-operator", allow_operator_namespace=True)
    assert parse_spec(case_topic({}, namespace="swarm-operator"), allowed)[0] is not None
    for key in ("serviceAccountName", "serviceAccount"):
        thief = case_topic({"client_pod": {key: "swarm-operator"}}, namespace="swarm-operator")
        spec, error = parse_spec(thief, allowed)
        assert spec is None and error is not None and f"spec.clients[kv].template.spec.{key}" in error, error
    # Another namespace's "swarm-operator" ServiceAccount is not the operator's.
    assert parse_spec(case_topic({"client_pod": {"serviceAccountName": "swarm-operator"}}), RULES)[0] is not None


def test_a_message_names_a_few_fields_and_counts_the_rest() -> None:
    every = {"client_pod": {"hostNetwork": True, "hostPID": True, "hostIPC": True},
             "client_container": {"securityContext": {"privileged": True, "runAsUser": 0}}}
    error = parse_spec(case_topic(every), RULES)[1]
    assert error is not None and error.count("; ") == 4 and error.endswith("and 1 more"), error


def test_a_spec_base_key_other_than_the_recorded_one_is_invalid() -> None:
    topic = make_topic(status={"baseKey": "ab" * 32})
    topic["spec"]["baseKey"] = "cd" * 32
    spec, error = parse_spec(topic)
    assert spec is None and error is not None and error.startswith("spec.baseKey:") and "ab" * 32 in error
    topic["spec"]["baseKey"] = "ab" * 32
    assert parse_spec(topic)[0] is not None


def test_defaults_fill_what_a_template_leaves_unset_and_never_contradict_it() -> None:
    bind = {"capabilities": {"add": ["NET_BIND_SERVICE"]}}
    pod = {"securityContext": {"runAsUser": 1000},
           "containers": [{"name": "a"}, {"name": "b", "securityContext": bind}],
           "initContainers": [{"name": "i", "securityContext": {"privileged": True}}]}
    restricted_defaults(pod)
    assert pod["securityContext"] == {"runAsUser": 1000, "runAsNonRoot": True,
                                      "seccompProfile": {"type": "RuntimeDefault"}}
    assert pod["containers"][0]["securityContext"] == {"capabilities": {"drop": ["ALL"]},
                                                       "allowPrivilegeEscalation": False}
    assert pod["containers"][1]["securityContext"]["capabilities"] == {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}
    assert "allowPrivilegeEscalation" not in pod["initContainers"][0]["securityContext"]  # privileged (exempt)
    root = {"containers": [{"name": "a", "securityContext": {"runAsUser": 0}}]}
    restricted_defaults(root)
    assert "runAsNonRoot" not in root["securityContext"]


def test_a_partial_security_context_still_gets_the_profile_in_the_deployment() -> None:
    """A template that sets only runAsUser used to get no runAsNonRoot or seccomp at all."""
    topic = case_topic({"client_pod": {"securityContext": {"runAsUser": 1000}}})
    spec = parse_spec(topic, RULES)[0]
    assert spec is not None
    dep = children.client_deployment(Inputs(topic, spec, "img", "aa" * 32, "bb" * 32), spec.clients[0], 1)
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["containers"][0]["securityContext"] == {"capabilities": {"drop": ["ALL"]},
                                                      "allowPrivilegeEscalation": False}
