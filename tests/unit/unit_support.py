"""Builders shared by the unit tests: a SwarmTopic as the API server returns it, and its spec."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "topic.yaml"
UID = "5e1f0c1e-1111-4222-8333-944455556666"
NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


def stamp(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_topic(spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None,
               age: float = 5.0) -> dict[str, Any]:
    example = yaml.safe_load(EXAMPLE.read_text())
    obj = {
        "apiVersion": example["apiVersion"],
        "kind": example["kind"],
        "metadata": {
            "name": "chat", "namespace": "apps", "uid": UID, "generation": 1, "resourceVersion": "42",
            "creationTimestamp": stamp(NOW - timedelta(seconds=age)),
        },
        "spec": copy.deepcopy(spec if spec is not None else example["spec"]),
    }
    if status is not None:
        obj["status"] = status
    return obj


@pytest.fixture
def topic() -> dict[str, Any]:
    return make_topic()
