"""NetworkPolicies are enforced on the local cluster started with `--network-policy` (kube-router's
network-policy controller): a pod reaches another until a policy selects it, then only the peers
the policy allows do. Runs a real `localcluster up --network-policy --no-operator` of its own."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from localcluster.controlplane import BIN
from swarm_operator import __version__

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="a node needs root"),
    pytest.mark.skipif(not (BIN / "kube-router").exists() or shutil.which("podman") is None,
                       reason="no kube-router or podman: run make setup"),
    pytest.mark.timeout(600),
]
# The peer image the set-up built (this version's: no other is on a fresh machine); it has node, so a
# web server and a client in one line each.
IMAGE = f"ghcr.io/swarm-operator/swarm-peer:{__version__}"
SERVE = "require('http').createServer((q, r) => r.end('hello')).listen(8080)"
FETCH = ("fetch('http://' + process.argv[1] + ':8080', {signal: AbortSignal.timeout(3000)})"
         ".then(r => r.text()).then(t => console.log(t), e => { console.log('blocked'); })")


def _pod(name: str, labels: dict[str, str], command: list[str]) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"terminationGracePeriodSeconds": 0, "securityContext": {
                "runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [{"name": "main", "image": IMAGE, "command": command,
                                     "securityContext": {"allowPrivilegeEscalation": False,
                                                         "capabilities": {"drop": ["ALL"]}}}]}}


class Kubectl:
    def __init__(self, kubeconfig: str, namespace: str) -> None:
        self.base = [str(BIN / "kubectl"), "--kubeconfig", kubeconfig, "-n", namespace]

    def __call__(self, *args: str, input: str | None = None) -> str:
        return subprocess.run([*self.base, *args], input=input, capture_output=True, text=True, check=True,
                              timeout=120).stdout

    def fetch(self, client: str, ip: str) -> str:
        return self("exec", client, "--", "node", "-e", FETCH, ip).strip()

    def eventually(self, client: str, ip: str, expected: str, seconds: float = 60) -> str:
        """kube-router applies a policy within its sync: poll until the answer is `expected`."""
        deadline, answer = time.monotonic() + seconds, ""
        while time.monotonic() < deadline:
            answer = self.fetch(client, ip)
            if answer == expected:
                break
            time.sleep(1)
        return answer


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> object:
    log = tmp_path_factory.mktemp("netpol") / "up.log"
    proc = subprocess.Popen([sys.executable, "-m", "localcluster", "up", "--no-operator", "--network-policy"],
                            stdout=subprocess.PIPE, stderr=log.open("w"), text=True, start_new_session=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    try:
        assert line.startswith("KUBECONFIG="), f"localcluster up said {line!r}:\n{Path(log).read_text()[-3000:]}"
        yield line.strip().split("=", 1)[1]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(240) == 0, Path(log).read_text()[-3000:]
    left = [line for line in subprocess.run(["iptables-save"], capture_output=True, text=True).stdout.splitlines()
            if "KUBE-" in line]
    assert not left, f"the policy controller's rules outlived the cluster: {left[:5]}"


def test_a_policy_selecting_a_pod_lets_only_the_allowed_peers_in(cluster: str) -> None:
    kubectl = Kubectl(cluster, "default")
    pods = [_pod("web", {"app": "web"}, ["node", "-e", SERVE]),
            _pod("friend", {"role": "friend"}, ["sleep", "3600"]),
            _pod("stranger", {"role": "stranger"}, ["sleep", "3600"])]
    kubectl("apply", "-f", "-", input="\n---\n".join(json.dumps(p) for p in pods))
    kubectl("wait", "--for=condition=Ready", "pod/web", "pod/friend", "pod/stranger", "--timeout=120s")
    ip = kubectl("get", "pod", "web", "-o", "jsonpath={.status.podIP}")
    assert kubectl.eventually("stranger", ip, "hello", 30) == "hello", "no policy yet: everyone gets in"

    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "friends-only"},
              "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"],
                       "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "friend"}}}]}]}}
    kubectl("apply", "-f", "-", input=json.dumps(policy))
    assert kubectl.eventually("stranger", ip, "blocked") == "blocked", "the policy is not enforced"
    assert kubectl.fetch("friend", ip) == "hello", "the policy blocks the peer it allows"

    kubectl("delete", "networkpolicy", "friends-only")
    assert kubectl.eventually("stranger", ip, "hello") == "hello", "the policy outlived its deletion"
