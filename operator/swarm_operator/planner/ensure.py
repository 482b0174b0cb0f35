"""Keep a child as the operator wants it: create it when absent; when present, write it again only
when the operator's wish changed (its spec-hash annotation) or someone else's edit changed a field
the operator sets (drift, `drift.py`), which is repaired with a `DriftRepaired` event."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import drift, names, owned
from ..reasons import R
from .desired import Want, unchanged, verified
from .types import Decision, Event, Obj, Write, write

# Fields a child keeps as created (immutable on the API server), by kind: never compared, never
# "drift". A Service's selector is mutable, and is compared (a selector edited to another app's
# pods would take the host's name).
_IMMUTABLE = {"StatefulSet": ("volumeClaimTemplates", "selector", "serviceName"), "Deployment": ("selector",)}


@dataclass(frozen=True)
class Kept(Decision):
    """The write keeping one child (if any), and the paths that had drifted."""

    drifted: tuple[str, ...] = ()


def _write(desired: Obj, live: Obj | None, topic: Obj, create_body: Obj | None,
           joins: bool) -> tuple[Write | None, list[str]]:
    kind, name = owned.BY_KIND[desired["kind"]], desired["metadata"]["name"]
    if live is None:
        return write("create", kind, topic, None, create_body or desired, f"create {kind.kind} {name}", joins), []
    compare = drift.owned_fields(desired)
    fixed = _IMMUTABLE.get(desired["kind"], ())
    compare["spec"] = {k: v for k, v in (compare.get("spec") or {}).items() if k not in fixed}
    if not compare["spec"]:
        del compare["spec"]
    diffs = drift.differences(compare, live)
    hash_key = names.ANNOTATION_SPEC_HASH
    same_spec = (live["metadata"].get("annotations") or {}).get(hash_key) == \
        desired["metadata"]["annotations"][hash_key]
    if same_spec and not diffs:
        return None, []
    version = live["metadata"].get("resourceVersion")
    if same_spec:
        # Someone else's edit: put back exactly the drifted fields, on the version observed.
        # The version observed as a precondition: a replace of it, not a test (a failed test is a
        # 422, a refusal; a stale version is a 409, which re-reads and retries).
        ops = [{"op": "replace", "path": "/metadata/resourceVersion", "value": version},
               *drift.repair_ops(compare, live)]
        return write("repair", kind, topic, name, ops, f"repair {kind.kind} {name}", joins,
                     resource_version=version), diffs
    body = copy.deepcopy(desired)
    body["metadata"]["resourceVersion"] = version
    return write("apply", kind, topic, name, body, f"update {kind.kind} {name}", joins, resource_version=version), []


def keep(want: Want, live: Obj | None, topic: Obj, create: Callable[[Obj], Obj] | None = None,
         joins: bool = False, desired: Obj | None = None) -> Kept:
    """Create what `want` builds, or write it again when the operator's wish or a field it sets
    changed (`create`: the body of a create, from the built object; `joins`: the write may go out
    together with the writes before it, `types.Write`). Built only when `live` is not known to
    hold it already (`desired.py`), unless the caller built it (`desired`)."""
    if desired is None:
        if unchanged(want, live):
            return Kept()
        desired = want.built()
        assert desired is not None, f"{want.kind.kind} {want.name} is always wanted"
    found, diffs = _write(desired, live, topic, create(desired) if create is not None and live is None else None, joins)
    if found is None and live is not None:
        verified(want.kind, desired, live)
    drifted = [d for d in diffs if d != "spec.replicas"]
    ref = f"{want.kind.kind}/{want.name}"
    events = (Event("Warning", R.DRIFT_REPAIRED, f"{want.kind.kind} {want.name}: "
                    f"{', '.join(drifted[:6])} differed from what the operator set; restored", ref),) if drifted else ()
    return Kept(writes=(found,) if found is not None else (), events=events, drifted=tuple(diffs))


def merged(decisions: list[Any]) -> Decision:
    """Several decisions as one (writes and events in order)."""
    return Decision(writes=tuple(w for d in decisions for w in d.writes),
                    events=tuple(e for d in decisions for e in d.events))
