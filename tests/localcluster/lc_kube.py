"""What the node tests ask of the cluster: the real kubectl, and waiting for a condition."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localcluster.controlplane import BIN


class Kube:
    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        proc = subprocess.run([str(BIN / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args], input=input,
                              capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr}")
        return proc.stdout

    def apply(self, ns: str, manifest: str) -> None:
        self.kubectl("apply", "-n", ns, "-f", "-", input=manifest)

    def get(self, path: str) -> dict[str, Any] | None:
        proc = subprocess.run([str(BIN / "kubectl"), "--kubeconfig", str(self.kubeconfig), "get", "--raw", path],
                              capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            if "NotFound" in proc.stderr or "not found" in proc.stderr:
                return None
            raise AssertionError(proc.stderr)
        return dict(json.loads(proc.stdout))

    def pod(self, ns: str, name: str) -> dict[str, Any] | None:
        return self.get(f"/api/v1/namespaces/{ns}/pods/{name}")

    def node_ready(self, name: str) -> bool:
        node = self.get(f"/api/v1/nodes/{name}")
        conditions = ((node or {}).get("status") or {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def wait(self, predicate: Callable[[], Any], timeout: float, what: str,
             proc: subprocess.Popen[bytes] | None = None) -> Any:
        """Poll `predicate` until it returns something truthy (a deadline, not a timing assertion)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"the kubelet exited ({proc.returncode}) while waiting for {what}")
            result = predicate()
            if result:
                return result
            time.sleep(0.5)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def wait_pod(self, ns: str, name: str, predicate: Callable[[dict[str, Any]], bool], timeout: float,
                 what: str) -> dict[str, Any]:
        last: dict[str, Any] = {}

        def check() -> dict[str, Any] | None:
            nonlocal last
            pod = self.pod(ns, name)
            last = pod or {}
            return pod if pod is not None and predicate(pod) else None

        try:
            return dict(self.wait(check, timeout, f"{ns}/{name}: {what}"))
        except AssertionError as err:
            raise AssertionError(f"{err}\nlast status: {json.dumps(last.get('status'), indent=1)}") from None


def ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def phase(pod: dict[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase", ""))


def container(pod: dict[str, Any], index: int = 0) -> dict[str, Any]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    return dict(statuses[index])
