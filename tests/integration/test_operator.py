"""The kopf operator, as a process, against a real API server: the ordering invariant step by step."""

from __future__ import annotations

import base64
import re
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

from fakehost import FakeHost, host_pod_status
from integration_support import Api, Operator, Watcher, example_topic, wait_for
from nacl.signing import SigningKey

NS = "apps"
KEY = "5b" * 32
OTHER = "e7" * 32


def seed_of(api: Api, name: str) -> str:
    secret = wait_for("the identity Secret", lambda: api.get(f"/api/v1/namespaces/{NS}/secrets/{name}-identity"))
    if secret.get("data", {}).get("seed"):
        return base64.b64decode(secret["data"]["seed"]).decode()
    return secret["stringData"]["seed"]


def condition(topic: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    return next((c for c in (topic.get("status") or {}).get("conditions", []) if c["type"] == ctype), None)


def wait_condition(api: Api, name: str, ctype: str, status: str, reason: str | None = None,
                   timeout: float = 20) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        cond = condition(api.topic(NS, name), ctype)
        if cond and cond["status"] == status and (reason is None or cond["reason"] == reason):
            return cond
        return None
    return wait_for(f"{ctype}={status}/{reason}", probe, timeout)


def start_host(api: Api, name: str, host: FakeHost, ready: bool) -> None:
    """Play the kubelet for the host pod the real StatefulSet controller created."""
    path = f"/api/v1/namespaces/{NS}/pods/{name}-host-0"
    wait_for("the host pod", lambda: api.get(path), 30)
    api.merge(f"{path}/status", {"status": host_pod_status(host.ip, ready)})


def deployments(api: Api, name: str) -> list[dict[str, Any]]:
    return api.items(f"/apis/apps/v1/namespaces/{NS}/deployments?labelSelector=swarm-operator.dev/topic%3D{name}")


def warning_events(api: Api, reason: str) -> list[dict[str, Any]]:
    return [e for e in api.items(f"/api/v1/namespaces/{NS}/events")
            if e.get("reason") == reason and e.get("type") == "Warning"]


def test_the_key_is_recorded_from_a_verified_host_report_before_any_client(api: Api, operator: Operator) -> None:
    """No key while the host has no report (its announce has not flushed); the key from its signed
    report the moment it has one, before its pod is Ready (the readiness probe is not waited for),
    and only then the clients."""
    with Watcher(api, NS, "chat") as watcher:
        api.create(api.topic_path(NS), example_topic("chat", clients=3))
        seed = seed_of(api, "chat")
        with FakeHost(seed, "chat", KEY).unannounced() as host:
            start_host(api, "chat", host, ready=False)
            wait_condition(api, "chat", "HostReady", "False", "WaitingForAnnounce")
            time.sleep(1.5)  # several reconcile intervals with the host running, not announced
            topic = api.topic(NS, "chat")
            assert "baseKey" not in topic["status"]
            assert deployments(api, "chat") == [], "a client Deployment exists before the key"
            assert host.requests >= 1, "nobody waited on the running host's report"

            host.announce()  # its first announce flushed: it has a report; its pod is not Ready yet
            wait_condition(api, "chat", "BaseKeyRecorded", "True")
            assert (condition(api.topic(NS, "chat"), "HostReady") or {}).get("reason") == "HostNotReady"
            start_host(api, "chat", host, ready=True)
            wait_condition(api, "chat", "HostReady", "True", "AnnounceFlushed")
            wait_for("3 client replicas wanted",
                     lambda: [d for d in deployments(api, "chat") if d["spec"]["replicas"] == 3])
    assert watcher.samples > 20 and watcher.violations == []
    topic = api.topic(NS, "chat")
    status = topic["status"]
    assert status["baseKey"] == KEY and status["writerKey"] == "77" * 32
    assert status["hostPublicKey"] == SigningKey(bytes.fromhex(seed)).verify_key.encode().hex()
    assert status["bootstrapSeconds"] > 0 and status["announcedAt"]
    assert status["observedGeneration"] == topic["metadata"]["generation"]
    configmap = api.get(f"/api/v1/namespaces/{NS}/configmaps/chat-swarm")
    assert configmap is not None and configmap["data"]["baseKey"] == KEY
    for kind, path in (("StatefulSet", f"/apis/apps/v1/namespaces/{NS}/statefulsets/chat-host"),
                       ("Service", f"/api/v1/namespaces/{NS}/services/chat-host"),
                       ("ConfigMap", f"/api/v1/namespaces/{NS}/configmaps/chat-swarm")):
        obj = api.get(path)
        assert obj is not None, kind
        assert obj["metadata"]["ownerReferences"][0]["uid"] == topic["metadata"]["uid"], kind


def test_a_conflicting_host_never_overwrites_the_recorded_key(api: Api, operator: Operator) -> None:
    api.create(api.topic_path(NS), example_topic("chat", clients=2))
    with FakeHost(seed_of(api, "chat"), "chat", KEY) as host:
        start_host(api, "chat", host, ready=True)
        wait_condition(api, "chat", "BaseKeyRecorded", "True")
        host.base_key = OTHER  # e.g. its volume was swapped for another base
        wait_condition(api, "chat", "Degraded", "True", "BaseKeyConflict")
        time.sleep(1.0)
        topic = api.topic(NS, "chat")
        assert topic["status"]["baseKey"] == KEY
        assert topic["status"]["phase"] == "Stuck" and topic["status"]["reason"] == "BaseKeyConflict"
        configmap = api.get(f"/api/v1/namespaces/{NS}/configmaps/chat-swarm")
        assert configmap is not None and configmap["data"]["baseKey"] == KEY
        assert warning_events(api, "BaseKeyConflict"), "no Warning event for the conflict"
        host.base_key = KEY
        wait_condition(api, "chat", "Degraded", "False")


def test_a_lying_or_broken_host_gets_a_condition_and_nothing_recorded(api: Api, operator: Operator) -> None:
    api.create(api.topic_path(NS), example_topic("chat"))
    with FakeHost(seed_of(api, "chat"), "chat", KEY) as host:
        host.signer = SigningKey.generate()
        start_host(api, "chat", host, ready=True)
        wait_condition(api, "chat", "HostReady", "False", "BadSignature")
        host.signer = None
        host.topic = "another-topic"
        wait_condition(api, "chat", "HostReady", "False", "WrongTopic")
        host.body_override = b"{not json"
        wait_condition(api, "chat", "HostReady", "False", "MalformedReport")
        assert "baseKey" not in api.topic(NS, "chat")["status"]
        assert deployments(api, "chat") == []
        assert warning_events(api, "BadSignature") and warning_events(api, "WrongTopic")
        host.body_override = None
        host.topic = "chat"
        wait_condition(api, "chat", "BaseKeyRecorded", "True")


def test_an_invalid_spec_gets_a_condition_an_event_and_no_children(api: Api, operator: Operator) -> None:
    bad = example_topic("bad")
    # The CRD's schema keeps pod templates free-form; only the operator's own validation sees this.
    good_template = bad["spec"]["clients"][0]["template"]
    bad["spec"]["clients"][0]["template"] = {"spec": {"containers": []}}
    api.create(api.topic_path(NS), bad)
    cond = wait_condition(api, "bad", "Ready", "False", "InvalidSpec")
    assert "spec.clients.0.template" in cond["message"]
    assert warning_events(api, "InvalidSpec")
    time.sleep(1.0)
    for plural, group in (("statefulsets", "apps/v1"), ("deployments", "apps/v1"), ("configmaps", "v1"),
                          ("services", "v1"), ("secrets", "v1")):
        root = "/api/v1" if group == "v1" else f"/apis/{group}"
        made = [o["metadata"]["name"] for o in api.items(f"{root}/namespaces/{NS}/{plural}")
                if o["metadata"]["name"] != "kube-root-ca.crt"]  # every namespace has that one
        assert made == [], f"an invalid spec created {plural}"
    assert operator.proc is not None and operator.proc.poll() is None, "the operator crashed"
    # Fixing the spec is enough: no restart, no manual cleanup.
    fixed = {**bad["spec"]["clients"][0], "template": good_template}
    api.merge(api.topic_path(NS, "bad"), {"spec": {"clients": [fixed]}})
    wait_condition(api, "bad", "HostReady", "False", "WaitingForAnnounce")


def test_announce_timeout_is_reported_then_recovers(api: Api, operator: Operator) -> None:
    topic = example_topic("slow")
    topic["spec"]["bootstrapHost"]["announceTimeoutSeconds"] = 1
    api.create(api.topic_path(NS), topic)
    with FakeHost(seed_of(api, "slow"), "slow", KEY).unannounced() as host:
        start_host(api, "slow", host, ready=False)
        cond = wait_condition(api, "slow", "HostReady", "False", "AnnounceTimeout")
        assert "announceTimeoutSeconds 1" in cond["message"]
        assert warning_events(api, "AnnounceTimeout")
        wait_for("phase Stuck", lambda: api.topic(NS, "slow")["status"]["phase"] == "Stuck")
        assert "baseKey" not in api.topic(NS, "slow")["status"]
        host.announce()
        start_host(api, "slow", host, ready=True)
        wait_condition(api, "slow", "BaseKeyRecorded", "True")


def test_pause_freezes_children_and_resume_applies_the_spec(api: Api, operator: Operator) -> None:
    api.create(api.topic_path(NS), example_topic("chat", clients=2))
    with FakeHost(seed_of(api, "chat"), "chat", KEY) as host:
        start_host(api, "chat", host, ready=True)
        wait_for("2 replicas", lambda: [d for d in deployments(api, "chat") if d["spec"]["replicas"] == 2])
        group = example_topic("chat")["spec"]["clients"][0]
        api.merge(api.topic_path(NS, "chat"), {"spec": {"paused": True, "clients": [{**group, "replicas": 4}]}})
        wait_for("phase Paused", lambda: api.topic(NS, "chat")["status"].get("phase") == "Paused")
        time.sleep(1.5)
        assert [d["spec"]["replicas"] for d in deployments(api, "chat")] == [2]
        api.merge(api.topic_path(NS, "chat"), {"spec": {"paused": False}})
        wait_for("4 replicas", lambda: [d for d in deployments(api, "chat") if d["spec"]["replicas"] == 4])
        assert api.topic(NS, "chat")["status"]["baseKey"] == KEY


def test_operator_killed_mid_bootstrap_resumes_with_the_same_identity(api: Api, operator: Operator) -> None:
    api.create(api.topic_path(NS), example_topic("chat"))
    seed = seed_of(api, "chat")
    wait_for("the public key recorded", lambda: api.topic(NS, "chat").get("status", {}).get("hostPublicKey"))
    operator.kill()
    operator.start()
    with FakeHost(seed, "chat", KEY) as host:
        start_host(api, "chat", host, ready=True)
        wait_condition(api, "chat", "BaseKeyRecorded", "True")
    assert seed_of(api, "chat") == seed, "the identity was rotated by a restart"
    assert api.topic(NS, "chat")["status"]["baseKey"] == KEY


def test_client_groups_follow_the_spec_after_bootstrap(api: Api, operator: Operator) -> None:
    api.create(api.topic_path(NS), example_topic("chat", clients=2))
    with FakeHost(seed_of(api, "chat"), "chat", KEY) as host:
        start_host(api, "chat", host, ready=True)
        wait_for("chat-kv", lambda: deployments(api, "chat"))
        group = example_topic("chat")["spec"]["clients"][0]
        api.merge(api.topic_path(NS, "chat"), {"spec": {"clients": [{**group, "name": "log", "replicas": 1}]}})
        wait_for("only chat-log", lambda: [d["metadata"]["name"] for d in deployments(api, "chat")] == ["chat-log"])
        assert api.topic(NS, "chat")["status"]["baseKey"] == KEY


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as rsp:
            return rsp.status, rsp.read().decode()
    except OSError:
        return 0, ""


def test_liveness_and_metrics_endpoints(operator_kubeconfig_path: Path, api: Api, tmp_path: Path) -> None:
    """What the chart's probes and ServiceMonitor rely on: kopf's /healthz and the /metrics port."""
    liveness, metrics = _free_port(), _free_port()
    op = Operator(str(operator_kubeconfig_path), tmp_path / "op.log",
                  "--liveness-port", str(liveness), "--metrics-port", str(metrics))
    op.start()
    try:
        wait_for("/healthz 200", lambda: _get(f"http://127.0.0.1:{liveness}/healthz")[0] == 200)
        api.create(api.topic_path(NS), example_topic("chat"))
        wait_condition(api, "chat", "HostReady", "False", "WaitingForAnnounce")
        def counted() -> str | None:
            body = _get(f"http://127.0.0.1:{metrics}/metrics")[1]
            phases = re.findall(r'^swarm_operator_topics\{phase="(\w+)"\} (\S+)$', body, re.M)
            one_topic = sum(float(v) for _, v in phases) == 1.0
            return body if "swarm_operator_reconcile_duration_seconds_count" in body and one_topic else None
        text = wait_for("a reconcile counted and the topic in exactly one phase", counted)
        assert "swarm_operator_topics_without_ready_host 1.0" in text
    finally:
        op.stop()
