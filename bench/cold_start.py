"""Cold starts of a SwarmTopic through the operator, side by side with the raw floor.

Operator: on the local cluster (real control plane and real node: kubelet + containerd, images
pulled from the local registry; the operator installed by the chart), `kubectl apply` of a topic
with N clients until the topic is Ready and all N client pods are Ready. Floor: the same
swarm-peer processes started by this script in the right order with no operator and no API server (DHT
node, host, wait for /readyz, read the key, then N clients with it). The floor's peers are local
processes while the operator's run in containers, so container start-up is counted against the
operator. Both run in this one process run, so their ratio is meaningful on a noisy machine; the
absolute figures are not. Prints p50/p95 of both, the ratio, and the distinct base keys the
clients reported (goal: 1 per topic, every time). Not a test: `make bench`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "e2e"))
sys.path.insert(0, str(REPO / "bench"))

from e2e_support import (  # noqa: E402 - the e2e harness lives beside the suite
    RESTRICTED,
    LocalCluster,
    client_reported_keys,
    ensure_dht,
    pod_ready,
    shared_local_cluster,
    topic_manifest,
    wait_for,
)
from swarm_operator.identity import new_seed  # noqa: E402
from timeline import Watcher  # noqa: E402 - beside this script

PEER_BIN = os.environ.get("SWARM_PEER_BIN", str(REPO / "images/swarm-peer/program/bin/swarm-peer.js"))


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def http_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as rsp:
        return json.loads(rsp.read())


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as rsp:
            return rsp.status == 200
    except OSError:
        return False


class Floor:
    """The raw floor: the peers started in the right order by hand, no operator."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.procs: list[subprocess.Popen[bytes]] = []
        self.dht_port = free_port(socket.SOCK_DGRAM)
        self.spawn(["dht-bootstrap", "--host", "127.0.0.1", "--port", str(self.dht_port)],
                   {"SWARM_STATUS_PORT": str(free_port())})
        time.sleep(0.5)

    def spawn(self, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(["node", PEER_BIN, *args], env={**os.environ, **env},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def cold_start(self, run: int, clients: int) -> tuple[float, set[str]]:
        topic = f"floor-{run}-{clients}"
        common = {"SWARM_TOPIC": topic, "SWARM_DHT_BOOTSTRAP": f"127.0.0.1:{self.dht_port}",
                  "SWARM_DHT_HOST": "127.0.0.1"}
        run_dir = Path(tempfile.mkdtemp(dir=self.work))
        seed_file = run_dir / "seed"
        seed_file.write_text(new_seed())
        # The topic's membership seed and encryption key, as the operator's Secrets hold them.
        for name in ("member-seed", "encryption-key"):
            (run_dir / name).write_text(new_seed())
        common.update(SWARM_MEMBER_SEED_FILE=str(run_dir / "member-seed"),
                      SWARM_ENCRYPTION_KEY_FILE=str(run_dir / "encryption-key"))
        started = time.monotonic()
        host_port = free_port()
        host = self.spawn(["host"], {**common, "SWARM_DATA_DIR": str(run_dir / "host"),
                                     "SWARM_IDENTITY_SEED_FILE": str(seed_file),
                                     "SWARM_STATUS_PORT": str(host_port)})
        wait_for("the floor host", lambda: ready(host_port), timeout=120, interval=0.05)
        envelope = http_json(f"http://127.0.0.1:{host_port}/status")
        base_key = json.loads(envelope["payload"])["baseKey"]
        ports = [free_port() for _ in range(clients)]
        client_procs = [self.spawn(["client"], {
            **common, "SWARM_DATA_DIR": str(run_dir / f"client-{i}"),
            "SWARM_STATUS_PORT": str(port), "SWARM_APP_PORT": str(free_port()), "SWARM_BASE_KEY": base_key,
            "SWARM_HOST_PUBLIC_KEY": envelope["publicKey"], "SWARM_REQUIRE_BOOTSTRAP": "true",
        }) for i, port in enumerate(ports)]
        wait_for("the floor clients", lambda: all(ready(p) for p in ports), timeout=300,
                 interval=0.05)
        seconds = time.monotonic() - started
        keys = {http_json(f"http://127.0.0.1:{p}/status")["baseKey"] for p in ports}
        for proc in [host, *client_procs]:
            stop(proc)
            self.procs.remove(proc)
        return seconds, keys

    def close(self) -> None:
        for proc in self.procs:
            stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def operator_cold_start(cluster: LocalCluster, watcher: Watcher, run: int,
                        clients: int) -> tuple[float, set[str], dict[str, float]]:
    ns, name = "bench", f"t{run}-{clients}"
    timeline = watcher.begin(name, clients)
    # Convergence is polled straight from the API server every 50 ms, as the floor polls its
    # peers: a kubectl process per poll would load the two cores and slow what it measures.
    topic_url = f"/apis/swarm-operator.dev/v1beta1/namespaces/{ns}/swarmtopics/{name}"
    pods_url = (f"/api/v1/namespaces/{ns}/pods?labelSelector=swarm-operator.dev/topic%3D{name},"
                "app.kubernetes.io/component%3Dclient")
    started = time.monotonic()
    cluster.apply(topic_manifest(name, ns, clients=clients))

    def converged() -> bool:
        try:
            topic = cluster.plane.get(topic_url)
        except OSError:
            return False
        conds = {c["type"]: c["status"] for c in topic.get("status", {}).get("conditions", [])}
        return conds.get("Ready") == "True" and sum(
            pod_ready(p) for p in cluster.plane.get(pods_url)["items"]) == clients
    wait_for(f"{name} Ready", converged, timeout=600, interval=0.05)
    seconds = time.monotonic() - started
    wait_for("the timeline's last milestone", lambda: "topic ready" in timeline.seen, timeout=10, interval=0.05)
    share = timeline.share()
    keys = set(client_reported_keys(cluster, name, ns))
    cluster.kubectl("delete", "swarmtopics.swarm-operator.dev", name, "-n", ns, "--wait=true")
    cluster.delete("pvc", f"data-{name}-host-0", ns)
    wait_for("the topic's pods gone", lambda: not cluster.pods(ns, f"swarm-operator.dev/topic={name}"),
             timeout=120)
    return seconds, keys, share


def report(label: str, figures: list[float]) -> str:
    return (f"{label:<10} n={len(figures):<3} p50={statistics.median(figures):7.2f}s "
            f"p95={percentile(figures, 0.95):7.2f}s")


def main() -> int:
    parser = argparse.ArgumentParser(description="cold start: operator vs raw floor")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--clients", type=int, nargs="+", default=[10, 50])
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="swarm-bench-"))
    floor = Floor(work / "floor")
    (work / "floor").mkdir(exist_ok=True)
    results: dict[int, dict[str, list[float]]] = {}
    shares: dict[int, list[dict[str, float]]] = {}
    distinct: dict[str, list[int]] = {"operator": [], "floor": []}
    try:
        cluster = shared_local_cluster()
        ensure_dht(cluster)
        cluster.create_namespace("bench", RESTRICTED)
        watcher = Watcher(cluster.plane, "bench")
        for clients in args.clients:
            results[clients] = {"operator": [], "floor": []}
            shares[clients] = []
            for run in range(args.runs):
                # Alternate which goes first so drift of the machine load hits both alike.
                order = ("operator", "floor") if run % 2 == 0 else ("floor", "operator")
                for kind in order:
                    if kind == "operator":
                        seconds, keys, share = operator_cold_start(cluster, watcher, run, clients)
                        shares[clients].append(share)
                    else:
                        seconds, keys = floor.cold_start(run, clients)
                    results[clients][kind].append(seconds)
                    distinct[kind].append(len(keys))
                    print(f"clients={clients} run={run + 1}/{args.runs} {kind:<8} "
                          f"{seconds:6.2f}s distinct_keys={len(keys)}", file=sys.stderr, flush=True)
    finally:
        floor.close()

    one, five, fifteen = os.getloadavg()
    print(f"cold start from apply to all clients Ready ({args.runs} runs each, one process run; machine: "
          f"{os.cpu_count()} CPUs, load average {one:.2f} {five:.2f} {fifteen:.2f} at the end)")
    for clients, figures in results.items():
        op, fl = figures["operator"], figures["floor"]
        print(f"-- {clients} clients")
        print(report("operator", op))
        print(report("floor", fl))
        print(f"ratio      p50={statistics.median(op) / statistics.median(fl):.2f}x "
              f"p95={percentile(op, 0.95) / percentile(fl, 0.95):.2f}x")
        print("operator's own share of apply -> Ready (time only the operator could act, p50 / p95 ms):")
        for step in shares[clients][0]:
            values = [1000 * s[step] for s in shares[clients]]
            print(f"  {step:<34} {statistics.median(values):8.0f} {percentile(values, 0.95):8.0f}")
    for kind, counts in distinct.items():
        print(f"distinct base keys per topic ({kind}): max={max(counts)} "
              f"total={sum(counts)} over {len(counts)} topics")
    return 0 if all(c == 1 for counts in distinct.values() for c in counts) else 1


if __name__ == "__main__":
    sys.exit(main())
