"""Generate the SwarmTopic CRD from the pydantic models, so the two cannot drift.

    python -m swarm_operator.crd            # print the CRD YAML (`make crd` writes crds/)
    python -m swarm_operator.crd --check    # exit 1 when crds/ differs from the models

Pydantic emits JSON Schema; a CRD needs a *structural* OpenAPI v3 schema: no `$ref`, no
`anyOf` with null, no titles, `x-kubernetes-preserve-unknown-fields` instead of
`additionalProperties: true`. `structural()` does that translation.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

from . import names
from .models import MAX_TOPIC_NAME, TOPIC_NAME, SwarmTopicSpec, SwarmTopicStatus

CRD_FILE = Path(__file__).resolve().parents[2] / "crds" / f"{names.CRD_NAME}.yaml"

# Transition rules: what a real API server enforces on update (SPEC section 2).
SPEC_RULES = [
    {
        "rule": "has(oldSelf.topic) ? (has(self.topic) && self.topic == oldSelf.topic) : !has(self.topic)",
        "message": "spec.topic is immutable",
    },
    {
        "rule": "!has(oldSelf.baseKey) || oldSelf.baseKey == '' || "
        "(has(self.baseKey) && self.baseKey == oldSelf.baseKey)",
        "message": "spec.baseKey is immutable once set",
    },
]
ROOT_RULES = [
    {
        "rule": f"self.metadata.name.size() <= {MAX_TOPIC_NAME}",
        "message": f"metadata.name must be at most {MAX_TOPIC_NAME} characters "
        "(it prefixes the host's StatefulSet, pod and volume names)",
    },
    {
        "rule": f"self.metadata.name.matches('{TOPIC_NAME}')",
        "message": "metadata.name must be a DNS-1035 label (lower case letters, digits and '-', "
        "starting with a letter, no dots): it names the host's Service `<name>-host`",
    },
    {
        # Checked against the status: once a key is recorded, spec.baseKey may only name it (set
        # later to another key, it would move the host onto another base).
        "rule": "!has(self.status) || !has(self.status.baseKey) || !has(self.spec.baseKey) || "
        "self.spec.baseKey == '' || self.spec.baseKey == self.status.baseKey",
        "message": "spec.baseKey must be the recorded status.baseKey once a key is recorded",
        "fieldPath": ".spec.baseKey",
    },
]
PRINTER_COLUMNS = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Reason", "type": "string", "jsonPath": ".status.reason",
     "description": "The reason of the first failing condition"},
    {"name": "Base key", "type": "string", "jsonPath": ".status.baseKeyShort"},
    {"name": "Clients", "type": "string", "jsonPath": ".status.clientsReady"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]
_DROP = {"title", "$defs"}
# json_schema_extra of an optional object field that gets no `default: {}` (models.py).
ABSENT_UNTIL_SET = "x-swarm-absent-until-set"


def structural(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Translate one pydantic JSON Schema node into a structural OpenAPI v3 node."""
    node = copy.deepcopy(schema)
    if "$ref" in node:
        target = defs[node.pop("$ref").split("/")[-1]]
        node = {**copy.deepcopy(target), **node}
    if "anyOf" in node:  # Optional[X]: absent means null; the field itself is X
        variants = [v for v in node.pop("anyOf") if v.get("type") != "null"]
        if len(variants) != 1:
            raise ValueError(f"cannot express a union in a structural schema: {variants}")
        inner = structural(variants[0], defs)
        node = {**inner, **{k: v for k, v in node.items() if k != "default"}}
    if node.get("default", 0) is None:
        del node["default"]
    out: dict[str, Any] = {k: v for k, v in node.items() if k not in _DROP}
    if out.get("x-kubernetes-preserve-unknown-fields"):
        out.pop("additionalProperties", None)
        out.setdefault("type", "object")
    if "properties" in out:
        out["properties"] = {k: structural(v, defs) for k, v in out["properties"].items()}
        for prop in out["properties"].values():
            # Nested objects default to {} so the API server fills in their own defaults; an object
            # marked ABSENT_UNTIL_SET (status.restore) stays absent until it is written.
            if prop.pop(ABSENT_UNTIL_SET, False):
                continue
            if prop.get("type") == "object" and "properties" in prop and "default" not in prop:
                prop["default"] = {}
        out.setdefault("type", "object")
        out.pop("additionalProperties", None)
    if "items" in out:
        out["items"] = structural(out["items"], defs)
    return out


def model_schema(model: type[Any]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return structural(raw, raw.get("$defs", {}))


def deprecation_warning(version: str) -> str:
    return (f"{names.GROUP}/{version} {names.KIND} is deprecated; use {names.API_VERSION} "
            "(the same fields: change apiVersion only)")


def version_entry(version: str, schema: dict[str, Any]) -> dict[str, Any]:
    """One entry of `spec.versions`: the storage version, or a deprecated one still served."""
    entry: dict[str, Any] = {"name": version, "served": True, "storage": version == names.VERSION}
    if version in names.DEPRECATED_VERSIONS:
        entry.update(deprecated=True, deprecationWarning=deprecation_warning(version))
    entry.update({"subresources": {"status": {}}, "additionalPrinterColumns": copy.deepcopy(PRINTER_COLUMNS),
                  "schema": {"openAPIV3Schema": copy.deepcopy(schema)}})
    return entry


def topic_schema() -> dict[str, Any]:
    """The SwarmTopic's schema, the same in every served version."""
    spec = model_schema(SwarmTopicSpec)
    spec["x-kubernetes-validations"] = SPEC_RULES
    spec["description"] = "Desired state of a Hyperswarm/Autobase topic."
    status = model_schema(SwarmTopicStatus)
    status["description"] = "Observed state; written by the operator through the status subresource."
    return {
        "type": "object",
        "description": "A Hyperswarm topic whose Autobase is bootstrapped in order: "
        "the host first, its base key recorded, then the clients.",
        "required": ["spec"],
        "x-kubernetes-validations": ROOT_RULES,
        "properties": {
            "apiVersion": {"type": "string",
                           "description": f"The object's API version: {names.API_VERSION} "
                           f"({', '.join(f'{names.GROUP}/{v}' for v in names.DEPRECATED_VERSIONS)} "
                           "deprecated)."},
            "kind": {"type": "string", "description": f"The object's kind: {names.KIND}."},
            # Nothing but the type: the API server refuses more here and serves ObjectMeta's
            # own schema (and description) instead.
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }


def build_crd() -> dict[str, Any]:
    """The CRD: the storage version first, then the deprecated ones. Their schemas are equal, so
    the conversion strategy is None (the API server rewrites apiVersion alone); the first schema
    change needs a conversion webhook (docs/operations.md, API versions)."""
    schema = topic_schema()
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": names.CRD_NAME},
        "spec": {
            "group": names.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": names.KIND,
                "listKind": f"{names.KIND}List",
                "plural": names.PLURAL,
                "singular": names.SINGULAR,
                "shortNames": [n for n in names.SHORT_NAMES if n != names.SINGULAR],
                "categories": ["swarm"],
            },
            "conversion": {"strategy": "None"},
            "versions": [version_entry(v, schema) for v in (names.VERSION, *names.DEPRECATED_VERSIONS)],
        },
    }


def render() -> str:
    header = "# Generated from operator/swarm_operator/models.py by `make crd`. Do not edit.\n"
    return header + yaml.safe_dump(build_crd(), sort_keys=False, width=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help=f"compare with {CRD_FILE}")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not CRD_FILE.exists() or CRD_FILE.read_text() != text:
            print(f"{CRD_FILE} is out of date with the models: run `make crd`", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
