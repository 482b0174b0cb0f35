"""The Helm chart, checked with the real helm (lint --strict) and kubernetes-validate (1.35, strict)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from packaging_support import CHART, HERE, REPO, render, run, tool

K8S = "1.35.0"
ALL = HERE / "all-features-values.yaml"
# Prometheus Operator kinds have no schema in kubernetes-validate: checked structurally below.
MONITORING_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}


@pytest.mark.parametrize("values", [None, ALL], ids=["defaults", "all-features"])
def test_helm_lint_strict(values: Path | None) -> None:
    args = [tool("helm"), "lint", "--strict", str(CHART)]
    if values:
        args += ["-f", str(values)]
    out = run(*args).stdout
    assert "0 chart(s) failed" in out


@pytest.mark.parametrize("values", [None, ALL], ids=["defaults", "all-features"])
def test_rendered_manifests_are_valid_kubernetes_1_35(values: Path | None) -> None:
    docs = render(*([values] if values else []))
    kinds = [d["kind"] for d in docs]
    for doc in docs:
        if doc["kind"] in MONITORING_KINDS:
            continue
        kubernetes_validate.validate(doc, K8S, strict=True)
    if values:
        assert MONITORING_KINDS <= set(kinds), kinds
    else:
        assert not MONITORING_KINDS & set(kinds), "monitoring objects must be off by default"


def test_schema_rejects_unknown_and_bad_values() -> None:
    bad = run(tool("helm"), "template", "x", str(CHART), "--set", "reconcileIntervall=3", check=False)
    assert bad.returncode != 0 and "reconcileIntervall" in bad.stderr
    bad = run(tool("helm"), "template", "x", str(CHART), "--set", "watchNamespaces[0]=Not_A_Namespace", check=False)
    assert bad.returncode != 0


def test_values_are_all_documented() -> None:
    """Every key of values.yaml has a `# --` comment right above it (helm-docs style)."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        above = i - 1
        while above >= 0 and lines[above].strip().startswith("#") and not lines[above].strip().startswith("# --"):
            above -= 1  # continuation lines of a multi-line comment
        assert above >= 0 and lines[above].strip().startswith("# --"), f"values.yaml:{i + 1} undocumented: {line}"


def _crd(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == "CustomResourceDefinition")


def test_the_chart_crd_is_the_generated_one_kept_on_uninstall() -> None:
    generated = yaml.safe_load((REPO / "crds" / "swarmtopics.swarm-operator.dev.yaml").read_text())
    copy = CHART / "files" / "crds" / "swarmtopics.swarm-operator.dev.yaml"
    assert copy.read_text() == (REPO / "crds" / "swarmtopics.swarm-operator.dev.yaml").read_text(), "run `make crd`"
    crd = _crd(render())
    assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert crd["spec"] == generated["spec"]
    assert not [d for d in render(sets=("crds.create=false",)) if d["kind"] == "CustomResourceDefinition"]


def _rules(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{d['kind']}/{d['metadata']['name']}", r) for d in docs if d["kind"] in ("ClusterRole", "Role")
            for r in d.get("rules", [])]


@pytest.mark.parametrize("values", [None, ALL], ids=["cluster-wide", "namespaced"])
def test_rbac_is_least_privilege(values: Path | None) -> None:
    docs = render(*([values] if values else []))
    for where, rule in _rules(docs):
        assert "*" not in rule["verbs"] and "*" not in rule["resources"], where
        assert "*" not in rule.get("apiGroups", []), where
        if "secrets" in rule["resources"]:
            assert set(rule["verbs"]) <= {"create", "delete"}, f"{where} may read Secrets: {rule['verbs']}"
    granted = {(res, verb) for _, r in _rules(docs) for res in r["resources"] for verb in r["verbs"]}
    assert ("swarmtopics/status", "patch") in granted and ("swarmtopics", "patch") not in granted
    assert ("deployments", "delete") in granted and ("statefulsets", "delete") not in granted


def test_watch_namespaces_gives_roles_not_cluster_wide_access() -> None:
    docs = render(ALL)
    roles = [d for d in docs if d["kind"] == "Role"]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["apps", "chat"]
    cluster_roles = [d for d in docs if d["kind"] == "ClusterRole"]
    assert len(cluster_roles) == 1
    assert {res for r in cluster_roles[0]["rules"] for res in r["resources"]} == {"customresourcedefinitions",
                                                                                   "namespaces"}
    args = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=apps" in args and "--namespace=chat" in args and "--all-namespaces" not in args


def test_operator_deployment_defaults() -> None:
    deployment = next(d for d in render() if d["kind"] == "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = pod["containers"][0]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert "--peer-image=ghcr.io/swarm-operator/swarm-peer:0.1.0" in container["args"]
    for doc in render():
        labels = doc["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/name") == "swarm-operator", doc["kind"]
        assert labels.get("app.kubernetes.io/managed-by") == "Helm", doc["kind"]


def test_monitoring_objects_are_well_formed() -> None:
    docs = {d["kind"]: d for d in render(ALL)}
    assert docs["ServiceMonitor"]["apiVersion"] == "monitoring.coreos.com/v1"
    assert docs["ServiceMonitor"]["spec"]["endpoints"][0]["port"] == "metrics"
    assert docs["ServiceMonitor"]["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert docs["PodMonitor"]["spec"]["podMetricsEndpoints"][0]["port"] == "status"
    assert docs["PodMonitor"]["spec"]["namespaceSelector"] == {"matchNames": ["apps", "chat"]}
    rule_file = yaml.safe_load((CHART / "files" / "alerts.yaml").read_text())
    assert docs["PrometheusRule"]["spec"] == rule_file
    dashboard = next(d for d in render(ALL) if d["kind"] == "ConfigMap")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["namespace"] == "monitoring"
    parsed = json.loads(dashboard["data"]["swarm-operator.json"])
    assert parsed["uid"] == "swarm-operator"
