"""The clients: a Deployment per client group, made only once the base key is recorded (the
ordering invariant); before that, any of the topic's Deployments is held at 0 replicas."""

from __future__ import annotations

from functools import partial
from typing import Any

from .. import conditions as c
from .. import names, owned
from ..children import client_deployment
from ..children.common import json_copy
from ..models import ClientGroup
from ..reasons import R
from .desired import Want
from .ensure import keep
from .host import inputs
from .types import Decision, Event, Obj, Observed, Write, write


def _held_at_zero(obs: Observed) -> list[Write]:
    return [write("scale", owned.DEPLOYMENT, obs.topic, dname, {"spec": {"replicas": 0}},
                  f"hold Deployment {dname} at 0 until the base key is recorded", joins=True)
            for dname, live in sorted(obs.deployments.items()) if (live.get("spec") or {}).get("replicas", 0) > 0]


def deployments(obs: Observed, public_keys: tuple[str, ...], recorded: str | None) -> Decision:
    """The client Deployments and the ClientsReady condition (with the `clients` status fields)."""
    assert obs.spec is not None
    if not recorded:
        status = [{"name": g.name, "replicas": g.start_replicas(), "readyReplicas": 0} for g in obs.spec.clients]
        return Decision(writes=tuple(_held_at_zero(obs)), **_condition(None, status))
    made = inputs(obs, public_keys)
    writes: list[Write] = []
    events: list[Event] = []
    status = []
    for group in obs.spec.clients:
        dname = names.client_deployment(obs.name, group.name)
        live = obs.deployments.get(dname)
        want = Want(owned.DEPLOYMENT, dname, (owned.DEPLOYMENT.kind, made.key, group.name),
                    partial(client_deployment, made, group, group.replicas))
        kept = keep(want, live, obs.topic, partial(_create_body, group))
        writes += kept.writes
        events += kept.events
        live_replicas = int(((live or {}).get("spec") or {}).get("replicas", group.start_replicas()))
        if "spec.replicas" in kept.drifted:
            events.append(Event("Normal", R.REPLICAS_HELD, f"Deployment {dname} was scaled to {live_replicas}; "
                                f"spec.clients[{group.name}].replicas is {group.replicas}, so it is set back (leave "
                                "replicas unset to scale it by hand or with an HPA)", f"Deployment/{dname}"))
        replicas = group.replicas if group.replicas is not None else live_replicas
        ready = int(((live or {}).get("status") or {}).get("readyReplicas") or 0)
        status.append({"name": group.name, "replicas": replicas, "readyReplicas": ready})
    wanted = set(owned.DEPLOYMENT.claimed(obs.name, obs.spec))
    writes += [write("delete", owned.DEPLOYMENT, obs.topic, dname, None,
                     f"delete Deployment {dname} (its client group was removed)", uid=live["metadata"].get("uid"))
               for dname, live in sorted(obs.deployments.items()) if dname not in wanted]
    return Decision(writes=tuple(writes), events=tuple(events), **_condition(recorded, status))


def _create_body(group: ClientGroup, desired: Obj) -> Obj:
    """A new Deployment starts at the group's replicas (or its minimum, when an HPA owns them)."""
    body: Obj = json_copy(desired)
    body["spec"]["replicas"] = group.start_replicas()
    return body


def _condition(recorded: str | None, status: list[dict[str, Any]]) -> dict[str, Any]:
    desired_total = sum(g["replicas"] for g in status)
    ready_total = sum(min(g["readyReplicas"], g["replicas"]) for g in status)
    if not recorded:
        cond = c.Cond(c.CLIENTS_READY, False, R.WAITING_FOR_BASE_KEY,
                      "clients start only after the base key is recorded")
    elif all(g["readyReplicas"] >= g["replicas"] for g in status):
        cond = c.Cond(c.CLIENTS_READY, True, R.CLIENTS_READY, f"{ready_total}/{desired_total} ready")
    else:
        cond = c.Cond(c.CLIENTS_READY, False, R.ROLLING_OUT, f"{ready_total}/{desired_total} ready")
    return {"conditions": (cond,), "fields": {"clients": status, "clientsReady": f"{ready_total}/{desired_total}"}}
