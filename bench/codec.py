"""What a watch event costs the operator's caches, with the standard library's json and with orjson
(the reason orjson is a dependency): parse an event, pack the trimmed object for the store
(JSON + zlib), unpack it when a reconcile reads it, encode a request body. Not a test:
`python bench/codec.py`. CPU microseconds per operation (process time), on objects made by the
operator's own builders, with the managedFields and status the API server adds.
"""

from __future__ import annotations

import copy
import json
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "unit"))

from swarm_operator.children import Inputs, client_deployment, host_statefulset
from swarm_operator.validation import parse_spec
from unit_support import make_topic

ROUNDS = 3000


def _fields(obj: Any) -> Any:
    """A managedFields fieldsV1 tree shaped like the object (as the API server writes it)."""
    if isinstance(obj, dict):
        return {f"f:{k}": _fields(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return {f'k:{{"name":"{i}"}}': _fields(v) for i, v in enumerate(obj)}
    return {}


def server_objects() -> list[dict[str, Any]]:
    topic = make_topic()
    spec, _ = parse_spec(topic)
    assert spec is not None
    made = Inputs(topic, spec, "ghcr.io/swarm-operator/swarm-peer:0.1.0", "ab" * 32, "cd" * 32)
    out = []
    for obj in (host_statefulset(made), client_deployment(made, spec.clients[0], 5)):
        obj = copy.deepcopy(obj)
        obj["metadata"].update(uid="0" * 36, resourceVersion="123456", generation=3,
                               creationTimestamp="2026-12-05T09:00:00Z")
        obj["metadata"]["managedFields"] = [
            {"manager": m, "operation": "Update", "apiVersion": "apps/v1", "time": "2026-12-05T09:00:00Z",
             "fieldsType": "FieldsV1", "fieldsV1": _fields(obj["spec"])} for m in ("swarm-operator", "kcm")]
        obj["status"] = {"replicas": 5, "readyReplicas": 5, "observedGeneration": 3, "conditions": [
            {"type": "Available", "status": "True", "lastTransitionTime": "2026-12-05T09:00:01Z",
             "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."}]}
        out.append(obj)
    return out


def clock(label: str, op: Callable[[int], object]) -> float:
    started = time.process_time()
    for i in range(ROUNDS):
        op(i)
    micros = 1e6 * (time.process_time() - started) / ROUNDS
    print(f"  {label:48s} {micros:7.1f} us")
    return micros


def main() -> None:
    objects = server_objects()
    events = [json.dumps({"type": "MODIFIED", "object": o}).encode() for o in objects]
    stored = [{**o, "metadata": {k: v for k, v in o["metadata"].items() if k != "managedFields"}, "status": {}}
              for o in objects]
    print(f"a watch event of a StatefulSet and of a Deployment: {[len(e) for e in events]} bytes")
    old6 = [zlib.compress(json.dumps(s, separators=(",", ":")).encode(), 6) for s in stored]
    new1 = [zlib.compress(orjson.dumps(s), 1) for s in stored]
    print(f"stored: zlib 6 {[len(b) for b in old6]} bytes, zlib 1 {[len(b) for b in new1]} bytes")
    print("json (the standard library), zlib level 6:")
    before = [clock("parse an event", lambda i: json.loads(events[i % 2])),
              clock("pack for the store", lambda i: zlib.compress(json.dumps(
                  stored[i % 2], separators=(",", ":")).encode(), 6)),
              clock("unpack from the store", lambda i: json.loads(zlib.decompress(old6[i % 2]))),
              clock("encode a request body", lambda i: json.dumps(stored[i % 2]).encode())]
    print("orjson, zlib level 1:")
    after = [clock("parse an event", lambda i: orjson.loads(events[i % 2])),
             clock("pack for the store", lambda i: zlib.compress(orjson.dumps(stored[i % 2]), 1)),
             clock("unpack from the store", lambda i: orjson.loads(zlib.decompress(new1[i % 2]))),
             clock("encode a request body", lambda i: orjson.dumps(stored[i % 2]))]
    print(f"an event parsed and stored: {before[0] + before[1]:.0f} us -> {after[0] + after[1]:.0f} us "
          f"({(before[0] + before[1]) / (after[0] + after[1]):.1f}x)")


if __name__ == "__main__":
    main()
