"""The PodDisruptionBudget `<name>-host` of several hosts: a voluntary disruption (a drain, an
eviction) takes at most one host at a time, so the others keep a majority of the indexers."""

from __future__ import annotations

from typing import Any

from .. import names
from .common import Inputs, metadata, with_spec_hash
from .service import host_selector


def host_disruption_budget(inputs: Inputs) -> dict[str, Any] | None:
    """None with one host (it has no majority to keep)."""
    if not inputs.several_hosts:
        return None
    return with_spec_hash({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(inputs.topic, names.host_disruption_budget(inputs.name), names.COMPONENT_HOST),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": host_selector(inputs.name)}},
    })
