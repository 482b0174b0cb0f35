"""The operator's one read of a Secret, against the real API server as the chart's ServiceAccount:
metadata only (PartialObjectMetadata), so a Secret's data never reaches the operator process."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

from integration_support import Api
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from swarm_operator import owned
from swarm_operator.api.client import METADATA_ONLY, Kube

NS = "apps"


def test_secret_reads_carry_metadata_only(api: Api, operator_kubeconfig_path: Path) -> None:
    value = "cafe" * 16
    api.create(f"/api/v1/namespaces/{NS}/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "chat-identity", "namespace": NS},
        "data": {"seed": base64.b64encode(value.encode()).decode()}})
    configuration = k8s_client.Configuration()
    k8s_config.load_kube_config(config_file=str(operator_kubeconfig_path), client_configuration=configuration)
    path = owned.SECRET.path(NS, "chat-identity")

    async def read() -> tuple[dict, dict | None]:
        kube = Kube(configuration)
        try:
            raw = await kube.request("GET", path, accept=METADATA_ONLY)
            return raw, await kube.get(path, metadata_only=True)  # as observe reads a name past the caches
        finally:
            await kube.close()

    raw, meta = asyncio.run(read())
    assert raw["kind"] == "PartialObjectMetadata" and "data" not in raw
    assert value not in str(raw) and base64.b64encode(value.encode()).decode() not in str(raw)
    assert meta is not None and meta["metadata"]["name"] == "chat-identity" and meta["metadata"]["uid"]
