"""A node leaves nothing behind: the machine (node processes, mounts, links, network namespaces,
nftables/iptables rules, cgroups, kernel settings, the kubelet's and CNI's paths) is compared
before `localcluster up` and after it stopped, on SIGTERM and after a SIGKILL followed by
`localcluster down`. Each run is a real `localcluster up` (control plane, registry, node, add-ons,
the private DHT) in a process of its own."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from localcluster import machine
from localcluster.controlplane import BIN
from localcluster.node import LOCK

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="a node needs root"),
    pytest.mark.skipif(not (BIN / "kubelet").exists() or shutil.which("podman") is None,
                       reason="no node binaries or podman: run make setup"),
    pytest.mark.timeout(600),
]


def _up(log: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "localcluster", "up", "--no-operator"], stdout=subprocess.PIPE,
                            stderr=log.open("w"), text=True, start_new_session=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # KUBECONFIG=... once everything is Ready
    if not line.startswith("KUBECONFIG="):
        proc.send_signal(signal.SIGTERM)  # whatever it started goes
        proc.wait(240)
        raise AssertionError(f"localcluster up said {line!r}:\n{log.read_text()[-3000:]}")
    return proc


def _node_is_visible(before: dict[str, object]) -> None:
    """While the node runs, the check sees it (so an empty difference later means something)."""
    during = machine.diff(before, machine.snapshot())  # type: ignore[arg-type]
    for expected in ("links + cni-swarm0", "processes + kubelet", "processes + containerd-shim-runc-v2",
                     "cgroups + ", "mounts + /var/lib/swarm-node/kubelet"):
        assert any(line.startswith(expected) for line in during), f"{expected!r} not in {during}"


def _settled(before: dict[str, object], timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        left = machine.diff(before, machine.snapshot())  # type: ignore[arg-type]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(1)


def test_a_stopped_cluster_leaves_the_machine_as_it_was(tmp_path: Path) -> None:
    before = machine.snapshot()
    proc = _up(tmp_path / "up.log")
    try:
        _node_is_visible(before)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(240) == 0, (tmp_path / "up.log").read_text()[-3000:]
    assert _settled(before) == []


def test_down_after_a_killed_run_leaves_the_machine_as_it_was(tmp_path: Path) -> None:
    before = machine.snapshot()
    proc = _up(tmp_path / "up.log")
    os.killpg(proc.pid, signal.SIGKILL)  # the harness and its process group, at once
    proc.wait(30)
    time.sleep(1)
    left = machine.diff(before, machine.snapshot())
    assert any("containerd-shim" in line for line in left), f"a kill leaves the pods' shims running: {left}"
    assert not LOCK.exists() or not os.path.exists(f"/proc/{LOCK.read_text().strip() or 0}")
    down = subprocess.run([sys.executable, "-m", "localcluster", "down"], capture_output=True, text=True, timeout=300)
    assert down.returncode == 0, down.stderr
    assert _settled(before) == [], down.stdout
