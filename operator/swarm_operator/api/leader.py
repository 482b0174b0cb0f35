"""Leader election on a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does it.

A candidate tries to take the Lease every `retry` seconds. It may when nobody holds it, when it
holds it already (a restarted container keeps its pod's name, its identity), or when the holder
has not renewed it for `lease_seconds` as seen on this candidate's own clock (the time it last saw
the record change, never the holder's timestamps: clocks may differ). Updates carry the Lease's
resourceVersion, so of two candidates at most one wins. The leader renews every `retry` seconds;
if it cannot renew for `renew_deadline` seconds (shorter than `lease_seconds`), it has lost the
lease and must stop acting before anyone else may start. A leader that stops cleanly releases the
Lease (holder emptied), so its successor takes over at its next try.

With the defaults (10 s lease, 2 s retry) a standby takes over 8 to 12 s after the leader died
without releasing (SIGKILL, node lost), and at once after a clean stop.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from .client import Kube
from .errors import ApiConflict, ApiError
from .throttle import CRITICAL, PRIORITY

log = logging.getLogger(__name__)


def micro_time(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Election:
    """Who this candidate is and where the Lease lives."""

    path: str  # the Lease object's REST path
    identity: str
    lease_seconds: int = 10
    renew_deadline: float = 8.0
    retry: float = 2.0


@dataclass
class LeaderElector:
    kube: Kube
    election: Election
    leading: asyncio.Event = field(default_factory=asyncio.Event)
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    transitions: int = 0

    def __post_init__(self) -> None:
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._held: dict[str, Any] | None = None  # the Lease as this leader last wrote it

    async def run(self) -> None:
        """Campaign until elected, then renew until the lease is lost (`lost` is set) or cancelled."""
        PRIORITY.set(CRITICAL)  # this task's requests go before every topic's in the client's throttle
        e = self.election
        while True:
            if await self._try():
                break
            await asyncio.sleep(e.retry * random.uniform(1.0, 1.2))
        log.info("leader election: %s leads (%s)", e.identity, e.path)
        self.leading.set()
        renewed = time.monotonic()
        while True:
            await asyncio.sleep(e.retry)
            if await self._try():
                renewed = time.monotonic()
            elif time.monotonic() - renewed > e.renew_deadline:
                log.error("leader election: %s could not renew the lease for %.0fs: stepping down",
                          e.identity, e.renew_deadline)
                self.leading.clear()
                self.lost.set()
                return

    async def release(self) -> None:
        """Give the Lease up now (a clean stop), so a standby takes over at its next try."""
        if not self.leading.is_set():
            return
        self.leading.clear()
        self._held = None
        try:
            lease = await self.kube.get(self.election.path)
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.election.identity:
                return
            now = micro_time()
            lease["spec"].update(holderIdentity="", leaseDurationSeconds=1, renewTime=now)
            await self.kube.replace(self.election.path, lease)
            log.info("leader election: %s released the lease", self.election.identity)
        except (ApiError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("leader election: releasing the lease failed: %s", exc)

    async def _try(self) -> bool:
        """Take or renew the Lease once. True: this candidate holds it now.

        A leader renews with one request, the Lease it last wrote (its resourceVersion the
        precondition); a candidate, or a leader whose renewal met 409, reads the Lease first."""
        try:
            if self._held is not None:
                return await self._renew(self._held)
            lease = await self.kube.get(self.election.path)
            if lease is None:
                return self._wrote(await self.kube.create(self.election.path.rsplit("/", 1)[0], self._new_lease()))
            return await self._take(lease)
        except ApiConflict:  # another candidate wrote first
            self._held = None
            return False
        except (ApiError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            self._held = None
            log.warning("leader election: %s", exc)
            return False

    async def _renew(self, lease: dict[str, Any]) -> bool:
        lease["spec"]["renewTime"] = micro_time()
        return self._wrote(await self.kube.replace(self.election.path, lease))

    def _wrote(self, lease: dict[str, Any]) -> bool:
        spec = lease.get("spec") or {}
        self._observed = (spec.get("holderIdentity"), spec.get("renewTime"), spec.get("leaseTransitions"))
        self._observed_at = time.monotonic()
        self.transitions = int(spec.get("leaseTransitions") or 0)
        self._held = lease
        return True

    async def _take(self, lease: dict[str, Any]) -> bool:
        spec = lease.setdefault("spec", {})
        holder = spec.get("holderIdentity") or ""
        record = (holder, spec.get("renewTime"), spec.get("leaseTransitions"))
        if record != self._observed:
            self._observed, self._observed_at = record, time.monotonic()
        duration = float(spec.get("leaseDurationSeconds") or self.election.lease_seconds)
        mine = holder == self.election.identity
        if holder and not mine and time.monotonic() < self._observed_at + duration:
            return False  # held by someone who renewed within the lease
        now = micro_time()
        if not mine:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        spec.update(holderIdentity=self.election.identity, leaseDurationSeconds=self.election.lease_seconds,
                    renewTime=now)
        return self._wrote(await self.kube.replace(self.election.path, lease))

    def _new_lease(self) -> dict[str, Any]:
        name = self.election.path.rsplit("/", 1)[1]
        now = micro_time()
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name},
                "spec": {"holderIdentity": self.election.identity, "leaseDurationSeconds": self.election.lease_seconds,
                         "acquireTime": now, "renewTime": now, "leaseTransitions": 0}}
