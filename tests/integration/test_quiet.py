"""The operator works from watch-fed caches (issue 13): a topic goes from apply to Ready on changes
alone, the periodic re-check being ten minutes away; the operator's API requests about it are
counted at the API server (its audit log), and an idle topic costs none.

The test plays the node: it marks the host pod Ready (serving the signed report from a FakeHost) and
then the client pods Ready, as a kubelet would through `pods/status`; the real controllers do the
rest (ReplicaSet and Deployment status)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

from fakehost import FakeHost
from integration_support import Api, Operator, example_topic, wait_for
from localcluster.controlplane import ControlPlane, audit_events
from localcluster.testing import OPERATOR_USER
from test_operator import KEY, NS, seed_of, start_host, wait_condition

INTERVAL = 600.0
CLIENTS = 2
# API requests per topic (of one host) from apply to Ready: issue 13's 12, and issue 23's checks:
# the six names its children take, none in a cache yet, read once before anything is created, and
# the encryption Secret made with the other Secrets, its second owner (the host's volume) added
# once the volume exists.
BUDGET = 19
CHECKED_FIRST = {"secrets/chat-identity", "secrets/chat-member", "secrets/chat-encryption", "configmaps/chat-swarm",
                 "services/chat-host", "statefulsets/chat-host"}


def requests_about(plane: ControlPlane, namespace: str, start: float, end: float) -> list[str]:
    """The operator's requests in `namespace` received in [start, end): what one topic costs. Its
    watches are cluster-wide and its Lease lives in its own namespace: neither is per topic."""
    seen: dict[str, str] = {}
    for event in audit_events(plane.audit_log):
        if event.get("user", {}).get("username") != OPERATOR_USER:
            continue
        if (event.get("objectRef") or {}).get("namespace") != namespace or event.get("verb") == "watch":
            continue
        received = datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00")).timestamp()
        if start <= received < end:
            seen[event["auditID"]] = f"{event['verb']} {event['requestURI'].split('?')[0]}"
    return list(seen.values())


def mark_client_pods_ready(api: Api, name: str) -> int:
    """Play the kubelet for the client pods the ReplicaSet controller created."""
    pods = api.items(f"/api/v1/namespaces/{NS}/pods?labelSelector=swarm-operator.dev/topic%3D{name},"
                     "app.kubernetes.io/component%3Dclient")
    for n, pod in enumerate(pods):
        api.merge(f"/api/v1/namespaces/{NS}/pods/{pod['metadata']['name']}/status", {"status": {
            "phase": "Running", "podIP": f"127.0.9.{n + 1}",
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "ContainersReady", "status": "True"}]}})
    return len(pods)


def ready_phase(api: Api, name: str) -> dict[str, Any] | None:
    topic = api.topic(NS, name)
    return topic if (topic.get("status") or {}).get("phase") == "Ready" else None


def test_apply_to_ready_on_changes_alone_within_the_budget_then_silence(
        api: Api, api_server: ControlPlane, operator_kubeconfig_path: Path, tmp_path: Path) -> None:
    operator = Operator(str(operator_kubeconfig_path), tmp_path / "operator.log", "--metrics-port", "0",
                        "--liveness-port", "0", "--reconcile-interval", str(INTERVAL))
    operator.start()
    try:
        wait_for("the operator to lead", lambda: "caches synced" in operator.log() and "leads" in operator.log(), 30)
        start = time.time()
        api.create(api.topic_path(NS), example_topic("chat", clients=CLIENTS))
        with FakeHost(seed_of(api, "chat"), "chat", KEY) as host:
            start_host(api, "chat", host, ready=False)
            wait_condition(api, "chat", "HostReady", "False", "WaitingForAnnounce")
            start_host(api, "chat", host, ready=True)
            wait_condition(api, "chat", "BaseKeyRecorded", "True")  # on the pod's change, not a timer
            wait_for(f"{CLIENTS} client pods", lambda: mark_client_pods_ready(api, "chat") == CLIENTS or None, 30)
            wait_for("the topic Ready", lambda: ready_phase(api, "chat"), 30)
            ready = time.time()
            reads = host.requests
            time.sleep(2.0)  # the audit log is written in batches of up to 1 s
            spent = requests_about(api_server, NS, start, ready + 1.0)
            print(f"API requests of the operator about one topic, apply -> Ready: {len(spent)}", *spent, sep="\n  ")
            assert len(spent) <= BUDGET, spent
            lookups = [r for r in spent if r.startswith(("get ", "list "))]
            read = ["/".join(r.rsplit("/", 2)[-2:]) for r in lookups]
            # The Secrets' names always; the others unless a name index had already seen past the topic.
            assert set(read) <= CHECKED_FIRST and len(read) == len(set(read)) and \
                {r for r in CHECKED_FIRST if r.startswith("secrets/")} <= set(read), \
                "a read the caches should answer (only the names checked first are read, once each)"

            idle_start = time.time()
            time.sleep(8.0)  # idle: nothing changes, the re-check is ten minutes away
            time.sleep(1.5)
            idle = requests_about(api_server, NS, idle_start, idle_start + 8.0)
            print(f"idle for 8 s: {len(idle)} requests, {host.requests - reads} host reports read")
            assert idle == [] and host.requests == reads
    finally:
        operator.stop()
        print(operator.log()[-3000:])
