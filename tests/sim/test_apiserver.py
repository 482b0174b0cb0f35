"""The simulated API server behaves like a real one where the operator and kubectl depend on it."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from simcluster import apiserver
from simcluster.apiserver import ThreadedApiServer
from simcluster.store import ApiError, ResourceType, Store

REPO = Path(__file__).resolve().parents[2]
KUBECTL = str(REPO / ".tools" / "bin" / "kubectl")
CM = "/api/v1/namespaces/default/configmaps"
TOPICS = "/apis/swarm-operator.dev/v1alpha1/namespaces/default/swarmtopics"


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedApiServer]:
    with ThreadedApiServer(crd_paths=[REPO / "crds"]) as api:
        yield api


def call(server: ThreadedApiServer, method: str, path: str, body: Any = None,
         content_type: str = "application/json") -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(server.url + path, data=data, method=method,
                                 headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=10) as rsp:
            return rsp.status, json.loads(rsp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def kubectl(server: ThreadedApiServer, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBECTL, *args], input=stdin, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, KUBECONFIG=str(server.kubeconfig)))


def test_create_assigns_identity_and_stale_writes_conflict(server: ThreadedApiServer) -> None:
    code, obj = call(server, "POST", CM, {"metadata": {"name": "a"}, "data": {"k": "1"}})
    assert code == 201 and obj["metadata"]["uid"] and obj["metadata"]["creationTimestamp"]
    rv = obj["metadata"]["resourceVersion"]
    code, again = call(server, "POST", CM, {"metadata": {"name": "a"}})
    assert code == 409 and again["reason"] == "AlreadyExists"
    code, updated = call(server, "PATCH", f"{CM}/a", {"metadata": {"resourceVersion": rv}, "data": {"k": "2"}},
                         "application/merge-patch+json")
    assert code == 200 and int(updated["metadata"]["resourceVersion"]) > int(rv)
    code, stale = call(server, "PATCH", f"{CM}/a", {"metadata": {"resourceVersion": rv}, "data": {"k": "3"}},
                       "application/merge-patch+json")
    assert code == 409 and stale["reason"] == "Conflict"
    code, _ = call(server, "PATCH", f"{CM}/a", [{"op": "test", "path": "/data/k", "value": "nope"}],
                        "application/json-patch+json")
    assert code == 422
    code, same = call(server, "PATCH", f"{CM}/a", {"data": {"k": "2"}}, "application/merge-patch+json")
    assert same["metadata"]["resourceVersion"] == updated["metadata"]["resourceVersion"], "a no-op bumped the version"


def test_generation_and_the_status_split(server: ThreadedApiServer) -> None:
    code, topic = call(server, "POST", TOPICS, {"apiVersion": "swarm-operator.dev/v1alpha1", "kind": "SwarmTopic",
                                                "metadata": {"name": "g"}, "spec": {"topic": "g"},
                                                "status": {"phase": "Ready"}})
    assert code == 201 and topic["metadata"]["generation"] == 1 and "status" not in topic
    _, topic = call(server, "PATCH", f"{TOPICS}/g/status", {"status": {"phase": "Pending"}, "spec": {"topic": "x"}},
                    "application/merge-patch+json")
    assert topic["status"] == {"phase": "Pending"} and topic["spec"]["topic"] == "g"
    assert topic["metadata"]["generation"] == 1, "a status write bumped the generation"
    _, topic = call(server, "PATCH", f"{TOPICS}/g", {"spec": {"paused": True}, "status": {"phase": "Ready"}},
                    "application/merge-patch+json")
    assert topic["metadata"]["generation"] == 2 and topic["status"] == {"phase": "Pending"}
    _, topic = call(server, "PATCH", f"{TOPICS}/g", {"metadata": {"labels": {"a": "b"}}},
                    "application/merge-patch+json")
    assert topic["metadata"]["generation"] == 2, "a metadata write bumped the generation"


def test_label_selectors_and_typed_lists(server: ThreadedApiServer) -> None:
    for name, tier in (("s1", "web"), ("s2", "db"), ("s3", None)):
        labels = {"app": "sel"} | ({"tier": tier} if tier else {})
        call(server, "POST", CM, {"metadata": {"name": name, "labels": labels}})

    def names(selector: str) -> list[str]:
        _, listing = call(server, "GET", f"{CM}?labelSelector={urllib.request.quote(selector)}")
        assert listing["kind"] == "ConfigMapList" and listing["metadata"]["resourceVersion"]
        return sorted(i["metadata"]["name"] for i in listing["items"])
    assert names("app=sel,tier=web") == ["s1"]
    assert names("app=sel,tier!=web") == ["s2", "s3"]
    assert names("tier in (web,db)") == ["s1", "s2"]
    assert names("app=sel,!tier") == ["s3"]


def test_owner_references_cascade(server: ThreadedApiServer) -> None:
    _, owner = call(server, "POST", CM, {"metadata": {"name": "owner"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    call(server, "POST", CM, {"metadata": {"name": "dependent", "ownerReferences": [ref]}})
    call(server, "DELETE", f"{CM}/owner")
    assert call(server, "GET", f"{CM}/dependent")[0] == 404


def test_dependents_of_a_deleted_owner_are_collected_even_when_created_late(server: ThreadedApiServer) -> None:
    _, owner = call(server, "POST", CM, {"metadata": {"name": "gone"}})
    call(server, "DELETE", f"{CM}/gone")
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "gone", "uid": owner["metadata"]["uid"]}
    code, _ = call(server, "POST", CM, {"metadata": {"name": "late", "ownerReferences": [ref]}})
    assert code == 201
    assert call(server, "GET", f"{CM}/late")[0] == 404


def test_watch_resumes_sends_bookmarks_and_expires(server: ThreadedApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apiserver, "BOOKMARK_INTERVAL", 0.2)
    _, obj = call(server, "POST", CM, {"metadata": {"name": "w"}})
    rv = int(obj["metadata"]["resourceVersion"])
    call(server, "PATCH", f"{CM}/w", {"data": {"x": "1"}}, "application/merge-patch+json")
    url = f"{server.url}{CM}?watch=true&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=1"
    with urllib.request.urlopen(url, timeout=10) as rsp:
        events = [json.loads(line) for line in rsp.read().splitlines() if line.strip()]
    assert events[0]["type"] == "MODIFIED" and events[0]["object"]["data"] == {"x": "1"}
    assert any(e["type"] == "BOOKMARK" for e in events), [e["type"] for e in events]


def test_a_watch_from_a_compacted_version_gets_410() -> None:
    store = Store()
    store.history = deque(maxlen=3)  # as if etcd had compacted everything older
    rtype = ResourceType("", "v1", "namespaces", "Namespace", namespaced=False, has_status=True)
    store.register(rtype)
    for i in range(6):
        store.create(rtype, "", {"metadata": {"name": f"n{i}"}})
    with pytest.raises(ApiError) as exc:
        store.watch(rtype, None, "1", lambda o: True)
    assert exc.value.code == 410
    _, backlog = store.watch(rtype, None, str(store.rv - 1), lambda o: True)
    assert [e.obj["metadata"]["name"] for e in backlog] == ["n5"]


def test_kubectl_get_explain_and_apply(server: ThreadedApiServer) -> None:
    manifest = (REPO / "examples" / "topic.yaml").read_text()
    out = kubectl(server, "apply", "-n", "default", "-f", "-", stdin=manifest)
    assert out.returncode == 0, out.stderr
    assert "unchanged" in kubectl(server, "apply", "-n", "default", "-f", "-", stdin=manifest).stdout
    table = kubectl(server, "get", "st", "-n", "default")
    assert table.returncode == 0 and table.stdout.split()[:5] == ["NAME", "PHASE", "BASE", "KEY", "CLIENTS"]
    explain = kubectl(server, "explain", "swarmtopic.spec.bootstrapHost.announceTimeoutSeconds")
    assert explain.returncode == 0 and "announce" in explain.stdout
    crd = kubectl(server, "get", "crd", "swarmtopics.swarm-operator.dev", "-o",
                  "jsonpath={.status.conditions[*].type}")
    assert "Established" in crd.stdout
