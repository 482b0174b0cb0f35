"""The chart as a real helm release on a real API server: `helm install` happened when the
session's cluster started (the CRD, the ServiceAccount and its RBAC come from it); here `helm
upgrade` changes the CRD the release carries and the API server serves the change, then the
original chart is restored."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from integration_support import Api, example_topic
from localcluster.controlplane import ControlPlane
from localcluster.testing import CHART, OPERATOR_NAMESPACE, RELEASE, helm, kubectl

CRD_NAME = "swarmtopics.swarm-operator.dev"


def served_columns(plane: ControlPlane) -> list[str]:
    crd = json.loads(kubectl(plane.kubeconfig, "get", "crd", CRD_NAME, "-o", "json"))
    return [c["name"] for c in crd["spec"]["versions"][0].get("additionalPrinterColumns", [])]


def test_helm_upgrade_changes_the_crd_on_the_server(api_server: ControlPlane, api: Api, tmp_path: Path) -> None:
    release = json.loads(helm(api_server, "list", "-n", OPERATOR_NAMESPACE, "-o", "json"))
    assert [r["name"] for r in release] == [RELEASE] and release[0]["status"] == "deployed"
    before = served_columns(api_server)
    assert "Topic" not in before

    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    crd_file = chart / "files" / "crds" / f"{CRD_NAME}.yaml"
    crd = yaml.safe_load(crd_file.read_text())
    crd["spec"]["versions"][0]["additionalPrinterColumns"].append(
        {"name": "Topic", "type": "string", "jsonPath": ".spec.topic", "priority": 1})
    crd_file.write_text(yaml.safe_dump(crd, sort_keys=False))
    try:
        helm(api_server, "upgrade", RELEASE, str(chart), "-n", OPERATOR_NAMESPACE, "--reuse-values", "--wait")
        assert served_columns(api_server) == [*before, "Topic"]
        api.create(api.topic_path("apps"), example_topic("chat"))
        table = kubectl(api_server.kubeconfig, "get", "swarmtopics", "-n", "apps", "-o", "wide")
        assert table.splitlines()[0].split()[-1] == "TOPIC" and table.splitlines()[1].split()[-1] == "chat"
    finally:
        helm(api_server, "upgrade", RELEASE, str(CHART), "-n", OPERATOR_NAMESPACE, "--reuse-values", "--wait")
    assert served_columns(api_server) == before
