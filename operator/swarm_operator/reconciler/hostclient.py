"""Read the bootstrap host's signed report: `GET http://<podIP>:<status port>/status`."""

from __future__ import annotations

import secrets
from typing import Any

import aiohttp

from .. import names
from ..hostreport import HostReport, HostReportError, verify_report
from ..reasons import R


def host_of(pod: dict[str, Any]) -> tuple[Any, ...]:
    """What makes the host another one, or a restarted one: the pod, its IP, when it last turned
    Ready, its containers' restarts (not its every status update)."""
    status = pod.get("status") or {}
    ready = next((c.get("lastTransitionTime") for c in status.get("conditions") or [] if c.get("type") == "Ready"),
                 None)
    restarts = tuple(c.get("restartCount", 0) for c in status.get("containerStatuses") or [])
    return pod["metadata"].get("uid"), status.get("podIP"), ready, restarts


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
                           topic: str, wait: float = 5.0, long_poll: float = 0.0) -> HostReport:
    """The verified report, or HostReportError naming why it cannot be trusted or read.

    Every read asks with a fresh random nonce, which the host must sign into the payload. With
    `long_poll`, a host that has no report yet answers once it has one, or after that many seconds
    (`?wait=`; `wait` bounds the whole read).
    """
    ip = pod.get("status", {}).get("podIP")
    if not ip:
        raise HostReportError(R.HOST_UNREACHABLE, "the host pod has no IP yet")
    nonce = secrets.token_hex(32)
    url = f"http://{ip}:{status_port(pod)}/status"
    try:
        params = {"nonce": nonce, **({"wait": f"{long_poll:g}"} if long_poll > 0 else {})}
        async with session.get(url, params=params,
                               timeout=aiohttp.ClientTimeout(total=wait)) as rsp:
            body = await rsp.read()
            if rsp.status != 200:
                raise HostReportError(R.HOST_UNREACHABLE, f"GET {url} answered {rsp.status}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise HostReportError(R.HOST_UNREACHABLE, f"GET {url} failed: {exc!r}") from exc
    return verify_report(body, public_key, topic, nonce)
