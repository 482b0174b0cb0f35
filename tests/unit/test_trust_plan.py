"""Fresh signed reports (the nonce), the owned-kinds table against the chart's RBAC, event limits."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from nacl.signing import SigningKey
from swarm_operator import owned, rbac
from swarm_operator.hashes import bootstrap_topic_hash
from swarm_operator.hostreport import HostReportError, verify_report
from swarm_operator.reconciler.events import EventLimiter

REPO = Path(__file__).resolve().parents[2]
KEY = SigningKey(b"\x01" * 32)
PUB = KEY.verify_key.encode().hex()


def signed(**extra: object) -> bytes:
    payload = json.dumps({"topic": "chat", "bootstrapTopicHash": bootstrap_topic_hash("chat"),
                          "baseKey": "cd" * 32, "writerKey": "11" * 32, "discoveryKey": "22" * 32,
                          "announcedAt": "2026-11-24T12:00:00Z", "announceSeconds": 0.5, "peers": 1, **extra})
    return json.dumps({"payload": payload, "signature": KEY.sign(payload.encode()).signature.hex(),
                       "publicKey": PUB}).encode()


def test_a_report_carrying_the_nonce_asked_for_verifies() -> None:
    nonce = "ab" * 32
    report = verify_report(signed(nonce=nonce, writable=True, writersPolicy="Clients"), PUB, "chat", nonce)
    assert report.base_key == "cd" * 32 and report.writable is True and report.writers_policy == "Clients"


@pytest.mark.parametrize("carried", [None, "00" * 32])
def test_a_report_without_the_fresh_nonce_is_stale(carried: str | None) -> None:
    body = signed() if carried is None else signed(nonce=carried)  # a replay: right identity, old nonce
    with pytest.raises(HostReportError) as err:
        verify_report(body, PUB, "chat", "ab" * 32)
    assert err.value.reason == "StaleReport"


def _chart_roles() -> list[dict[str, Any]]:
    helm = REPO / ".tools" / "bin" / "helm"
    if not helm.exists():
        pytest.fail("helm is missing: run `make setup`")
    text = subprocess.run([str(helm), "template", "swarm", str(REPO / "charts" / "swarm-operator")],
                          check=True, capture_output=True, text=True).stdout
    # The operator's roles; those aggregated into admin/edit/view are the namespace users'
    # (tests/packaging/test_chart.py, tests/integration/test_user_roles.py).
    return [d for d in yaml.safe_load_all(text) if d and d["kind"] in ("ClusterRole", "Role")
            and not any(k.startswith("rbac.authorization.k8s.io/aggregate-to-") for k in d["metadata"]["labels"])]


def test_the_chart_grants_exactly_the_owned_kinds_table() -> None:
    # The operator's roles (not those aggregated into the built-in roles of namespace users).
    roles = {d["metadata"]["name"]: d["rules"] for d in _chart_roles() if not any(
        k.startswith("rbac.authorization.k8s.io/aggregate-to-") for k in d["metadata"].get("labels") or {})}
    assert roles["swarm-swarm-operator"] == rbac.rbac_rules()  # every watched namespace
    assert roles["swarm-swarm-operator-leader"] == rbac.operator_rbac_rules()  # the release's: the Lease
    assert set(roles) == {"swarm-swarm-operator", "swarm-swarm-operator-leader"}  # nothing else (no kopf scanning)


def test_the_table_drives_watches_and_paths() -> None:
    assert [k.plural for k in owned.watched()] == [
        "swarmtopics", "secrets", "configmaps", "services", "networkpolicies", "statefulsets", "poddisruptionbudgets",
        "deployments",
        "pods",
        "persistentvolumeclaims"]
    assert owned.SECRET.path("apps", "chat-identity") == "/api/v1/namespaces/apps/secrets/chat-identity"
    assert owned.TOPIC.path("apps", "chat", "status") == \
        "/apis/swarm-operator.dev/v1beta1/namespaces/apps/swarmtopics/chat/status"
    assert owned.topic_of(owned.CONFIGMAP, {"metadata": {"labels": {"swarm-operator.dev/topic": "chat"}}}) == "chat"
    assert owned.topic_of(owned.TOPIC, {"metadata": {"name": "chat"}}) == "chat"
    assert "update" in owned.TOPIC_FINALIZERS.verbs and owned.SECRET.metadata_only


def test_a_standing_problem_posts_at_most_one_event_per_ten_minutes() -> None:
    limiter = EventLimiter()
    assert limiter.allow("uid", "NameConflict")
    assert not limiter.allow("uid", "NameConflict")
    assert limiter.allow("uid", "Ready") and limiter.allow("other", "NameConflict")
    assert limiter.allow("uid", "DriftRepaired", "ConfigMap/a") and limiter.allow("uid", "DriftRepaired", "Service/b")
    assert not limiter.allow("uid", "DriftRepaired", "ConfigMap/a")
    limiter._last[("uid", "NameConflict", "")] -= 601
    assert limiter.allow("uid", "NameConflict")


def test_drift_ignores_canonical_forms_and_extra_fields_but_not_changes() -> None:
    from swarm_operator.drift import differences

    desired = {"resources": {"requests": {"cpu": "0.5", "memory": "1Gi"}}, "ports": [{"containerPort": 8080}],
               "env": [{"name": "A", "value": "1"}], "args": ["host"]}
    live = {"resources": {"requests": {"cpu": "500m", "memory": "1073741824"}},
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            "env": [{"name": "USER", "value": "x"}, {"name": "A", "value": "1"}], "args": ["host"]}
    assert differences(desired, live) == []
    live["env"][1]["value"] = "2"
    live["args"] = ["client"]
    assert differences(desired, live) == ["env[A].value", "args[0]"]


def test_the_planner_does_no_io() -> None:
    import ast

    package = REPO / "operator" / "swarm_operator"
    pure = [*(package / "planner").glob("*.py"), *(package / "children").glob("*.py"), package / "drift.py"]
    for module in pure:
        tree = ast.parse(module.read_text())
        imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
            a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not {m.rsplit(".", 1)[-1] for m in imported} & {"api", "client", "aiohttp", "hostclient", "reconciler",
                                                               "errors"}, (module, imported)
