"""One container of a pod as the kubelet tracks it: its runtime id, restarts and back-off, its
probes, and the containerStatus it reports (running, waiting with a reason, terminated with an
exit code; lastState after a restart).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .kubelet_probe import Prober

BACKOFF_RESET_AFTER = 600.0  # seconds a container must run for its back-off to start over


def rfc3339(epoch: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if epoch is None else epoch))


@dataclass
class ContainerRun:
    spec: dict[str, Any]
    init: bool = False
    id: str | None = None
    last_id: str | None = None  # the container that ran last (its logs stay readable)
    runtime: str = ""
    image_id: str = ""
    restarts: int = 0
    crashes: int = 0
    ever_started: bool = False
    started_at: str | None = None
    started_mono: float = 0.0
    next_start: float = 0.0
    waiting: tuple[str, str] | None = ("ContainerCreating", "")
    terminated: dict[str, Any] | None = None  # the final state: no restart follows
    last_state: dict[str, Any] | None = None
    ready: bool = False
    probes: dict[str, Prober] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    def attempt(self) -> None:
        """A start is about to be tried: every try after the first is a restart."""
        if self.ever_started:
            self.restarts += 1
        self.ever_started = True

    def on_started(self, container_id: str, image_id: str) -> None:
        self.id, self.image_id = container_id, image_id
        self.started_at, self.started_mono = rfc3339(), time.monotonic()
        self.waiting, self.terminated, self.ready = None, None, False
        self.probes = {kind: Prober(kind, self.spec[f"{kind}Probe"], self.spec, self.started_mono)
                       for kind in ("startup", "readiness", "liveness") if self.spec.get(f"{kind}Probe")}

    def on_exit(self, exit_code: int, restart: bool, backoff: tuple[float, float], reason: str | None = None,
                message: str = "", finished: float | None = None) -> None:
        """Record an exit; with `restart`, schedule the next start after the back-off."""
        term: dict[str, Any] = {"exitCode": exit_code, "reason": reason or ("Completed" if exit_code == 0 else "Error"),
                                "startedAt": self.started_at or rfc3339(), "finishedAt": rfc3339(finished)}
        if message:
            term["message"] = message[-1024:]
        if self.id:
            term["containerID"] = f"{self.runtime}://{self.id}"
        ran = time.monotonic() - self.started_mono if self.started_mono else 0.0
        self.last_id = self.id or self.last_id
        self.id, self.ready, self.probes = None, False, {}
        if not restart:
            self.terminated = term
            return
        self.last_state, self.terminated = term, None
        base, cap = backoff
        self.crashes = 1 if ran >= BACKOFF_RESET_AFTER else self.crashes + 1
        # The kubelet restarts at once after the first crash, then waits base, 2*base, ... up to cap.
        delay = 0.0 if self.crashes == 1 else min(cap, base * 2 ** (self.crashes - 2))
        self.next_start = time.monotonic() + delay
        self.waiting = ("CrashLoopBackOff", f"back-off {int(delay)}s restarting failed container={self.name}") \
            if delay > 0 else None

    def wait(self, reason: str, message: str, retry_in: float) -> None:
        self.waiting = (reason, message)
        self.next_start = time.monotonic() + retry_in

    def state(self) -> dict[str, Any]:
        if self.id:
            return {"running": {"startedAt": self.started_at}}
        if self.terminated:
            return {"terminated": self.terminated}
        reason, message = self.waiting or ("ContainerCreating", "")
        return {"waiting": {"reason": reason, **({"message": message} if message else {})}}

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "image": self.spec.get("image", ""), "imageID": self.image_id,
            "ready": self.ready, "restartCount": self.restarts, "started": self.id is not None,
            "state": self.state(), "lastState": {"terminated": self.last_state} if self.last_state else {},
        }
        if self.id:
            out["containerID"] = f"{self.runtime}://{self.id}"
        return out
