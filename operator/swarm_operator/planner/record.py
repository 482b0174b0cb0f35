"""The record checked, not only kept: the base key the children are given is `status.baseKey` only
while it is the operator's record (its field manager, `managed.py`) or the host signs it, and only
while the host does not sign another. Otherwise the children stay on the key they have (the one
the host signed when they were given it) and the topic says why (`UntrustedRecord`, or
`BaseKeyConflict` from the base key step)."""

from __future__ import annotations

from dataclasses import dataclass

from .. import conditions as c
from .. import names
from ..hostreport import HostReport
from ..managed import foreign_writers
from ..objects import controlled_by, pod_ready
from ..reasons import R
from .types import Observed


@dataclass(frozen=True)
class Given:
    key: str | None  # the base key the children are given (None: none yet)
    hold: bool = False  # a key is recorded but none can be given: the children are left as they are
    untrusted: c.Cond | None = None  # why status.baseKey is not the operator's record


def signed_keys(obs: Observed) -> list[tuple[int, HostReport]]:
    """The verified reports the hosts sign now: host 0's while its pod is Ready, every other
    host's (several hosts)."""
    return [(n, r) for n, r in sorted(obs.reports.items()) if n > 0 or pod_ready(obs.host_pod)]


def children_key(obs: Observed) -> str | None:
    """The base key the children have now: the operator's ConfigMap's."""
    configmap = obs.configmap
    if configmap is None or not controlled_by(configmap, obs.topic):
        return None
    return (configmap.get("data") or {}).get(names.CM_BASE_KEY) or None


def given(obs: Observed) -> Given:
    assert obs.spec is not None
    recorded, reports = obs.recorded_key, signed_keys(obs)
    if not recorded:
        return Given(obs.spec.adopted_base_key())
    writers = foreign_writers(obs.topic, "baseKey")
    vouched = any(r.base_key == recorded for _, r in reports)
    conflict = any(r.base_key != recorded for _, r in reports)
    if (writers is None or vouched) and not conflict:
        return Given(recorded)
    kept = children_key(obs)
    why = None
    if writers is not None and not vouched:
        other = next((f"host {n} signs {r.base_key}" for n, r in reports if r.base_key != recorded), None)
        signed = other or "no verified host report vouches for it"
        why = c.Cond(c.DEGRADED, True, R.UNTRUSTED_RECORD,
                     f"status.baseKey {recorded} was written by {', '.join(repr(w) for w in writers)}, not by the "
                     f"operator, and {signed}: it is not given to the children, which stay on "
                     f"{kept or 'what they have'}")
    return Given(kept, hold=kept is None, untrusted=why)
