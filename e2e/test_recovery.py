"""Namespace loss and restore (issue 21), with real peers: a topic with members writing, a member
outside the namespace (as in another cluster: it holds copies of the topic's member seed and
encryption key), the namespace deleted, `swarm-operator restore` into a new namespace. The base must
survive: the same base key, the old entries readable, new members admitted, and the outside member
sees their writes.

After a namespace loss every host starts on an empty disk; the restored topic's hosts start in
restore mode (the ConfigMap's `restore: "true"`, read as SWARM_RESTORE): each takes back its old
writer key from its identity seed and the nonce in the base's host slot, pulls its log back from the
outside member, and is the same indexer again (docs/operations.md, "A namespace was lost"). Then
restore mode goes off (`"false"`, no restart). Runs when E2E_RECOVERY=1; prints the restore's time
to Ready (goal: 60 s), what each host did, and the entries found after it.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from e2e_support import TOOLS_BIN, Cluster, client_pods, clients_ready, pod_http, pod_ready, wait_for, wait_ready
from test_trust import APP_PORT, STATUS_PORT, log_of, member_topic, peer_status

pytestmark = pytest.mark.skipif(os.environ.get("E2E_RECOVERY") != "1",
                                reason="a namespace lost and restored, with real peers (minutes): E2E_RECOVERY=1 "
                                "runs it")


def swarm_operator(cluster: Cluster, *args: str) -> str:
    kube = ["--kubeconfig", cluster.kubeconfig] if cluster.kubeconfig else []
    proc = subprocess.run([sys.executable, "-m", "swarm_operator", *args, *kube], capture_output=True, text=True,
                          timeout=360)
    assert proc.returncode == 0, f"swarm-operator {args[0]}: {proc.stdout}\n{proc.stderr}"
    return proc.stdout


def copy_secrets(cluster: Cluster, name: str, source: str, target: str) -> None:
    """The member seed and encryption key, as another cluster's member would hold them."""
    for suffix in ("member", "encryption"):
        secret = cluster.get_json("secrets", f"{name}-{suffix}", source)
        assert secret is not None
        cluster.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": secret["data"],
                       "metadata": {"name": f"outside-{suffix}", "namespace": target}})


def outside_member(ns: str, public: dict[str, str], image: str) -> dict[str, Any]:
    env = [{"name": k, "value": v} for k, v in (
        ("SWARM_TOPIC", public["topic"]), ("SWARM_BASE_KEY", public["baseKey"]),
        ("SWARM_HOST_PUBLIC_KEY", public["hostPublicKey"]), ("SWARM_DHT_BOOTSTRAP", public["dhtBootstrap"]),
        ("SWARM_REQUIRE_BOOTSTRAP", "true"), ("SWARM_DATA_DIR", "/data"), ("SWARM_APP_HOST", "0.0.0.0"),
        ("SWARM_WRITERS_POLICY", "Clients"), ("SWARM_MEMBER_SEED_FILE", "/member/invite-seed"),
        ("SWARM_ENCRYPTION_KEY_FILE", "/encryption/key"))]
    env.append({"name": "SWARM_DHT_HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "outside", "namespace": ns},
            "spec": {"containers": [{
                "name": "peer", "image": image, "args": ["client"], "env": env,
                "ports": [{"name": "status", "containerPort": STATUS_PORT}, {"name": "app", "containerPort": APP_PORT}],
                "volumeMounts": [{"name": "data", "mountPath": "/data"},
                                 {"name": "member", "mountPath": "/member", "readOnly": True},
                                 {"name": "encryption", "mountPath": "/encryption", "readOnly": True}]}],
                "volumes": [{"name": "data", "emptyDir": {}},
                            {"name": "member", "secret": {"secretName": "outside-member"}},
                            {"name": "encryption", "secret": {"secretName": "outside-encryption"}}]}}


def diagnose(cluster: Cluster, restored: str, outside: str) -> str:
    """What the restored hosts and the outside member said (a restore that did not get Ready)."""
    out = [cluster.kubectl("get", "pods,configmaps", "-n", restored, "-o", "wide", check=False)]
    for ns, pod in [*((restored, f"chat-host-{n}") for n in range(3)), (outside, "outside")]:
        logs = cluster.kubectl("logs", "-n", ns, pod, "--tail=40", check=False)
        if logs.strip():
            out.append(f"--- {ns}/{pod}:\n{logs}")
    return "\n".join(out)


def markers(pod: dict[str, Any] | None) -> set[str]:
    """The markers in a peer's view; none while it is not up (or not listening yet)."""
    if not pod or not pod_ready(pod):
        return set()
    try:
        return {str(e.get("marker")) for e in log_of(pod) if e.get("marker")}
    except (OSError, AssertionError):
        return set()


def append_all(pods: list[dict[str, Any]], prefix: str) -> set[str]:
    written = set()
    for i, pod in enumerate(pods):
        code, body = pod_http(pod, APP_PORT, "/append", {"marker": f"{prefix}-{i}"})
        assert code == 200, (pod["metadata"]["name"], code, body)
        written.add(f"{prefix}-{i}")
    return written


def test_a_deleted_namespace_is_restored_on_the_same_base(cluster: Cluster, ns: str) -> None:
    outside, restored = f"{ns}-outside"[:63], f"{ns}-restored"[:63]
    for extra in (outside, restored):
        cluster.kubectl("delete", "namespace", extra, "--ignore-not-found", "--wait=true")
    cluster.create_namespace(outside)
    try:
        _run(cluster, ns, outside, restored)
    finally:
        for extra in (outside, restored):
            cluster.kubectl("delete", "namespace", extra, "--wait=false", check=False)


def _run(cluster: Cluster, ns: str, outside: str, restored: str) -> None:
    manifest = member_topic("chat", ns, clients=2)
    cluster.apply(manifest)
    base_key = wait_ready(cluster, "chat", ns)["status"]["baseKey"]
    wait_for("2 clients", lambda: clients_ready(cluster, "chat", ns, 2))
    wait_for("2 writable members", lambda: all(peer_status(p)["writable"] for p in client_pods(cluster, "chat", ns)),
             timeout=90)
    before = append_all(client_pods(cluster, "chat", ns), "before")
    copy_secrets(cluster, "chat", ns, outside)
    public = cluster.get_json("configmaps", "chat-swarm", ns)["data"]
    image = manifest["spec"]["clients"][0]["template"]["spec"]["containers"][0]["image"]
    cluster.apply(outside_member(outside, public, image))

    def outside_pod() -> dict[str, Any] | None:
        return cluster.get_json("pods", "outside", outside)
    wait_for("the outside member holding the entries", lambda: before <= markers(outside_pod()), timeout=120)

    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "key.txt"
        keygen = TOOLS_BIN / "age-keygen"
        subprocess.run([str(keygen) if keygen.exists() else "age-keygen", "-o", str(key)], check=True,
                       capture_output=True)
        public_key = next(line.split(": ", 1)[1] for line in key.read_text().splitlines() if "public key" in line)
        swarm_operator(cluster, "backup", f"{ns}/chat", "-r", public_key, "-o", f"{tmp}/chat.age")
        cluster.kubectl("delete", "namespace", ns, "--wait=true", "--timeout=180s")
        assert before <= markers(outside_pod()), "the outside member lost the base"
        started = time.monotonic()
        try:
            out = swarm_operator(cluster, "restore", f"{tmp}/chat.age", "--identity", str(key), "-n", restored,
                                 "--create-namespace", "--wait", "--timeout", "240")
        except AssertionError:
            print(f"after {time.monotonic() - started:.0f} s:\n" + diagnose(cluster, restored, outside))
            raise
    print(f"\n{out.strip()}\nrestore to Ready: {time.monotonic() - started:.1f} s (goal 60 s)")
    topic = wait_ready(cluster, "chat", restored)
    assert topic["status"]["baseKey"] == base_key
    # Restore mode: every host took back its writer key, then the mode went off ("false").
    def finished() -> dict[str, Any] | None:
        found = ((cluster.get_json("swarmtopics", "chat", restored) or {}).get("status") or {}).get("restore") or {}
        return found if found.get("finishedAt") else None
    restore = wait_for("the restore finished", finished, timeout=120)
    print(f"restore: {restore}")
    hosts = len(topic["status"].get("hosts") or [None])  # status.hosts is absent with one host
    assert restore["restoredHosts"] == list(range(hosts)), restore
    assert cluster.get_json("configmaps", "chat-swarm", restored)["data"]["restore"] == "false"
    wait_for("2 restored clients", lambda: clients_ready(cluster, "chat", restored, 2), timeout=120)
    members = client_pods(cluster, "chat", restored)
    wait_for("the old entries in every restored member", lambda: all(before <= markers(p) for p in members),
             timeout=120)
    wait_for("the new members writable", lambda: all(peer_status(p)["writable"] for p in members), timeout=120)
    after = append_all(members, "after")
    wait_for("the outside member sees the new members' writes", lambda: after <= markers(outside_pod()),
             timeout=120)
    print(f"entries before: {len(before)}, after: {len(after)}, lost: {len(before - markers(members[0]))}")
    secret = cluster.get_json("secrets", "chat-encryption", restored)
    outside_key = cluster.get_json("secrets", "outside-encryption", outside)
    assert secret is not None and outside_key is not None
    assert base64.b64decode(secret["data"]["key"]) == base64.b64decode(outside_key["data"]["key"])
