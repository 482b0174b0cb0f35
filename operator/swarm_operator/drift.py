"""Drift: which fields the operator sets differ on the live object (pure functions).

The operator owns exactly the fields of its desired object. The live object drifted when one of
them is missing or holds another value; fields the operator does not set (server defaults, other
controllers' fields, a user's extra env var or annotation) are not its business. Lists of objects
with a `name` (containers, env, volumes, mounts, ports) are matched by name, as server-side apply
merges them; other lists (args, capabilities) must be equal.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

_QUANTITY = re.compile(r"^([+-]?[0-9.]+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")
_FACTORS = {None: 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
            "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_MERGE_KEYS = ("name", "containerPort", "mountPath")
EXACT = ("selector",)  # maps compared whole (label selectors)


def _key_of(items: list[Any]) -> str | None:
    for key in _MERGE_KEYS:
        if items and all(isinstance(i, dict) and key in i for i in items):
            return key
    return None


def _omitted(desired: Any, live: Any) -> bool:
    """An empty value the API server does not store (`omitempty`: an env var's `value: ""`, an
    empty map or list) is the same as none."""
    return live is None and desired in ("", {}, [])


def differences(desired: Any, live: Any, where: str = "") -> list[str]:
    """The paths (dotted) where `live` does not hold what `desired` says. A map under a key of
    `EXACT` (a Service's selector) must be equal as a whole: a key added beside ours changes what
    it selects."""
    if _omitted(desired, live):
        return []
    if isinstance(desired, dict) and where.rsplit(".", 1)[-1] in EXACT:
        return [] if desired == live else [where]
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return [where or "."]
        out: list[str] = []
        for key, value in desired.items():
            out += differences(value, live.get(key), f"{where}.{key}" if where else key)
        return out
    if isinstance(desired, list):
        if not isinstance(live, list):
            return [where]
        key = _key_of(desired)
        if key is None or _key_of(live) != key:
            if len(desired) != len(live):
                return [where]
            return [p for i, (d, v) in enumerate(zip(desired, live, strict=True))
                    for p in differences(d, v, f"{where}[{i}]")]
        by_key = {item[key]: item for item in live}
        return [p for item in desired
                for p in differences(item, by_key.get(item[key]), f"{where}[{item[key]}]")]
    if desired != live and not _same_scalar(desired, live):
        return [where]
    return []


def quantity(value: Any) -> Decimal | None:
    """A Kubernetes quantity's value ("0.5" and "500m" are the same), or None."""
    match = _QUANTITY.match(str(value)) if isinstance(value, int | str) and not isinstance(value, bool) else None
    if not match:
        return None
    try:
        return Decimal(match.group(1)) * _FACTORS[match.group(2)]
    except InvalidOperation:
        return None


def _same_scalar(desired: Any, live: Any) -> bool:
    # Ports may come back as numbers or strings of the same number, quantities in canonical form.
    if isinstance(desired, bool) or isinstance(live, bool):
        return False
    if isinstance(desired, int | str) and isinstance(live, int | str) and str(desired) == str(live):
        return True
    ours, theirs = quantity(desired), quantity(live)
    return ours is not None and ours == theirs


def owned_fields(desired: dict[str, Any]) -> dict[str, Any]:
    """What the operator compares on a child: labels, annotations and owner ref, data, spec."""
    meta = desired["metadata"]
    out: dict[str, Any] = {"metadata": {"labels": meta.get("labels", {}),
                                        "annotations": meta.get("annotations", {})}}
    for key in ("data", "spec"):
        if key in desired:
            out[key] = desired[key]
    return out


# List items repaired whole (an env var, a port, a mount, a volume is the operator's entirely);
# containers are repaired field by field, so the user's own env vars in them stay.
_RECURSE_ITEMS = ("containers", "initContainers")


def _pointer(parts: list[str]) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def repair_ops(desired: Any, live: Any, parts: list[str] | None = None) -> list[dict[str, Any]]:
    """RFC 6902 operations that put `desired`'s fields back into `live`, touching nothing else.

    For drift, where server-side apply cannot help: a field someone else wrote beside the
    operator's (an env var's `value` beside its `valueFrom`) belongs to their field manager, and
    only replacing the item removes it.
    """
    parts = parts or []
    if isinstance(desired, dict) and parts and parts[-1] in EXACT:
        return [] if desired == live else [{"op": "replace" if live is not None else "add", "path": _pointer(parts),
                                            "value": desired}]
    if isinstance(desired, dict) and isinstance(live, dict):
        ops: list[dict[str, Any]] = []
        for key, value in desired.items():
            if key not in live:
                if not _omitted(value, None):
                    ops.append({"op": "add", "path": _pointer([*parts, key]), "value": value})
            else:
                ops += repair_ops(value, live[key], [*parts, key])
        return ops
    if isinstance(desired, list) and isinstance(live, list) and (key := _key_of(desired)) is not None \
            and _key_of(live) == key:
        index = {item[key]: i for i, item in enumerate(live)}
        ops = []
        for item in desired:
            where = index.get(item[key])
            if where is None:
                ops.append({"op": "add", "path": _pointer([*parts, "-"]), "value": item})
            elif parts and parts[-1] in _RECURSE_ITEMS:
                ops += repair_ops(item, live[where], [*parts, str(where)])
            elif differences(item, live[where]):
                ops.append({"op": "replace", "path": _pointer([*parts, str(where)]), "value": item})
        return ops
    if differences(desired, live):
        return [{"op": "replace", "path": _pointer(parts), "value": desired}]
    return []
