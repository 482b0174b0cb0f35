"""API versions on the real API server: v1beta1 stored, v1alpha1 still served (deprecated, with a
warning), the None conversion both ways and in lists, the operator on the storage version only, and
the stored-version migration path of docs/operations.md run step by step against etcd."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from integration_support import Api, Operator, example_topic, wait_for
from localcluster.controlplane import ControlPlane, audit_events
from localcluster.testing import OPERATOR_USER, kubectl
from swarm_operator import crd, names

NS = "apps"
REPO = Path(__file__).resolve().parents[2]
# Release 0.1.0, the last serving v1alpha1 only: its commit (tagged v0.1.0 where it was made; a clone
# may lack the tag, never the commit, an ancestor of every later one).
RELEASE_0_1_0 = "8f4c199be1126837ebbd42d64d836bfdf4f5f1f8"
WARNING = "swarm-operator.dev/v1alpha1 SwarmTopic is deprecated; use swarm-operator.dev/v1beta1"


def released(tmp: Path) -> Path:
    """Release 0.1.0's chart, from its commit (its CRD serves and stores v1alpha1 alone)."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", RELEASE_0_1_0, "charts/swarm-operator", "operator"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
    return tmp / "charts" / "swarm-operator"


def old_crd(tmp: Path) -> str:
    return (released(tmp) / "files" / "crds" / f"{names.CRD_NAME}.yaml").read_text()


def released_topic(name: str) -> dict[str, Any]:
    """A v1alpha1 topic as release 0.1.0's CRD takes it (no field added since: `bootstrapHost.replicas`)."""
    topic = as_version(example_topic(name), "v1alpha1")
    del topic["spec"]["bootstrapHost"]["replicas"]
    return topic


def path(version: str, name: str = "", ns: str = NS) -> str:
    return f"/apis/{names.GROUP}/{version}/namespaces/{ns}/swarmtopics" + (f"/{name}" if name else "")


def as_version(topic: dict[str, Any], version: str) -> dict[str, Any]:
    return {**topic, "apiVersion": f"{names.GROUP}/{version}"}


def stored(plane: ControlPlane, ns: str, name: str) -> dict[str, Any]:
    """The object as etcd holds it (read through etcd's JSON gateway): the version it is stored at."""
    key = f"/registry/{names.GROUP}/{names.PLURAL}/{ns}/{name}".encode()
    req = urllib.request.Request(f"http://127.0.0.1:{plane.ports.etcd_client}/v3/kv/range",
                                 data=json.dumps({"key": base64.b64encode(key).decode()}).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=5) as rsp:
        kvs = json.loads(rsp.read()).get("kvs") or []
    assert kvs, f"no etcd key {key!r}"
    return json.loads(base64.b64decode(kvs[0]["value"]))


def test_the_server_serves_both_versions_of_the_repository_crd(api_server: ControlPlane) -> None:
    served = json.loads(kubectl(api_server.kubeconfig, "get", "crd", names.CRD_NAME, "-o", "json"))
    local = yaml.safe_load(crd.CRD_FILE.read_text())
    assert [(v["name"], v["served"], v["storage"]) for v in served["spec"]["versions"]] == \
        [("v1beta1", True, True), ("v1alpha1", True, False)]
    for mine, theirs in zip(local["spec"]["versions"], served["spec"]["versions"], strict=True):
        assert theirs["schema"] == mine["schema"] and theirs.get("deprecationWarning") == mine.get("deprecationWarning")
    assert served["spec"]["conversion"]["strategy"] == "None"


def test_objects_written_as_one_version_read_back_as_the_other(api: Api, api_server: ControlPlane) -> None:
    old = api.create(path("v1alpha1"), as_version(example_topic("old"), "v1alpha1"))
    new = api.create(path("v1beta1"), as_version(example_topic("new"), "v1beta1"))
    assert old is not None and new is not None
    api.merge(path("v1alpha1", "new") + "/status", {"status": {"phase": "Pending", "baseKeyShort": "abc"}})
    as_beta = api.get(path("v1beta1", "old"))
    as_alpha = api.get(path("v1alpha1", "new"))
    assert as_beta is not None and as_alpha is not None
    assert as_beta["apiVersion"] == f"{names.GROUP}/v1beta1" and as_beta["spec"] == old["spec"]
    assert as_beta["metadata"]["uid"] == old["metadata"]["uid"]
    assert as_alpha["apiVersion"] == f"{names.GROUP}/v1alpha1" and as_alpha["spec"] == new["spec"]
    assert as_alpha["status"]["baseKeyShort"] == "abc"
    # Whatever version a client writes, etcd holds the storage version.
    assert stored(api_server, NS, "old")["apiVersion"] == names.API_VERSION
    assert stored(api_server, NS, "new")["apiVersion"] == names.API_VERSION


def test_a_list_mixing_versions_comes_in_the_version_asked(api: Api) -> None:
    api.create(path("v1alpha1"), as_version(example_topic("a"), "v1alpha1"))
    api.create(path("v1beta1"), as_version(example_topic("b"), "v1beta1"))
    for version in ("v1alpha1", "v1beta1"):
        listing = api.get(path(version))
        assert listing is not None
        assert listing["apiVersion"] == f"{names.GROUP}/{version}" and listing["kind"] == "SwarmTopicList"
        items = {i["metadata"]["name"]: i for i in listing["items"]}
        assert set(items) == {"a", "b"}
        assert {i.get("apiVersion", listing["apiVersion"]) for i in items.values()} == {f"{names.GROUP}/{version}"}


def _kubectl_apply(plane: ControlPlane, topic: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    from localcluster.controlplane import BIN

    return subprocess.run([str(BIN / "kubectl"), "--kubeconfig", str(plane.kubeconfig), "apply", "-f", "-"],
                          input=yaml.safe_dump(topic), capture_output=True, text=True, timeout=60, check=True)


def test_kubectl_apply_of_v1alpha1_prints_the_deprecation_warning(api: Api, api_server: ControlPlane) -> None:
    old = _kubectl_apply(api_server, as_version(example_topic("old"), "v1alpha1"))
    assert f"Warning: {WARNING}" in old.stderr, old.stderr
    assert "swarmtopic.swarm-operator.dev/old created" in old.stdout
    new = _kubectl_apply(api_server, as_version(example_topic("new"), "v1beta1"))
    assert "Warning" not in new.stderr, new.stderr


def test_the_operator_reads_and_writes_the_storage_version_only(api: Api, api_server: ControlPlane,
                                                                operator: Operator) -> None:
    """A topic written as v1alpha1 is reconciled through v1beta1: the operator's every request on
    SwarmTopics names v1beta1, and its children's ownerReferences too."""
    api.create(path("v1alpha1"), as_version(example_topic("chat"), "v1alpha1"))
    wait_for("the host StatefulSet", lambda: api.get(f"/apis/apps/v1/namespaces/{NS}/statefulsets/chat-host"), 30)
    wait_for("status written", lambda: (api.topic(NS, "chat").get("status") or {}).get("conditions"), 30)
    for child in (f"/apis/apps/v1/namespaces/{NS}/statefulsets/chat-host",
                  f"/api/v1/namespaces/{NS}/secrets/chat-member", f"/api/v1/namespaces/{NS}/configmaps/chat-swarm"):
        obj = api.get(child)
        assert obj is not None and [r["apiVersion"] for r in obj["metadata"]["ownerReferences"]] == \
            [names.API_VERSION], child

    def requests() -> list[str] | None:
        uris = [e["requestURI"] for e in audit_events(api_server.audit_log)
                if e.get("user", {}).get("username") == OPERATOR_USER and "/swarmtopics" in e.get("requestURI", "")]
        return uris if any("/status" in u for u in uris) else None

    uris = wait_for("the operator's requests in the audit log", requests, 15)
    assert all(u.startswith(f"/apis/{names.API_VERSION}/") for u in uris), \
        [u for u in uris if not u.startswith(f"/apis/{names.API_VERSION}/")]


# -- the stored-version migration (its own control plane: it installs the old CRD) ---------------


@pytest.fixture
def fresh_plane() -> Iterator[ControlPlane]:
    with tempfile.TemporaryDirectory(prefix="swarm-migrate-") as state:
        plane = ControlPlane(Path(state))
        try:
            plane.start()
            yield plane
        finally:
            plane.stop()


def _kubectl(plane: ControlPlane, *args: str, input: str | None = None) -> str:
    return kubectl(plane.kubeconfig, *args, input=input)


def _stored_versions(plane: ControlPlane) -> list[str]:
    return json.loads(_kubectl(plane, "get", "crd", names.CRD_NAME, "-o", "json"))["status"]["storedVersions"]


def _install_crd(plane: ControlPlane, text: str) -> None:
    _kubectl(plane, "apply", "--server-side", "--force-conflicts", "-f", "-", input=text)
    _kubectl(plane, "wait", "--for=condition=Established", "--timeout=60s", f"crd/{names.CRD_NAME}")


# The commands of docs/operations.md (API versions: migrating the stored version), verbatim.
REWRITE = ("kubectl get swarmtopics.swarm-operator.dev -A "
           "-o jsonpath='{range .items[*]}{.metadata.namespace}{\" \"}{.metadata.name}{\"\\n\"}{end}' | "
           "while read -r ns name; do kubectl patch swarmtopics.swarm-operator.dev \"$name\" -n \"$ns\" "
           "--type=merge -p '{}'; done")
TRIM = ("kubectl patch crd swarmtopics.swarm-operator.dev --subresource=status --type=merge "
        "-p '{\"status\":{\"storedVersions\":[\"v1beta1\"]}}'")


def _shell(plane: ControlPlane, command: str) -> str:
    from localcluster.controlplane import BIN

    env = {"PATH": f"{BIN}:/usr/bin:/bin", "KUBECONFIG": str(plane.kubeconfig), "HOME": str(plane.state)}
    return subprocess.run(["bash", "-euo", "pipefail", "-c", command], env=env, capture_output=True, text=True,
                          timeout=120, check=True).stdout


def test_the_stored_version_migrates_from_v1alpha1_to_v1beta1(fresh_plane: ControlPlane, tmp_path: Path) -> None:
    plane = fresh_plane
    old = old_crd(tmp_path)
    _install_crd(plane, old)
    _kubectl(plane, "create", "namespace", "a")
    _kubectl(plane, "create", "namespace", "b")
    for ns, name in (("a", "chat"), ("a", "news"), ("b", "chat")):
        _kubectl(plane, "apply", "-f", "-", input=yaml.safe_dump(
            {**released_topic(name), "metadata": {"name": name, "namespace": ns}}))
    assert _stored_versions(plane) == ["v1alpha1"]
    assert stored(plane, "a", "chat")["apiVersion"] == f"{names.GROUP}/v1alpha1"

    _install_crd(plane, crd.CRD_FILE.read_text())  # the upgrade: v1beta1 stored from now on
    assert _stored_versions(plane) == ["v1alpha1", "v1beta1"]
    assert stored(plane, "b", "chat")["apiVersion"] == f"{names.GROUP}/v1alpha1"  # untouched until written
    topic = json.loads(_kubectl(plane, "get", "swarmtopics.v1beta1.swarm-operator.dev", "chat", "-n", "b",
                                "-o", "json"))
    assert topic["apiVersion"] == names.API_VERSION and topic["spec"]["topic"] == "chat"
    # No way back to the old CRD once v1beta1 may hold objects (a `helm rollback` to 0.1.0 cannot
    # re-apply it: docs/operations.md, Rollback) ...
    with pytest.raises(subprocess.CalledProcessError) as info:
        _install_crd(plane, old)
    assert "storedVersions" in info.value.stderr, info.value.stderr
    # ... and v1alpha1 cannot be dropped while objects may still be stored at it.
    without = yaml.safe_load(crd.CRD_FILE.read_text())
    without["spec"]["versions"] = [v for v in without["spec"]["versions"] if v["name"] == "v1beta1"]
    with pytest.raises(subprocess.CalledProcessError) as info:
        _install_crd(plane, yaml.safe_dump(without))
    assert "storedVersions" in info.value.stderr, info.value.stderr

    _shell(plane, REWRITE)
    for ns, name in (("a", "chat"), ("a", "news"), ("b", "chat")):
        assert stored(plane, ns, name)["apiVersion"] == names.API_VERSION, (ns, name)
    _shell(plane, TRIM)
    assert _stored_versions(plane) == ["v1beta1"]
    _install_crd(plane, yaml.safe_dump(without))  # now a later release may stop serving v1alpha1
    assert _stored_versions(plane) == ["v1beta1"]


OLD_PARSE = ("import json, sys; from swarm_operator.validation import parse_spec; "
             "print(parse_spec(json.loads(sys.argv[1]))[1])")


def _helm(plane: ControlPlane, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    from localcluster.controlplane import BIN

    return subprocess.run([str(BIN / "helm"), "--kubeconfig", str(plane.kubeconfig), *args], capture_output=True,
                          text=True, timeout=300, check=check)


def test_a_rollback_to_0_1_0_keeps_the_new_crd(fresh_plane: ControlPlane, tmp_path: Path) -> None:
    """docs/operations.md, Rollback: `helm rollback` cannot put release 0.1.0's CRD back once v1beta1 is
    stored; the previous chart installed with crds.create=false keeps the new CRD (kept by its
    resource policy), which still serves the v1alpha1 the old operator reads."""
    plane = fresh_plane
    old_chart = released(tmp_path)
    install = ("-n", "swarm-operator", "--set", "replicaCount=0", "--wait")
    _helm(plane, "install", "swarm-operator", str(old_chart), "--create-namespace", *install)
    _kubectl(plane, "wait", "--for=condition=Established", "--timeout=60s", f"crd/{names.CRD_NAME}")
    _kubectl(plane, "create", "namespace", NS)
    _kubectl(plane, "apply", "-f", "-", input=yaml.safe_dump(released_topic("chat")))
    _helm(plane, "upgrade", "swarm-operator", str(REPO / "charts" / "swarm-operator"), *install)
    assert _stored_versions(plane) == ["v1alpha1", "v1beta1"]
    _kubectl(plane, "apply", "-f", "-", input=yaml.safe_dump(as_version(example_topic("news"), "v1beta1")))

    rollback = _helm(plane, "rollback", "swarm-operator", "1", "-n", "swarm-operator", "--wait", check=False)
    assert rollback.returncode != 0 and "storedVersions" in rollback.stderr, rollback.stderr
    _helm(plane, "upgrade", "swarm-operator", str(old_chart), *install, "--set", "crds.create=false")
    served = json.loads(_kubectl(plane, "get", "crd", names.CRD_NAME, "-o", "json"))
    assert [v["name"] for v in served["spec"]["versions"]] == ["v1beta1", "v1alpha1"]
    listing = json.loads(_kubectl(plane, "get", "swarmtopics.v1alpha1.swarm-operator.dev", "-n", NS, "-o", "json"))
    assert sorted(i["metadata"]["name"] for i in listing["items"]) == ["chat", "news"]
    assert {i["apiVersion"] for i in listing["items"]} == {f"{names.GROUP}/v1alpha1"}
    # What the 0.1.0 operator makes of them: the new CRD's default `bootstrapHost.replicas` is a field
    # it does not know, so every topic is InvalidSpec to it (its children are left alone as they are).
    verdict = subprocess.run([sys.executable, "-c", OLD_PARSE, json.dumps(listing["items"][0])],
                             env={"PYTHONPATH": str(tmp_path / "operator")}, capture_output=True, text=True,
                             check=True).stdout
    assert "spec.bootstrapHost.replicas" in verdict, verdict
