"""Least privilege, derived (issue 23): one run of the operator through every path that needs a
right (bootstrap, drift of each child kind, held replicas, a removed client group, a rotated host
identity, a same-named Deployment without labels), then the rights it requested, read from the API
server's audit log, are compared with what the chart's RBAC grants its ServiceAccount: nothing
requested beyond the grant, nothing granted that was not requested, except the verbs the API
server's OwnerReferencesPermissionEnforcement asks of the operator itself (`owned.py`:
asked_by_admission), which no audit log shows as requests (the StatefulSet's `delete` is also
requested when one host becomes several, which this run does not do). (The same comparison over a whole e2e
run: e2e/test_rbac_audit.py.)"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fakehost import FakeHost
from integration_support import Api, Operator, example_topic, wait_for
from localcluster.controlplane import ControlPlane
from localcluster.testing import OPERATOR_NAMESPACE, rights_granted, rights_requested
from nacl.signing import SigningKey
from swarm_operator import owned
from test_operator import KEY, NS, seed_of, start_host, wait_condition
from test_ownership_and_drift import dep_path, sts_path

LEASE = f"/apis/coordination.k8s.io/v1/namespaces/{OPERATOR_NAMESPACE}/leases/swarm-operator"


def asked_by_admission() -> set[tuple[str, str, str]]:
    return {(k.group, k.plural, verb) for k in owned.KINDS for verb in k.asked_by_admission}


def _several_hosts(api: Api) -> None:
    """A topic of three hosts gets their disruption budget at once; an edit of it is repaired; a
    budget of the name another one would take is a conflict."""
    api.create(api.topic_path(NS), example_topic("trio", clients=0, bootstrapHost={
        "announceTimeoutSeconds": 30, "replicas": 3}))
    budget = f"/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets/trio-host"
    wait_for("the hosts' disruption budget", lambda: api.get(budget), 30)
    api.merge(budget, {"spec": {"maxUnavailable": 3}})
    wait_for("the budget repaired", lambda: (api.get(budget) or {})["spec"]["maxUnavailable"] == 1, 10)
    # A same-named budget without the operator's labels: its name index knows the name taken, so
    # it is read (a name the index knows free, as of the topic's version, is not).
    api.create(f"/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets", {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "quad-host"},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "quad"}}}})
    api.create(api.topic_path(NS), example_topic("quad", clients=0, bootstrapHost={"replicas": 3}))
    wait_condition(api, "quad", "Ready", "False", "NameConflict")


def _network_policies(api: Api) -> None:
    """A topic's NetworkPolicy made and an edit of it repaired; a same-named policy without the
    operator's labels met by the create, then read."""
    api.create(api.topic_path(NS), example_topic("guard", clients=0, networkPolicy={"enabled": True}))
    policy = f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies/guard-peers"
    wait_for("the topic's NetworkPolicy", lambda: api.get(policy), 30)
    api.merge(policy, {"spec": {"policyTypes": ["Ingress"]}})
    wait_for("the policy repaired", lambda: (api.get(policy) or {})["spec"]["policyTypes"] == ["Ingress", "Egress"], 10)
    api.create(f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies", {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "lock-peers"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})
    api.create(api.topic_path(NS), example_topic("lock", clients=0, networkPolicy={"enabled": True}))
    wait_condition(api, "lock", "Ready", "False", "NameConflict")


def _every_path(api: Api) -> None:
    """Bootstrap, then each kind of write the operator makes (and the reads a conflict costs)."""
    _several_hosts(api)
    _network_policies(api)
    api.create(api.topic_path(NS), example_topic("audit", clients=2))
    with FakeHost(seed_of(api, "audit"), "audit", KEY) as host:
        start_host(api, "audit", host, ready=True)
        wait_for("the client Deployment", lambda: api.get(dep_path("audit-kv")), 30)
        # First (the host pod rolls afterwards, and no kubelet here makes it Ready again): the host
        # signs with a key the operator never made, so its identity Secret is replaced.
        original = seed_of(api, "audit")
        host.key = SigningKey.generate()
        wait_for("the identity replaced", lambda: seed_of(api, "audit") != original, 15)
        svc = f"/api/v1/namespaces/{NS}/services/audit-host"
        api.merge(svc, {"spec": {"selector": {"app": "evil"}}})  # Service drift: patch
        wait_for("the Service repaired", lambda: "app" not in (api.get(svc) or {})["spec"]["selector"], 10)
        api.call("PATCH", sts_path("audit"), [{"op": "replace", "path": "/spec/template/spec/containers/0/image",
                                               "value": "evil.example.com/peer:1"}], "application/json-patch+json")
        wait_for("the StatefulSet repaired", lambda: (api.get(sts_path("audit")) or {})["spec"]["template"]["spec"][
            "containers"][0]["image"] != "evil.example.com/peer:1", 10)
        api.merge(dep_path("audit-kv"), {"spec": {"replicas": 5}})  # held: patch
        wait_for("the replicas held", lambda: (api.get(dep_path("audit-kv")) or {})["spec"]["replicas"] == 2, 10)
        # A removed group (its Deployment deleted), then a same-named Deployment without labels (the
        # create meets it and reads it).
        group = example_topic("audit")["spec"]["clients"][0]
        api.merge(api.topic_path(NS, "audit"), {"spec": {"clients": [{**group, "name": "log", "replicas": 1}]}})
        wait_for("the removed group's Deployment deleted", lambda: api.get(dep_path("audit-kv")) is None, 15)
        labels = {"app": "mine"}
        api.create(f"/apis/apps/v1/namespaces/{NS}/deployments", {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "audit-extra", "namespace": NS},
            "spec": {"replicas": 0, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
        api.merge(api.topic_path(NS, "audit"), {"spec": {"clients": [
            {**group, "name": "log", "replicas": 1}, {**group, "name": "extra", "replicas": 1}]}})
        wait_condition(api, "audit", "Ready", "False", "NameConflict")
        api.delete(dep_path("audit-extra"))
        wait_for("the operator's audit-extra", lambda: (api.get(dep_path("audit-extra")) or {}).get(
            "metadata", {}).get("ownerReferences"), 15)


def test_the_chart_grants_exactly_what_the_operator_requests(
        api: Api, api_server: ControlPlane, operator_kubeconfig_path: Path, tmp_path: Path) -> None:
    if api.get(LEASE) is not None:
        api.delete(LEASE)  # the run makes its own Lease (create), then renews it (get, update)
    since = time.time()
    op = Operator(str(operator_kubeconfig_path), tmp_path / "op.log", "--metrics-port", "0", "--liveness-port", "0")
    op.start()
    try:
        _every_path(api)
    finally:
        op.stop()
        print(op.log()[-3000:])
    time.sleep(2.0)  # the audit log is written in batches of up to 1 s
    requested = rights_requested(api_server, since=since)
    granted = rights_granted(api_server)
    unused = granted - requested
    table: list[Any] = sorted(granted | requested)
    print("right (group, resource, verb)                 granted requested")
    for right in table:
        print(f"  {'/'.join(right):<45} {right in granted!s:<7} {right in requested}")
    assert requested <= granted, f"requested beyond the grant: {sorted(requested - granted)}"
    assert unused <= asked_by_admission(), f"granted and never requested: {sorted(unused - asked_by_admission())}"
    assert unused == asked_by_admission()  # this run remakes no StatefulSet: admission alone asks for them
