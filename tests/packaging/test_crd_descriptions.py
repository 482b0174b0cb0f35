"""The CRD explains itself: `kubectl explain swarmtopic...` has a description for every field, and
where a spec field has a format (hex keys, host:port, image references, quantities, names) its
description carries an example that the field's own schema accepts. The CRD checked is the one
generated into crds/ (and copied into the chart: test_chart.py keeps the two equal)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from packaging_support import REPO
from swarm_operator import conditions

GENERATED_CRD = REPO / "crds" / "swarmtopics.swarm-operator.dev.yaml"
# An example is a double-quoted string after "e.g." up to the end of the parenthesis or sentence.
EXAMPLES = re.compile(r"e\.g\. ([^)]*)")
QUOTED = re.compile(r'"([^"]+)"')


def versions() -> list[str]:
    """Every version the CRD serves (each with its own schema, each checked)."""
    return [v["name"] for v in yaml.safe_load(GENERATED_CRD.read_text())["spec"]["versions"]]


def openapi_schema(version: str) -> dict[str, Any]:
    crd = yaml.safe_load(GENERATED_CRD.read_text())
    [served] = [v for v in crd["spec"]["versions"] if v["name"] == version]
    return served["schema"]["openAPIV3Schema"]


def fields(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(dotted path, schema) of every field below `node`, list items included (`[]`)."""
    for name, child in (node.get("properties") or {}).items():
        here = f"{path}.{name}" if path else name
        yield here, child
        yield from fields(child, here)
    if "items" in node:
        yield from fields(node["items"], f"{path}[]")


def examples(description: str) -> list[str]:
    return [q for part in EXAMPLES.findall(description) for q in QUOTED.findall(part)]


def formatted(schema: dict[str, Any]) -> str | None:
    """The pattern a field's values (or, for a list, its items) must match; None when free-form."""
    return schema.get("pattern") or (schema.get("items") or {}).get("pattern")


# The API server refuses anything but `type` on the root `metadata` of a CRD's schema and serves
# ObjectMeta's schema, with its own description, in its place (tests/integration/test_crd_explain.py).
SERVED_BY_THE_API_SERVER = {"metadata"}


@pytest.mark.parametrize("version", versions())
def test_every_field_has_a_description(version: str) -> None:
    all_fields = list(fields(openapi_schema(version)))
    undescribed = [path for path, schema in all_fields if not (schema.get("description") or "").strip()
                   and path not in SERVED_BY_THE_API_SERVER]
    assert len(all_fields) >= 51, f"the walk found only {len(all_fields)} fields"
    assert undescribed == [], f"{len(undescribed)} of {len(all_fields)} fields without a description: {undescribed}"


@pytest.mark.parametrize("version", versions())
def test_formatted_spec_fields_show_an_example_their_schema_accepts(version: str) -> None:
    spec_fields = [(path, schema) for path, schema in fields(openapi_schema(version)) if path.startswith("spec.")]
    with_format = [(path, schema, formatted(schema)) for path, schema in spec_fields if formatted(schema)]
    # The formats a user types: the adopted base key (hex), DHT nodes (host:port), the host image,
    # the volume size, client group names, the topic string.
    assert {p for p, _, _ in with_format} >= {"spec.baseKey", "spec.dht.bootstrap", "spec.bootstrapHost.image",
                                              "spec.bootstrapHost.storage.size", "spec.clients[].name"}
    missing, rejected = [], []
    for path, schema, pattern in with_format:
        shown = examples(schema["description"])
        if not shown:
            missing.append(path)
        rejected += [f"{path}: {value!r}" for value in shown if not re.search(pattern, value)]
    assert not missing, f"formatted fields without an example (e.g. \"...\") in their description: {missing}"
    assert not rejected, f"examples the field's own pattern refuses: {rejected}"


def test_the_example_check_is_not_vacuous() -> None:
    assert examples('Key as hex (e.g. "abc", "def"). Then "not this".') == ["abc", "def"]
    assert examples("No example here.") == []
    bad = {"pattern": "^[0-9a-f]{64}$", "description": 'Hex (e.g. "xyz").'}
    assert not re.search(formatted(bad) or "", examples(bad["description"])[0])


def test_the_condition_descriptions_name_every_condition_type() -> None:
    described = openapi_schema(versions()[0])["properties"]["status"]["properties"]["conditions"]
    for text in (described["description"], described["items"]["properties"]["type"]["description"]):
        named = set(re.findall(r"\b[A-Z][A-Za-z]+\b", text))
        assert set(conditions.ORDER) <= named, f"not described: {set(conditions.ORDER) - named}"
