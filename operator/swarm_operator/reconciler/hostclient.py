"""Read the bootstrap host's signed report: `GET http://<podIP>:<status port>/status`."""

from __future__ import annotations

import secrets
from typing import Any

import aiohttp

from .. import names
from ..hostreport import HostReport, HostReportError, verify_report
from ..reasons import R


def status_port(pod: dict[str, Any]) -> int:
    """The container port named `status` of the host container, as the pod spec says.

    Read from the pod rather than assumed, so any image honouring the host contract works.
    """
    for container in pod.get("spec", {}).get("containers", []):
        if container.get("name") != names.HOST_CONTAINER:
            continue
        for port in container.get("ports", []):
            if port.get("name") == names.STATUS_PORT_NAME:
                return int(port["containerPort"])
    return names.DEFAULT_STATUS_PORT


async def read_host_report(session: aiohttp.ClientSession, pod: dict[str, Any], public_key: str,
                           topic: str, wait: float = 5.0) -> HostReport:
    """The verified report, or HostReportError naming why it cannot be trusted or read.

    Every read asks with a fresh random nonce, which the host must sign into the payload.
    """
    ip = pod.get("status", {}).get("podIP")
    if not ip:
        raise HostReportError(R.HOST_UNREACHABLE, "the host pod has no IP yet")
    nonce = secrets.token_hex(32)
    url = f"http://{ip}:{status_port(pod)}/status"
    try:
        async with session.get(url, params={"nonce": nonce},
                               timeout=aiohttp.ClientTimeout(total=wait)) as rsp:
            body = await rsp.read()
            if rsp.status != 200:
                raise HostReportError(R.HOST_UNREACHABLE, f"GET {url} answered {rsp.status}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise HostReportError(R.HOST_UNREACHABLE, f"GET {url} failed: {exc!r}") from exc
    return verify_report(body, public_key, topic, nonce)
