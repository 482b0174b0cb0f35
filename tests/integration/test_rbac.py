"""RBAC is enforced: the operator run as a ServiceAccount whose role lacks one verb the operator
needs (the chart's own rules minus `create` on StatefulSets) cannot make the host, and says so on
the topic instead of failing silently. (A separate identity, so the audit check of the chart's own
ServiceAccount, e2e/test_rbac_audit.py, stays clean.)"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from integration_support import Api, Operator, example_topic, wait_for
from localcluster.controlplane import ControlPlane
from localcluster.testing import OPERATOR_NAMESPACE, kubectl

LIMITED = "swarm-operator-limited"


def _without_statefulset_create(rules: list[dict]) -> list[dict]:
    trimmed = copy.deepcopy(rules)
    for rule in trimmed:
        if "statefulsets" in rule.get("resources", []):
            rule["verbs"] = [v for v in rule["verbs"] if v != "create"]
    return trimmed


@pytest.fixture
def limited_kubeconfig(api_server: ControlPlane, tmp_path: Path) -> Iterator[Path]:
    admin = api_server.kubeconfig
    role = json.loads(kubectl(admin, "get", "clusterrole", "swarm-operator", "-o", "json"))
    subject = [{"kind": "ServiceAccount", "name": LIMITED, "namespace": OPERATOR_NAMESPACE}]
    objects = [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": LIMITED, "namespace": OPERATOR_NAMESPACE}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": LIMITED},
         "rules": _without_statefulset_create(role["rules"])},
    ]
    objects.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                    "metadata": {"name": LIMITED}, "subjects": subject,
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": LIMITED}})
    objects.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",  # the leader Lease
                    "metadata": {"name": LIMITED, "namespace": OPERATOR_NAMESPACE}, "subjects": subject,
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                "name": "swarm-operator-leader"}})
    manifest = yaml.safe_dump_all(objects)
    kubectl(admin, "apply", "-f", "-", input=manifest)
    token = kubectl(admin, "create", "token", LIMITED, "-n", OPERATOR_NAMESPACE, "--duration=1h").strip()
    config = yaml.safe_load((api_server.state / "operator.kubeconfig").read_text()) \
        if (api_server.state / "operator.kubeconfig").exists() else None
    assert config is not None, "the operator kubeconfig fixture runs first"
    config["users"][0]["user"] = {"token": token}
    path = tmp_path / "limited.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    yield path
    kubectl(admin, "delete", "-f", "-", "--ignore-not-found", input=manifest)


def test_a_verb_missing_from_the_role_becomes_a_condition(
        api: Api, operator_kubeconfig_path: Path, limited_kubeconfig: Path, tmp_path: Path) -> None:
    op = Operator(str(limited_kubeconfig), tmp_path / "limited-operator.log", identity="limited")
    op.start()
    try:
        api.create(api.topic_path("apps"), example_topic("chat"))

        def rejected() -> dict | None:
            for cond in (api.topic("apps", "chat").get("status") or {}).get("conditions", []):
                if cond["type"] == "Ready" and cond["status"] == "False" and "forbidden" in cond["message"]:
                    return cond
            return None
        cond = wait_for("Ready=False naming the forbidden write", rejected, 30)
        assert "statefulsets" in cond["message"], cond
        assert api.get("/apis/apps/v1/namespaces/apps/statefulsets/chat-host") is None
    finally:
        op.stop()
