"""From what was observed to what to do: the ordering invariant as pure functions (no I/O here, and
no URLs: a `Write` names its target kind, namespace and name; the reconciler turns it into a request).

`plan()` runs the steps in order, each a function of what was observed and of what earlier steps
decided, returning its own `Decision`:

1. trust (`trust.py`): every child the topic's names claim must carry this topic's controller
   ownerReference, or nothing at all is written (`NameConflict`); the Secrets are made once; the
   host's public key is known;
2. the host side (`host.children`): the children of `owned.built()`, kept by content;
3. host readiness (`host.readiness`): a Ready pod whose fresh, signed report verifies;
4. the base key (`basekey.record`): recorded once, with a resourceVersion precondition;
5. the clients (`clients.deployments`): made only once a key is recorded, held at 0 before;
6. the status (`status.py`), assembled once from the steps' conditions and fields, with the events
   of the topic's state.

The writes go out in the steps' order, with the key's record (the whole new status, carrying the
topic's resourceVersion) right after host readiness: before the ConfigMap gets the key and before
any client Deployment exists.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from .. import conditions as c
from .. import names, owned
from ..identity import untrusted_host_key
from ..reasons import R
from . import adopt, backupcheck, basekey, clients, host, record, restore, status, trust
from .status import describe_change, progress_only, quiet_only
from .types import Decision, Event, Observed, Plan, Target, Write, earliest, waves, write

__all__ = ["Decision", "Event", "Observed", "Plan", "Target", "Write", "after_refusal", "describe_change", "plan",
           "progress_only", "quiet_only", "waves"]

CONFLICT_RECHECK = 30.0  # seconds between looks at a name held by a foreign object


def _finish(obs: Observed, decisions: list[Decision], conds: list[c.Cond], record: bool = False, hold: bool = False,
            **flags: object) -> Plan:
    """The plan of these decisions: their writes in order (the key's record, carrying the final
    status, before the writes of the step that recorded it), the status, the events."""
    fields = {k: v for d in decisions for k, v in d.fields.items()}
    host_started = obs.statefulset is not None or any(
        w.op == "create" and w.target.kind == owned.STATEFULSET.kind for d in decisions for w in d.writes)
    new = status.assemble(obs, [*conds, *(x for d in decisions for x in d.conditions)], fields, host_started)
    old = dict(obs.topic.get("status") or {})
    writes: list[Write] = []
    for decision in decisions:
        if record and isinstance(decision, basekey.Key):
            writes.append(write("record-status", owned.TOPIC, obs.topic, obs.name, {"status": new},
                                f"record base key {decision.recorded}",
                                resource_version=obs.topic["metadata"].get("resourceVersion")))
        writes += decision.writes
    if (obs.spec is not None and obs.spec.paused) or hold:  # observe and report, write no child
        writes = [w for w in writes if w.op == "record-status"]
    actions = [e for d in decisions for e in d.events] + status.open_writers(obs, fields)
    events = actions + status.state_events(old, new)
    return Plan(writes=writes, status=new, events=events, action_events=actions, old_status=old,
                recheck=earliest(*(d.recheck for d in decisions)),
                rollout_seconds=status.rollout_seconds(old, new, obs.now), **flags)  # type: ignore[arg-type]


def plan(obs: Observed) -> Plan:
    if obs.spec is None:
        return _finish(obs, [], [c.Cond(c.READY, False, R.INVALID_SPEC, obs.spec_error or "invalid")])
    conflicts = trust.foreign_children(obs)
    if conflicts:
        message = "; ".join(conflicts) + ": not controlled by this SwarmTopic, left alone (nothing is " \
            "read from, written to or deleted); delete or rename it, or rename the SwarmTopic"
        # A foreign object's removal may reach no watch of this topic (another topic's label, or none).
        return _finish(obs, [Decision(recheck=CONFLICT_RECHECK)], [c.Cond(c.READY, False, R.NAME_CONFLICT, message)])
    untrusted = untrusted_host_key(obs.topic, obs.secrets.get(names.identity_secret(obs.name)))
    if untrusted is not None:  # no host key to verify anything with: write nothing, say why
        return _finish(obs, [], [c.Cond(c.DEGRADED, True, R.UNTRUSTED_RECORD, untrusted)])
    adopted = adopt.children(obs)
    identity = trust.secrets(obs)
    owners = trust.encryption_owners(obs)
    fields = Decision(fields=trust.identity_fields(obs, identity.public_key))
    keys = identity.public_keys
    if keys is None:  # the identity Secret is being replaced: nothing else this pass
        pending = c.Cond(c.HOST_READY, False, R.IDENTITY_PENDING, "the host identity is being created")
        return _finish(obs, [adopted, identity, owners, fields], [pending])
    side = host.children(obs, keys)
    ready = host.readiness(obs, keys)
    key = basekey.record(obs, keys, ready)
    given = record.given(obs)  # a recorded key, as far as it is trusted (clients never start on an adopted one)
    made = clients.deployments(obs, keys, given.key if obs.recorded_key else key.recorded)
    refused = host.scale_down_refused(obs)
    backup = backupcheck.check(obs)
    restoring = restore.decide(obs)  # restore mode of a restored topic's hosts (the ConfigMap's side: host.inputs)
    return _finish(obs, [adopted, identity, owners, fields, side, ready, key, made, backup, restoring],
                   [refused] if refused else [], record=key.recorded_now, hold=given.hold,
                   recorded_now=key.recorded_now, conflict_now=key.conflict_now, timeout_now=ready.timeout_now,
                   roll=side.roll,
                   host_ready=any(x.type == c.HOST_READY and x.status is True for x in ready.conditions),
                   host_stats=ready.host_stats)


PINNED_KEYS = ("hostPublicKey", "hosts")  # status fields naming the hosts' public keys


def after_refusal(the_plan: Plan, refused: Write, reason: str, message: str, now: datetime,
                  done: list[Write] | None = None) -> Plan:
    """The plan after the API server refused `refused`: the writes after it did not happen (or only
    `done` did, when writes went out together), and the status says why (Ready=False with the
    server's message); the hosts' pinned keys stay as they were."""
    done = the_plan.writes[: the_plan.writes.index(refused)] if done is None else done
    new = _hosts_as_before(status.override_ready(the_plan.status, reason, f"{refused.what}: {message}", now),
                           the_plan.old_status)
    side = [e for e in the_plan.events if e not in status.state_events(the_plan.old_status, the_plan.status)]
    return replace(the_plan, writes=done, status=new, events=[*side, *status.state_events(the_plan.old_status, new)])


def _hosts_as_before(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """`status.hostPublicKey` and `status.hosts` pin the hosts' public keys; the pass may have drawn
    them from seeds its refused write kept from the identity Secret (a later pass draws others):
    they keep what they held."""
    out = {k: v for k, v in new.items() if k not in PINNED_KEYS}
    out.update({k: old[k] for k in PINNED_KEYS if k in old})
    return out
