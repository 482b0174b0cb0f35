"""The ConfigMap `<name>-swarm`: what the clients (and, once recorded, the host) read. The base key
is kept outside status here, and only once recorded (or adopted); `restore` on a restored topic
("true" while its hosts first start, then "false")."""

from __future__ import annotations

from typing import Any

from .. import names
from .common import Inputs, metadata, with_spec_hash


def swarm_configmap(inputs: Inputs) -> dict[str, Any]:
    name = inputs.name
    data = {
        names.CM_TOPIC: inputs.spec.topic_of(name),
        names.CM_HOST_PUBLIC_KEY: inputs.host_public_key,
        names.CM_DHT_BOOTSTRAP: ",".join(inputs.spec.dht.bootstrap),
    }
    if inputs.base_key:
        data[names.CM_BASE_KEY] = inputs.base_key
    if inputs.restore is not None:  # "true" for a restored topic's hosts until each reported (planner/restore.py)
        data[names.CM_RESTORE] = inputs.restore
    meta = metadata(inputs.topic, names.swarm_configmap(name), names.COMPONENT_HOST)
    return with_spec_hash({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})
