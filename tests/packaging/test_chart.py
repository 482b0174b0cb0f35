"""The Helm chart, checked with the real helm (lint --strict, template) and kubernetes-validate
(Kubernetes 1.35, strict). The Prometheus Operator kinds have no schema here (their CRDs are not
available from a package registry, and upstream files are not copied into this repository):
their structure is checked field by field."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from packaging_support import ALERTS, CHART, DASHBOARD, HERE, REPO, render, run, tool
from swarm_operator import __version__, names
from swarm_operator.config import Config

K8S = "1.35.0"
ALL = HERE / "all-features-values.yaml"
GENERATED_CRD = REPO / "crds" / "swarmtopics.swarm-operator.dev.yaml"
CHART_CRD = CHART / "files" / "crds" / "swarmtopics.swarm-operator.dev.yaml"
MONITORING_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}

# The chart's value sets: defaults; every gate on with watchNamespaces (namespaced RBAC); every gate
# on cluster-wide. Each is (values files, --set-json items).
MODES: dict[str, tuple[tuple[Path, ...], tuple[str, ...]]] = {
    "defaults": ((), ()),
    "all-features-namespaced": ((ALL,), ()),
    "all-features-cluster-wide": ((ALL,), ("watchNamespaces=[]",)),
}


def render_mode(mode: str) -> list[dict[str, Any]]:
    files, set_json = MODES[mode]
    return render(*files, set_json=set_json)


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


@pytest.mark.parametrize("mode", MODES)
def test_helm_lint_strict(mode: str) -> None:
    files, set_json = MODES[mode]
    args = [tool("helm"), "lint", "--strict", str(CHART)]
    for file in files:
        args += ["-f", str(file)]
    for item in set_json:
        args += ["--set-json", item]
    out = run(*args).stdout
    assert "1 chart(s) linted, 0 chart(s) failed" in out, out


@pytest.mark.parametrize("mode", MODES)
def test_rendered_manifests_are_valid(mode: str) -> None:
    """Built-in kinds against Kubernetes 1.35's schemas (unknown fields rejected); the Prometheus
    Operator kinds by structure (monitoring_problems)."""
    docs = render_mode(mode)
    kinds = [d["kind"] for d in docs]
    for doc in docs:
        if doc["kind"] in MONITORING_KINDS:
            assert not monitoring_problems(doc), f"{doc['kind']}: {monitoring_problems(doc)}"
        else:
            kubernetes_validate.validate(doc, K8S, strict=True)
    if mode == "defaults":
        assert not MONITORING_KINDS & set(kinds), "monitoring objects must be off by default"
    else:
        assert MONITORING_KINDS <= set(kinds), kinds


MONITORING_FIELDS = {
    "ServiceMonitor": {"selector", "namespaceSelector", "endpoints"},
    "PodMonitor": {"selector", "namespaceSelector", "podMetricsEndpoints"},
    "PrometheusRule": {"groups"},
}
# Fields of the Prometheus Operator's Endpoint / PodMetricsEndpoint (monitoring.coreos.com/v1).
ENDPOINT_FIELDS = {"port", "path", "interval", "honorLabels", "relabelings"}
RELABEL_FIELDS = {"sourceLabels", "targetLabel", "separator", "regex", "replacement", "action", "modulus"}
RULE_FIELDS = {"alert", "expr", "for", "labels", "annotations"}


def monitoring_problems(doc: dict[str, Any]) -> list[str]:
    """What the Prometheus Operator would reject or ignore: wrong group, unknown spec fields."""
    problems = []
    if doc["apiVersion"] != "monitoring.coreos.com/v1":
        problems.append(f"apiVersion {doc['apiVersion']}")
    spec = doc.get("spec") or {}
    if unknown := set(spec) - MONITORING_FIELDS[doc["kind"]]:
        problems.append(f"unknown spec fields {unknown}")
    for endpoint in spec.get("endpoints", []) + spec.get("podMetricsEndpoints", []):
        if unknown := set(endpoint) - ENDPOINT_FIELDS:
            problems.append(f"unknown endpoint fields {unknown}")
        if not isinstance(endpoint.get("port"), str):
            problems.append("an endpoint needs a named port")
        for relabel in endpoint.get("relabelings", []):
            if unknown := set(relabel) - RELABEL_FIELDS:
                problems.append(f"unknown relabeling fields {unknown}")
    for group in spec.get("groups", []):
        for rule in group.get("rules", []):
            if unknown := set(rule) - RULE_FIELDS:
                problems.append(f"unknown rule fields {unknown}")
            if "for" in rule and not isinstance(rule["for"], str):
                problems.append(f"rule {rule.get('alert')}: `for` must be a duration string")
    if doc["kind"] != "PrometheusRule" and not (spec.get("selector") or {}).get("matchLabels") \
            and not (spec.get("selector") or {}).get("matchExpressions"):
        problems.append("an empty selector")
    return problems


def test_monitoring_check_is_not_vacuous() -> None:
    monitor = by_kind(render(ALL), "ServiceMonitor")[0]
    bad = copy.deepcopy(monitor)
    bad["spec"]["endpoints"][0]["portt"] = "metrics"
    assert any("portt" in p for p in monitoring_problems(bad))
    rule = by_kind(render(ALL), "PrometheusRule")[0]
    bad = copy.deepcopy(rule)
    bad["spec"]["groups"][0]["rules"][0]["for"] = 5
    assert monitoring_problems(bad)


def test_schema_rejects_unknown_and_bad_values() -> None:
    def template(item: str) -> subprocess.CompletedProcess[str]:
        return run(tool("helm"), "template", "x", str(CHART), "--set", item, check=False)

    # Two operators without leader election would both reconcile: refused. One is fine.
    bad = run(tool("helm"), "template", "x", str(CHART), "--set", "leaderElection.enabled=false", check=False)
    assert bad.returncode != 0 and "leaderElection" in bad.stderr
    single = yaml.safe_load_all(run(tool("helm"), "template", "x", str(CHART), "--set", "leaderElection.enabled=false",
                                    "--set", "replicaCount=1").stdout)
    [deployment] = [d for d in single if d and d["kind"] == "Deployment"]
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert "--no-leader-election" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]

    bad = template("reconcileIntervall=3")
    assert bad.returncode != 0 and "reconcileIntervall" in bad.stderr
    assert template("watchNamespaces[0]=Not_A_Namespace").returncode != 0
    bad = template("monitoring.podMonitor.enabeld=true")
    assert bad.returncode != 0 and "enabeld" in bad.stderr
    assert template("image.pullPolicy=Sometimes").returncode != 0
    # The ServiceMonitor selects the metrics Service: one without the other is refused.
    bad = run(tool("helm"), "template", "x", str(CHART), "--set", "monitoring.serviceMonitor.enabled=true",
              "--set", "metrics.service.enabled=false", check=False)
    assert bad.returncode != 0 and "metrics.service.enabled" in bad.stderr
    # The admission policy needs Kubernetes 1.30+: older clusters get a message, not a broken install.
    old = run(tool("helm"), "template", "x", str(CHART), "--kube-version", "1.29.0", check=False)
    assert old.returncode != 0 and "admissionPolicy.enabled=false" in old.stderr
    run(tool("helm"), "template", "x", str(CHART), "--kube-version", "1.29.0", "--set", "admissionPolicy.enabled=false")


def test_values_are_all_documented() -> None:
    """Every key of values.yaml has a `# --` comment right above it (helm-docs style)."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        above = i - 1
        comment = lines[above].strip() if above >= 0 else ""
        while above >= 0 and comment.startswith("#") and not comment.startswith("# --"):
            above -= 1  # continuation lines of a multi-line comment
            comment = lines[above].strip() if above >= 0 else ""
        documented = above >= 0 and lines[above].strip().startswith("# --")
        assert documented, f"values.yaml:{i + 1} undocumented: {line}"


def test_the_chart_readme_is_generated_from_the_values() -> None:
    import subprocess
    import sys

    check = subprocess.run([sys.executable, str(REPO / "scripts" / "chart_readme.py"), "--check"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    readme = (CHART / "README.md").read_text()
    assert "| `leaderElection.enabled` | `true` |" in readme and "| `reconcileInterval` | `300` |" in readme


def test_the_chart_crd_is_the_generated_one_kept_on_uninstall() -> None:
    assert CHART_CRD.read_text() == GENERATED_CRD.read_text(), (
        "charts/swarm-operator/files/crds/ is stale: run `make crd`")
    generated = yaml.safe_load(GENERATED_CRD.read_text())
    docs = render()
    chart_labels = by_kind(docs, "Deployment")[0]["metadata"]["labels"]
    # The rendered CRD is the generated one plus the keep annotation and the chart's labels.
    expected = copy.deepcopy(generated)
    meta = expected["metadata"]
    meta["annotations"] = {**meta.get("annotations", {}), "helm.sh/resource-policy": "keep"}
    meta["labels"] = {**chart_labels, **meta.get("labels", {})}
    assert by_kind(docs, "CustomResourceDefinition") == [expected]
    assert not by_kind(render(sets=("crds.create=false",)), "CustomResourceDefinition")


AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"


def user_role(doc: dict[str, Any]) -> bool:
    """A ClusterRole aggregated into the built-in admin/edit/view (for namespace users, not the operator)."""
    return any(label.startswith(AGGREGATE) for label in (doc["metadata"].get("labels") or {}))


def _rules(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The operator's own rules (the aggregated user roles are checked by test_user_roles_*)."""
    return [(f"{d['kind']}/{d['metadata']['name']}", r) for d in docs if d["kind"] in ("ClusterRole", "Role")
            and not user_role(d) for r in d.get("rules", [])]


@pytest.mark.parametrize("mode", MODES)
def test_rbac_is_least_privilege(mode: str) -> None:
    docs = render_mode(mode)
    for where, rule in _rules(docs):
        assert "*" not in rule["verbs"] and "*" not in rule["resources"], where
        assert "*" not in rule.get("apiGroups", []), where
        assert not rule.get("resourceNames") and not rule.get("nonResourceURLs"), where
        if "secrets" in rule["resources"]:
            # Read, listed and watched as metadata only (owned.py); never updated wholesale.
            assert set(rule["verbs"]) <= {"get", "list", "watch", "create", "patch", "delete"}, where
    granted = {(group, res, verb) for _, r in _rules(docs) for group in r["apiGroups"]
               for res in r["resources"] for verb in r["verbs"]}
    for needed in [("swarm-operator.dev", "swarmtopics", "watch"),
                   ("swarm-operator.dev", "swarmtopics/status", "patch"),
                   ("", "secrets", "create"), ("", "secrets", "delete"), ("apps", "statefulsets", "watch"),
                   ("apps", "deployments", "delete"), ("", "pods", "watch"), ("", "events", "create"),
                   ("", "persistentvolumeclaims", "watch"), ("coordination.k8s.io", "leases", "update")]:
        assert needed in granted, needed
    # kopf's scanning is off: neither CRDs nor namespaces are listed or watched (issue 23).
    assert not {(g, r) for g, r, _ in granted if r in ("customresourcedefinitions", "namespaces")}
    # The operator writes status only through /status and never updates its own spec.
    assert not {(g, r, v) for g, r, v in granted if r == "swarmtopics" and v not in ("get", "list", "watch")}
    # Every binding points at a role of this chart and at the chart's ServiceAccount.
    roles = {(d["kind"], d["metadata"]["name"], d["metadata"].get("namespace")) for d in docs
             if d["kind"] in ("ClusterRole", "Role") and not user_role(d)}
    for binding in by_kind(docs, "ClusterRoleBinding") + by_kind(docs, "RoleBinding"):
        ref = binding["roleRef"]
        namespace = binding["metadata"].get("namespace") if ref["kind"] == "Role" else None
        assert (ref["kind"], ref["name"], namespace) in roles, binding["metadata"]["name"]
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "swarm-swarm-operator",
                                        "namespace": "swarm-operator"}]


def test_watch_namespaces_gives_roles_not_cluster_wide_access() -> None:
    docs = render(ALL)
    roles = [r for r in by_kind(docs, "Role") if not r["metadata"]["name"].endswith("-leader")]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["apps", "chat"]
    bindings = [b for b in by_kind(docs, "RoleBinding") if not b["metadata"]["name"].endswith("-leader")]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["apps", "chat"]
    # The leader Lease's Role is in the release's own namespace only.
    [leader] = [r for r in by_kind(docs, "Role") if r["metadata"]["name"].endswith("-leader")]
    assert leader["metadata"]["namespace"] == "swarm-operator"
    assert {res for r in leader["rules"] for res in r["resources"]} == {"leases"}
    # Nothing cluster-wide for the operator (the chart's roles for namespace users aside): kopf's
    # CRD and namespace scanning is off (issue 23).
    assert [r for r in by_kind(docs, "ClusterRole") if not user_role(r)] == []
    assert by_kind(docs, "ClusterRoleBinding") == []
    container = by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    assert "--namespace=apps" in args and "--namespace=chat" in args and "--all-namespaces" not in args
    cluster_wide = by_kind(render(), "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--all-namespaces" in cluster_wide and not [a for a in cluster_wide if a.startswith("--namespace")]


def test_operator_deployment_defaults() -> None:
    docs = render()
    spec = by_kind(docs, "Deployment")[0]["spec"]
    # A leader and a standby (leader election), rolled one at a time, kept apart on nodes.
    assert spec["replicas"] == 2
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    pod = spec["template"]["spec"]
    spread = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert spread["podAffinityTerm"]["labelSelector"]["matchLabels"].items() <= \
        spec["template"]["metadata"]["labels"].items()
    [budget] = by_kind(docs, "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1
    assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                                      "fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}}
    (container,) = pod["containers"]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}}
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert container["image"] == f"ghcr.io/swarm-operator/swarm-operator:{__version__}"
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "liveness"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 9090, "liveness": 8081}
    assert container["args"][0] == "run"
    for arg in (f"--peer-image=ghcr.io/swarm-operator/swarm-peer:{__version__}", "--metrics-port=9090",
                "--liveness-port=8081", "--reconcile-interval=300", "--all-namespaces",
                # the Config's defaults (api/throttle.py's rate limit, the topics reconciled at once)
                f"--api-qps={Config.api_qps:g}", f"--api-burst={Config.api_burst}", f"--workers={Config.workers}"):
        assert arg in container["args"], arg
    assert "--no-leader-election" not in container["args"] and "--backup-check" not in container["args"]
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]}
    assert env == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
    service = by_kind(docs, "Service")[0]
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert service["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()
    for doc in docs:
        labels = doc["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/name") == "swarm-operator", doc["kind"]
        assert labels.get("app.kubernetes.io/instance") == "swarm", doc["kind"]
        assert labels.get("app.kubernetes.io/managed-by") == "Helm", doc["kind"]
        assert labels.get("helm.sh/chart") == f"swarm-operator-{__version__}", doc["kind"]


def test_the_backup_check_is_an_operator_flag() -> None:
    (deployment,) = by_kind(render(ALL), "Deployment")
    assert "--backup-check" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]


def test_monitoring_objects() -> None:
    docs = {d["kind"]: d for d in render(ALL)}
    service_monitor = docs["ServiceMonitor"]["spec"]
    # honorLabels: the per-topic series keep the topic's `namespace` (the dashboard filters on it).
    assert service_monitor["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s",
                                             "honorLabels": True}]
    assert docs["ServiceMonitor"]["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    # It selects the metrics Service, in the release namespace.
    assert service_monitor["selector"]["matchLabels"].items() <= docs["Service"]["metadata"]["labels"].items()
    assert service_monitor["namespaceSelector"] == {"matchNames": ["swarm-operator"]}
    pod_monitor = docs["PodMonitor"]["spec"]
    assert pod_monitor["selector"] == {"matchLabels": {"app.kubernetes.io/name": "swarm-peer"}}
    assert pod_monitor["podMetricsEndpoints"][0]["port"] == "status"
    # The dashboard's `topic` comes from the label the operator puts on every pod it makes.
    meta_label = "__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", names.LABEL_TOPIC)
    assert pod_monitor["podMetricsEndpoints"][0]["relabelings"] == [
        {"sourceLabels": [meta_label], "targetLabel": "topic"}]
    assert pod_monitor["namespaceSelector"] == {"matchNames": ["apps", "chat"]}
    cluster_wide = {d["kind"]: d for d in render(ALL, set_json=("watchNamespaces=[]",))}
    assert cluster_wide["PodMonitor"]["spec"]["namespaceSelector"] == {"any": True}
    # One source: the PrometheusRule's spec is files/alerts.yaml, verbatim.
    assert docs["PrometheusRule"]["spec"] == yaml.safe_load(ALERTS.read_text())
    dashboard = docs["ConfigMap"]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["annotations"]["grafana_folder"] == "swarm-operator"
    assert dashboard["metadata"]["namespace"] == "monitoring"
    assert json.loads(dashboard["data"]["swarm-operator.json"]) == json.loads(DASHBOARD.read_text())


def test_notes_tell_how_to_start() -> None:
    out = run(tool("helm"), "install", "swarm", str(CHART), "--dry-run=client", "--namespace", "ops").stdout
    notes = out.split("NOTES:", 1)[1]
    assert "kubectl apply -f" in notes and "examples/topic.yaml" in notes
    assert "kubectl get swarmtopics" in notes and "watches every namespace" in notes
    # Every URL is pinned to this release's git tag (the examples of the version installed).
    urls = re.findall(r"https?://\S+", notes)
    assert urls and all(f"/v{__version__}/" in url for url in urls), urls
    assert not [u for u in urls if re.search(r"/(main|master|HEAD|latest)/", u)], urls


def test_user_roles_aggregate_into_the_built_in_roles_without_status_writes() -> None:
    """admin and edit get every verb on SwarmTopics, view reads them; nobody gets a write on
    /status (the operator's record of the base key the clients trust). The real API server's
    answers (kubectl auth can-i) are in tests/integration/test_user_roles.py."""
    for mode in MODES:
        roles = {r["metadata"]["name"]: r for r in by_kind(render_mode(mode), "ClusterRole") if user_role(r)}
        assert set(roles) == {"swarm-swarm-operator-edit", "swarm-swarm-operator-view"}, mode
        edit, view = roles["swarm-swarm-operator-edit"], roles["swarm-swarm-operator-view"]
        assert {k for k, v in edit["metadata"]["labels"].items() if k.startswith(AGGREGATE) and v == "true"} == \
            {AGGREGATE + "admin", AGGREGATE + "edit"}
        assert {k for k in view["metadata"]["labels"] if k.startswith(AGGREGATE)} == {AGGREGATE + "view"}
        granted = {(role, res, verb) for role, doc in (("edit", edit), ("view", view)) for r in doc["rules"]
                   for res in r["resources"] for verb in r["verbs"]}
        assert {v for role, res, v in granted if role == "edit" and res == "swarmtopics"} == \
            {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
        assert {(res, v) for role, res, v in granted if role == "view"} == \
            {(res, v) for res in ("swarmtopics", "swarmtopics/status") for v in ("get", "list", "watch")}
        assert not [g for g in granted if g[1] != "swarmtopics" and g[2] not in ("get", "list", "watch")]
        assert {g for r in edit["rules"] + view["rules"] for g in r["apiGroups"]} == {"swarm-operator.dev"}
    assert not [r for r in by_kind(render(sets=("rbac.aggregateToDefaultRoles=false",)), "ClusterRole")
                if user_role(r)]


OPERATOR_DIGEST = "sha256:" + "1f" * 32
PEER_DIGEST = "sha256:" + "2e" * 32


def test_images_pin_by_digest() -> None:
    """image.digest / peerImage.digest pin the operator's image and the one it gives bootstrap hosts."""
    container = by_kind(render(sets=(f"image.digest={OPERATOR_DIGEST}", f"peerImage.digest={PEER_DIGEST}")),
                        "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"ghcr.io/swarm-operator/swarm-operator:{__version__}@{OPERATOR_DIGEST}"
    assert f"--peer-image=ghcr.io/swarm-operator/swarm-peer:{__version__}@{PEER_DIGEST}" in container["args"]
    unpinned = by_kind(render(), "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
    assert "@" not in unpinned["image"] and not [a for a in unpinned["args"] if "@sha256" in a]
    for bad in ("image.digest=sha256:abc", "peerImage.digest=md5:" + "0" * 32, "image.digest=" + "1f" * 32):
        refused = run(tool("helm"), "template", "x", str(CHART), "--set", bad, check=False)
        assert refused.returncode != 0 and "digest" in refused.stderr, bad


def test_network_policy_admits_only_the_operator_ports() -> None:
    docs = render()
    [policy] = by_kind(docs, "NetworkPolicy")
    pod = by_kind(docs, "Deployment")[0]["spec"]["template"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    named = {p["name"] for p in pod["spec"]["containers"][0]["ports"]}
    opened = [p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]]
    assert sorted(opened) == sorted(named) == ["liveness", "metrics"]
    assert not [rule for rule in policy["spec"]["ingress"] if "from" in rule]  # default: scraped from anywhere
    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    [scoped] = by_kind(render(set_json=(f"networkPolicy.metricsFrom=[{json.dumps(monitoring)}]",)), "NetworkPolicy")
    metrics_rule = next(r for r in scoped["spec"]["ingress"] if r["ports"][0]["port"] == "metrics")
    assert metrics_rule["from"] == [monitoring]
    assert not by_kind(render(sets=("networkPolicy.enabled=false",)), "NetworkPolicy")


def _operator_network(docs: list[dict[str, Any]]) -> Any:
    """The topics' NetworkPolicy side of the operator these values install, read by the operator's own
    command line from its container's arguments."""
    from swarm_operator.cli import build_parser, config_of

    [deployment] = [d for d in docs if d["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return deployment, config_of(build_parser().parse_args(container["args"])).topic_network


def test_the_topics_network_policy_is_on_and_lets_the_operator_pods_in() -> None:
    """The chart's default: each topic gets a NetworkPolicy whose status-port rule selects exactly the
    operator pods this release runs (their namespace and the Deployment's selector labels)."""
    deployment, network = _operator_network(render())
    assert network.enabled and network.operator_namespace == "swarm-operator"
    assert dict(network.operator_labels) == deployment["spec"]["selector"]["matchLabels"]
    assert dict(network.operator_labels).items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert network.peers("status_from") == []
    assert network.peers("dht_peers") == [{"namespaceSelector": {}, "podSelector": {
        "matchLabels": {"app.kubernetes.io/component": "dht-bootstrap"}}}]
    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    _, off = _operator_network(render(sets=["topicNetworkPolicy.enabled=false"], set_json=[
        f"topicNetworkPolicy.statusFrom={json.dumps([monitoring])}", "topicNetworkPolicy.dhtPeers=[]"]))
    assert not off.enabled and off.peers("status_from") == [monitoring] and off.peers("dht_peers") == []
    bad = run(tool("helm"), "template", "x", str(CHART), "--set-json", 'topicNetworkPolicy.statusFrom=[{"pods": {}}]',
              check=False)
    assert bad.returncode != 0 and "statusFrom" in bad.stderr
