"""A pod's status as the kubelet reports it: phase, IPs, conditions and container statuses.

PodScheduled is the scheduler's and is carried over unchanged; the kubelet owns
PodReadyToStartContainers, Initialized, ContainersReady and Ready. A condition keeps its
lastTransitionTime while its status stays the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .kubelet_container import ContainerRun, rfc3339

if TYPE_CHECKING:
    from .kubelet_pod import PodWorker


def _phase(worker: PodWorker) -> str:
    inits_done = all(c.terminated and c.terminated["exitCode"] == 0 for c in worker.inits)
    if any(c.terminated and c.terminated["exitCode"] != 0 for c in worker.inits):
        return "Failed"  # an init container failed and will not be restarted
    if worker.sandbox is None or not inits_done:
        return "Pending"
    mains = worker.mains
    if mains and all(c.terminated for c in mains):
        return "Succeeded" if all(c.terminated and c.terminated["exitCode"] == 0 for c in mains) else "Failed"
    if all(c.ever_started for c in mains):
        return "Running"
    return "Pending"


def _conditions(worker: PodWorker, old: dict[str, Any]) -> list[dict[str, Any]]:
    previous = {c["type"]: c for c in old.get("conditions", [])}
    inits_done = all(c.terminated and c.terminated["exitCode"] == 0 for c in worker.inits)
    ready = bool(worker.mains) and all(c.ready for c in worker.mains)

    def condition(ctype: str, value: bool, reason: str = "") -> dict[str, Any]:
        text = "True" if value else "False"
        before = previous.get(ctype)
        stamp = before["lastTransitionTime"] if before and before.get("status") == text else rfc3339()
        out = {"type": ctype, "status": text, "lastProbeTime": None, "lastTransitionTime": stamp}
        if not value and reason:
            out["reason"] = reason
        return out

    conditions = [condition("PodReadyToStartContainers", worker.sandbox is not None),
                  condition("Initialized", inits_done, "ContainersNotInitialized"),
                  condition("Ready", ready, "ContainersNotReady"),
                  condition("ContainersReady", ready, "ContainersNotReady")]
    if "PodScheduled" in previous:
        conditions.append(previous["PodScheduled"])
    return conditions


def _container_statuses(boxes: list[ContainerRun]) -> list[dict[str, Any]]:
    return [box.status() for box in boxes]


def pod_status(worker: PodWorker) -> dict[str, Any]:
    old = (worker.pod or {}).get("status") or {}
    status: dict[str, Any] = {
        "phase": _phase(worker),
        "hostIP": worker.ctx.node_ip, "hostIPs": [{"ip": worker.ctx.node_ip}],
        "startTime": old.get("startTime") or worker.start_time,
        "conditions": _conditions(worker, old),
        "containerStatuses": _container_statuses(worker.mains),
    }
    if worker.inits:
        status["initContainerStatuses"] = _container_statuses(worker.inits)
    if worker.ip:
        status["podIP"], status["podIPs"] = worker.ip, [{"ip": worker.ip}]
    if worker.pending:
        for entry in status["containerStatuses"]:
            if "waiting" in entry["state"]:
                entry["state"]["waiting"] = {"reason": worker.pending[0], "message": worker.pending[1]}
    return status
