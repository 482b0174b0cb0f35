"""The headless Service `<name>-host` of the host pods (their DNS names and status port)."""

from __future__ import annotations

from typing import Any

from .. import names
from .common import Inputs, metadata, with_spec_hash


def host_selector(topic_name: str) -> dict[str, str]:
    return {names.LABEL_TOPIC: topic_name, names.LABEL_COMPONENT: names.COMPONENT_HOST}


def host_service(inputs: Inputs) -> dict[str, Any]:
    name = inputs.name
    return with_spec_hash({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(inputs.topic, names.host_service(name), names.COMPONENT_HOST),
        "spec": {
            "clusterIP": "None",
            # The host is discoverable before it is Ready: its readiness is the announce itself.
            "publishNotReadyAddresses": True,
            "selector": host_selector(name),
            "ports": [{"name": names.STATUS_PORT_NAME, "port": names.DEFAULT_STATUS_PORT,
                       "targetPort": names.STATUS_PORT_NAME, "protocol": "TCP"}],
        },
    })
