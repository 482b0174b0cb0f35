"""Who wrote the topic's record: the field managers of `status.baseKey` and `status.hostPublicKey`,
read from the SwarmTopic's `metadata.managedFields` (the API server keeps, for each field, the
manager that last changed it). The operator writes status as the field manager `swarm-operator`;
a recorded key last written by anyone else is not the operator's record (docs/security.md).

The caches drop `managedFields` (they are most of an object's size); the topic's cache keeps only
this summary, under `RECORD_WRITERS`.
"""

from __future__ import annotations

from typing import Any

from .names import FIELD_MANAGER

RECORD_FIELDS = ("baseKey", "hostPublicKey", "hosts")
RECORD_WRITERS = "recordWriters"  # the cached topic's summary: field -> the managers that wrote it


def record_writers(obj: dict[str, Any]) -> dict[str, list[str]]:
    """For each recorded status field, the field managers that own it (an empty list: nobody does,
    e.g. managedFields were reset)."""
    out: dict[str, list[str]] = {field: [] for field in RECORD_FIELDS}
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        status = ((entry.get("fieldsV1") or {}).get("f:status")) or {}
        for field in RECORD_FIELDS:
            if f"f:{field}" in status:
                out[field].append(str(entry.get("manager") or ""))
    return out


def with_record_writers(obj: dict[str, Any]) -> dict[str, Any]:
    """The topic as the cache keeps it: its record's writers beside it (a trim of `owned.TOPIC`)."""
    return {**obj, RECORD_WRITERS: record_writers(obj)}


def foreign_writers(topic: dict[str, Any], field: str) -> list[str] | None:
    """The managers other than the operator's that wrote `status.<field>`, when the operator is not
    among its writers ([""] when nobody is); None when the field is the operator's record, or when
    nothing is known of its writers (a topic not read from the API server)."""
    known = topic.get(RECORD_WRITERS)
    if known is None or not (topic.get("status") or {}).get(field):
        return None
    writers = list(known.get(field) or [])
    if FIELD_MANAGER in writers:
        return None
    return [w for w in writers if w != FIELD_MANAGER] or [""]
