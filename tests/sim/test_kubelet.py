"""`swarm-sim up` end to end with kubectl: real swarm-peer pods, stable addresses, config waits
and a clean shutdown that leaves no process behind (PVC lifetimes: e2e test_host_volume_wiped)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_support import wait_for

REPO = Path(__file__).resolve().parents[2]
KUBECTL = str(REPO / ".tools" / "bin" / "kubectl")


class Sim:
    def __init__(self, state: Path) -> None:
        self.state = state
        self.proc = subprocess.Popen([sys.executable, "-m", "simcluster", "up", "--state-dir", str(state),
                                      "--crds", str(REPO / "crds")],
                                     stdout=subprocess.PIPE, stderr=open(state.parent / "sim.log", "ab"), text=True)
        assert self.proc.stdout is not None
        self.info = json.loads(self.proc.stdout.readline())

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        out = subprocess.run([KUBECTL, *args], input=stdin, capture_output=True, text=True, timeout=60,
                             env=dict(os.environ, KUBECONFIG=self.info["kubeconfig"]))
        assert out.returncode == 0, out.stderr
        return out.stdout

    def get(self, *args: str) -> dict[str, Any] | None:
        out = subprocess.run([KUBECTL, "get", *args, "-o", "json"], capture_output=True, text=True, timeout=60,
                             env=dict(os.environ, KUBECONFIG=self.info["kubeconfig"]))
        return json.loads(out.stdout) if out.returncode == 0 else None


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Sim]:
    cluster = Sim(tmp_path / "state")
    yield cluster
    if cluster.proc.poll() is None:
        cluster.proc.kill()


def ready(pod: dict[str, Any] | None) -> bool:
    return bool(pod) and not pod["metadata"].get("deletionTimestamp") and any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def peers_of(state: Path) -> list[int]:
    """Live processes whose working directory is under this cluster's state dir."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(state) in os.readlink(proc / "cwd"):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def test_pods_run_restart_on_stable_ports_wait_for_config_and_stop_cleanly(sim: Sim) -> None:
    assert sim.info["url"].startswith("http://127.0.0.1:") and Path(sim.info["kubeconfig"]).exists()
    sim.kubectl("apply", "-f", str(REPO / "examples" / "dht.yaml"))
    pod = wait_for("the DHT pod Ready", lambda: (p := sim.get("pod", "swarm-dht-0")) and ready(p) and p)
    ports = pod["spec"]["containers"][0]["ports"]
    assert {p["name"] for p in ports} == {"dht", "status"} and all(p["containerPort"] != 49737 for p in ports)
    assert pod["status"]["podIP"] == "127.0.0.1"

    sim.kubectl("delete", "pod", "swarm-dht-0", "--wait=false")
    replaced = wait_for("a new DHT pod Ready", lambda: (p := sim.get("pod", "swarm-dht-0")) and ready(p)
                        and p["metadata"]["uid"] != pod["metadata"]["uid"] and p)
    assert replaced["spec"]["containers"][0]["ports"] == ports, "a restarted pod moved to other ports"

    client = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "waiting"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "waiting"}},
                 "template": {"metadata": {"labels": {"app": "waiting"}}, "spec": {"containers": [{
                     "name": "peer", "image": "ghcr.io/swarm-operator/swarm-peer:0.1.0", "args": ["dht-bootstrap"],
                     "env": [{"name": "SWARM_DHT_HOST", "valueFrom": {"configMapKeyRef": {"name": "later",
                                                                                          "key": "host"}}}]}]}}},
    }
    sim.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(client))

    def waiting_reason() -> str | None:
        pods = (sim.get("pods", "-l", "app=waiting") or {}).get("items", [])
        states = [s["state"] for p in pods for s in p["status"].get("containerStatuses", [])]
        return next((s["waiting"]["reason"] for s in states if "waiting" in s), None)
    assert wait_for("the config error", waiting_reason) == "CreateContainerConfigError"
    sim.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "later"}, "data": {"host": "127.0.0.1"}}))
    wait_for("the waiting pod started", lambda: all(
        ready(p) for p in (sim.get("pods", "-l", "app=waiting") or {"items": [None]})["items"]))

    assert peers_of(sim.state), "no peer process runs under the state dir"
    sim.proc.send_signal(signal.SIGTERM)
    assert sim.proc.wait(60) == 0
    assert wait_for("no process left", lambda: not peers_of(sim.state), timeout=15) is True
