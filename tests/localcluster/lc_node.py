"""The kubelets under test: how the tests start and stop them, and what a test knows of one."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from localcluster.controlplane import REPO
from localcluster.runtime_podman import podman_env


def kubelet_command(kubeconfig: Path, runtime: str, state: Path, node: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "localcluster.kubelet", "--kubeconfig", str(kubeconfig), "--runtime", runtime,
            "--state-dir", str(state), "--node-name", node, "--backoff", "1", "--backoff-max", "4", "-v", *extra]


def start_kubelet(kubeconfig: Path, runtime: str, state: Path, node: str, *extra: str) -> subprocess.Popen[bytes]:
    state.mkdir(parents=True, exist_ok=True)
    env = {**podman_env(), "PYTHONPATH": str(REPO / "e2e")}
    with open(state / "kubelet.log", "ab") as log:
        return subprocess.Popen(kubelet_command(kubeconfig, runtime, state, node, *extra), stdout=log,
                                stderr=subprocess.STDOUT, env=env, cwd=REPO)


def stop_process(proc: subprocess.Popen[bytes], grace: float = 60.0) -> int:
    proc.terminate()
    try:
        return proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


@dataclass(frozen=True)
class Node:
    """The kubelet under test: its node name, runtime and the network its pods' IPs are on."""

    name: str
    runtime: str
    network: ipaddress.IPv4Network
    state: Path


@dataclass(frozen=True)
class Where:
    ns: str
    node: Node
