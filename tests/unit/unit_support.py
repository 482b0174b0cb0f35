"""Builders shared by the unit tests: a SwarmTopic as the API server returns it, and its spec."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "topic.yaml"
UID = "5e1f0c1e-1111-4222-8333-944455556666"
NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


def stamp(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_topic(spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None,
               age: float = 5.0) -> dict[str, Any]:
    example = yaml.safe_load(EXAMPLE.read_text())
    # One host, as before several could be: the tests of several hosts ask for them.
    example["spec"].setdefault("bootstrapHost", {}).setdefault("replicas", 1)
    obj = {
        "apiVersion": example["apiVersion"],
        "kind": example["kind"],
        "metadata": {
            "name": "chat", "namespace": "apps", "uid": UID, "generation": 1, "resourceVersion": "42",
            "creationTimestamp": stamp(NOW - timedelta(seconds=age)),
        },
        "spec": copy.deepcopy(spec if spec is not None else example["spec"]),
    }
    if status is not None:
        obj["status"] = status
    return obj


@pytest.fixture
def topic() -> dict[str, Any]:
    return make_topic()


def observed_of(*, secrets: dict[str, Any] | None = None, configmap: dict[str, Any] | None = None,
                service: dict[str, Any] | None = None, statefulset: dict[str, Any] | None = None,
                deployments: dict[str, Any] | None = None, host_pod: dict[str, Any] | None = None,
                volume: dict[str, Any] | None = None, report: Any = None, report_error: Any = None, **kw: Any) -> Any:
    """A planner `Observed` with the topic's children given by kind (None: absent), and host 0's pod,
    volume, report or report error."""
    from swarm_operator import names, owned
    from swarm_operator.planner import Observed

    obs = Observed(**kw)
    for field, value in (("host_pods", host_pod), ("volumes", volume), ("reports", report),
                         ("report_errors", report_error)):
        if value is not None:
            getattr(obs, field)[0] = value
    name = obs.name
    for kind, child, obj in ((owned.CONFIGMAP, names.swarm_configmap(name), configmap),
                             (owned.SERVICE, names.host_service(name), service),
                             (owned.STATEFULSET, names.host_statefulset(name), statefulset)):
        obs.set_child(kind, child, obj)
    for secret, meta in (secrets or {}).items():
        obs.set_child(owned.SECRET, secret, meta)
    for dname, dep in (deployments or {}).items():
        obs.set_child(owned.DEPLOYMENT, dname, dep)
    return obs


def put(obs: Any, kind: str, name: str, obj: dict[str, Any] | None) -> None:
    """Give an `Observed` another child (None: take it away)."""
    from swarm_operator import owned

    obs.set_child(owned.BY_KIND[kind], name, obj)


def more_seeds(secret: str = "chat-identity") -> dict[str, str]:
    """`Observed.fresh` seeds of hosts 1 to 4, which a new identity Secret carries."""
    return {f"{secret}/seed-{n}": f"{n}{n}" * 32 for n in range(1, 5)}


QOS_RESOURCES = ("cpu", "memory")


def qos_class(pod_spec: dict[str, Any]) -> str:
    """A pod's QoS class as the kubelet computes it (Kubernetes' pkg/apis/core/helper/qos, GetPodQOS),
    from a pod spec as the API server stores it (a container's requests default to its limits):
    BestEffort without any cpu or memory request or limit; Guaranteed when every container limits
    both and requests what it limits; else Burstable."""
    from kubernetes.utils.quantity import parse_quantity

    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    guaranteed = True
    for container in [*pod_spec.get("initContainers", []), *pod_spec.get("containers", [])]:
        resources = container.get("resources") or {}
        limit = {k: parse_quantity(v) for k, v in (resources.get("limits") or {}).items() if k in QOS_RESOURCES}
        request = {**limit, **{k: parse_quantity(v) for k, v in (resources.get("requests") or {}).items()
                               if k in QOS_RESOURCES}}
        for into, values in ((requests, request), (limits, limit)):
            for k, v in values.items():
                if v != 0:
                    into[k] = into.get(k, 0) + v
        if {k for k, v in limit.items() if v != 0} != set(QOS_RESOURCES):
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and all(limits.get(k) == v for k, v in requests.items()) and len(requests) == len(limits):
        return "Guaranteed"
    return "Burstable"
