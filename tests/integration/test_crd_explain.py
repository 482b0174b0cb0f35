"""`kubectl explain` reads well on the real API server: the OpenAPI v3 schema it serves for
SwarmTopic (built from the CRD the chart installed) has a description on every field, and
`kubectl explain swarmtopic.spec` prints one under each field, examples included."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from localcluster.controlplane import ControlPlane
from localcluster.testing import kubectl

GROUP_PATH = "/openapi/v3/apis/swarm-operator.dev/v1beta1"  # the storage (and preferred) version
SCHEMA = "dev.swarm-operator.v1beta1.SwarmTopic"


def served_fields(schemas: dict[str, Any], node: dict[str, Any], path: str = "") -> Iterator[tuple[str, str]]:
    """(path, description) of every field below `node`; a field that is a reference (metadata:
    ObjectMeta) is described by its own `description` or by the referenced schema's, and not walked
    into (ObjectMeta is Kubernetes' own)."""
    for name, child in (node.get("properties") or {}).items():
        here = f"{path}.{name}" if path else name
        refs = [r["$ref"] for r in child.get("allOf", []) if "$ref" in r] + ([child["$ref"]] if "$ref" in child else [])
        if refs:
            target = schemas[refs[0].rsplit("/", 1)[-1]]
            yield here, child.get("description") or target.get("description") or ""
            continue
        yield here, child.get("description") or ""
        yield from served_fields(schemas, child, here)
    if "items" in node:
        yield from served_fields(schemas, node["items"], f"{path}[]")


def test_the_served_schema_describes_every_field(api_server: ControlPlane) -> None:
    doc = json.loads(kubectl(api_server.kubeconfig, "get", "--raw", GROUP_PATH))
    schemas = doc["components"]["schemas"]
    fields = list(served_fields(schemas, schemas[SCHEMA]))
    undescribed = [path for path, text in fields if not text.strip()]
    assert len(fields) >= 51 and {"metadata", "spec.baseKey", "status.conditions[].reason"} <= {p for p, _ in fields}
    assert undescribed == [], f"{len(undescribed)} of {len(fields)} served fields without a description: {undescribed}"


def explained_fields(text: str) -> dict[str, str]:
    """The FIELDS section of `kubectl explain`: field name -> its description (joined lines)."""
    out: dict[str, str] = {}
    current = None
    for line in text.split("FIELDS:", 1)[1].splitlines():
        head = re.match(r"^  (\w+)\t<", line)
        if head:
            current = head.group(1)
            out[current] = ""
        elif current and line.strip():
            out[current] = (out[current] + " " + line.strip()).strip()
    return out


def test_kubectl_explain_spec_reads_well(api_server: ControlPlane) -> None:
    text = kubectl(api_server.kubeconfig, "explain", "swarmtopic.spec")
    print(text)
    fields = explained_fields(text)
    assert set(fields) == {"topic", "baseKey", "paused", "dht", "writers", "bootstrapHost", "networkPolicy",
                           "clients"}, fields
    assert not [name for name, description in fields.items() if len(description) < 20], fields
    assert re.search(r'e\.g\. "[0-9a-f]{64}"', fields["baseKey"]), fields["baseKey"]
    dht = explained_fields(kubectl(api_server.kubeconfig, "explain", "swarmtopic.spec.dht"))
    assert re.search(r'e\.g\. "[a-z0-9.-]+:\d+"', dht["bootstrap"]), dht
