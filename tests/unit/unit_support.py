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
