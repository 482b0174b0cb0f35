"""Cold starts of a SwarmTopic through the operator, side by side with two floors.

Operator: on the local cluster (real control plane and real node: kubelet + containerd, images
pulled from the local registry; the operator installed by the chart), `kubectl apply` of a topic
with N clients until the topic is Ready and all N client pods are Ready. Container floor
(bench/container_floor.py): the same swarm-peer image started by hand with podman, one container
per peer, in the right order (host, wait for /readyz, read the key, then N clients with the env
the operator's pods get): what the pods cost without Kubernetes. Process floor: the same swarm-peer
program run as plain processes in that order (DHT node, host, wait for /readyz, read the key, then
N clients with it). All three run in this one process run, their order rotating from run to run,
so their ratios are meaningful on a noisy machine; the absolute figures are not. Prints p50/p95 of
each, the ratios operator/container floor and operator/process floor, where each second of the
operator's apply -> all clients Ready went (bench/timeline.py: control plane, operator, node,
peer, probe), and the distinct base keys the clients reported (goal: 1 per topic, every time).
Not a test: `make bench`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "e2e"))
sys.path.insert(0, str(REPO / "bench"))

from container_floor import ContainerFloor, peer_json, peer_ready  # noqa: E402 - beside this script
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
from timeline import Timeline, Watcher, epoch, log_marks  # noqa: E402 - beside this script

PEER_BIN = os.environ.get("SWARM_PEER_BIN", str(REPO / "images/swarm-peer/program/bin/swarm-peer.js"))


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ready(port: int) -> bool:
    return peer_ready(f"http://127.0.0.1:{port}")


class Floor:
    """The raw floor: the peers started in the right order by hand, no operator."""

    def __init__(self, work: Path, extra_bootstrap: tuple[str, ...] = ()) -> None:
        self.work = work
        self.extra_bootstrap = extra_bootstrap
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
        common = {"SWARM_TOPIC": topic, "SWARM_DHT_BOOTSTRAP": ",".join([f"127.0.0.1:{self.dht_port}",
                                                                        *self.extra_bootstrap]),
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
        envelope = peer_json(f"http://127.0.0.1:{host_port}", "/status")
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
        keys = {peer_json(f"http://127.0.0.1:{p}", "/status")["baseKey"] for p in ports}
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


def peer_marks(cluster: LocalCluster, ns: str, pod: str, messages: tuple[str, ...]) -> dict[str, float]:
    """Epoch seconds: the program's first log line ("started"), the first line of each of `messages`
    and its container's `state.running.startedAt` ("container", a one-second timestamp)."""
    marks = log_marks(cluster.kubectl("logs", pod, "-n", ns), messages)
    for status in ((cluster.get_json("pods", pod, ns) or {}).get("status") or {}).get("containerStatuses", []):
        running = (status.get("state") or {}).get("running")
        if running:
            marks["container"] = epoch(running["startedAt"])
    return marks


def record_peers(cluster: LocalCluster, ns: str, name: str, timeline: Timeline) -> None:
    """The host's and the last client's own moments, from their logs, into the timeline: the host's
    announce flushed (its /readyz true) and the client's base replicated (its /readyz true)."""
    host = peer_marks(cluster, ns, f"{name}-host-0", ("announced",))
    for key, milestone in (("started", "host started"), ("announced", "host announced"),
                           ("container", "host container")):
        if key in host:
            timeline.mark(milestone, timeline.from_wall(host[key]))
    last = timeline.last_client()
    if last is not None:
        client = peer_marks(cluster, ns, last, ("replicated",))
        pod = timeline.pods.setdefault(last, {})
        for key in ("started", "replicated", "container"):
            if key in client:
                pod.setdefault(key, timeline.from_wall(client[key]))


def manifest(name: str, ns: str, clients: int, extra_bootstrap: tuple[str, ...]) -> dict[str, Any]:
    """examples/topic.yaml as the e2e cases use it, with `extra_bootstrap` after its DHT node."""
    obj = topic_manifest(name, ns, clients=clients)
    dht = obj["spec"].setdefault("dht", {})
    dht["bootstrap"] = [*dht.get("bootstrap", []), *extra_bootstrap]
    return obj


def operator_cold_start(cluster: LocalCluster, watcher: Watcher, run: int, clients: int,
                        extra_bootstrap: tuple[str, ...] = ()) -> tuple[float, set[str], Timeline]:
    ns, name = "bench", f"t{run}-{clients}"
    timeline = watcher.begin(name, clients)
    # Convergence is polled straight from the API server every 50 ms, as the floor polls its
    # peers: a kubectl process per poll would load the two cores and slow what it measures.
    topic_url = f"/apis/swarm-operator.dev/v1beta1/namespaces/{ns}/swarmtopics/{name}"
    pods_url = (f"/api/v1/namespaces/{ns}/pods?labelSelector=swarm-operator.dev/topic%3D{name},"
                "app.kubernetes.io/component%3Dclient")
    started = time.monotonic()
    timeline.mark("applied", started)
    cluster.apply(manifest(name, ns, clients, extra_bootstrap))

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
    timeline.mark("converged", started + seconds)
    wait_for("the timeline's last milestone", lambda: "topic ready" in timeline.seen, timeout=10, interval=0.05)
    record_peers(cluster, ns, name, timeline)
    keys = set(client_reported_keys(cluster, name, ns))
    cluster.kubectl("delete", "swarmtopics.swarm-operator.dev", name, "-n", ns, "--wait=true")
    cluster.delete("pvc", f"data-{name}-host-0", ns)
    wait_for("the topic's pods gone", lambda: not cluster.pods(ns, f"swarm-operator.dev/topic={name}"),
             timeout=120)
    return seconds, keys, timeline


def report(label: str, figures: list[float]) -> str:
    return (f"{label:<16} n={len(figures):<3} p50={statistics.median(figures):7.2f}s "
            f"p95={percentile(figures, 0.95):7.2f}s")


def p50_table(rows: list[dict[str, float]], scale: float = 1.0) -> list[tuple[str, float, float]]:
    """(key, p50, p95) of each key of the rows (in the first row's order), NaNs left out."""
    out = []
    for key in rows[0]:
        values = [scale * r[key] for r in rows if key in r and not math.isnan(r[key])]
        if values:
            out.append((key, statistics.median(values), percentile(values, 0.95)))
    return out


KINDS = ("operator", "container floor", "process floor")


@dataclass
class Results:
    """Everything one `clients` figure gathers over its runs."""

    seconds: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    shares: list[dict[str, float]] = field(default_factory=list)
    breakdowns: list[dict[str, float]] = field(default_factory=list)
    phases: list[dict[str, float]] = field(default_factory=list)
    ahead: list[float] = field(default_factory=list)  # the Deployment before the host pod's Ready, s


def one_run(kind: str, run: int, clients: int, res: Results, ctx: dict[str, Any]) -> set[str]:
    """One cold start of `kind`, its figures into `res`; the clients' base keys."""
    if kind == "operator":
        seconds, keys, timeline = operator_cold_start(ctx["cluster"], ctx["watcher"], run, clients,
                                                      ctx["extra_bootstrap"])
        res.shares.append(timeline.share())
        res.breakdowns.append(timeline.breakdown())
        res.ahead.append(timeline.ahead_of_ready())
        cats = " ".join(f"{k[2:]}={v:.2f}" for k, v in res.breakdowns[-1].items() if k.startswith("= "))
        print(f"    breakdown: {cats}", file=sys.stderr, flush=True)
    elif kind == "container floor":
        seconds, keys, phases = ctx["containers"].cold_start(run, clients, manifest(f"c{run}", "bench", clients, ()))
        res.phases.append(phases)
    else:
        seconds, keys = ctx["processes"].cold_start(run, clients)
    res.seconds[kind].append(seconds)
    return keys


def print_results(clients: int, res: Results) -> None:
    op, cf, pf = (res.seconds[k] for k in KINDS)
    print(f"-- {clients} clients")
    for kind in KINDS:
        print(report(kind, res.seconds[kind]))
    for floor, figures in (("container floor", cf), ("process floor", pf)):
        print(f"operator/{floor:<16} p50={statistics.median(op) / statistics.median(figures):.2f}x "
              f"p95={percentile(op, 0.95) / percentile(figures, 0.95):.2f}x")
    print("container floor, from the host's `podman run` (p50 / p95 s):")
    for key, p50, p95 in p50_table(res.phases):
        print(f"  {key:<40} {p50:7.2f} {p95:7.2f}")
    print("where apply -> all clients Ready went (critical path: the host, then the last client Ready;\n"
          "  '= ' lines sum each kind of segment, '~ ' lines are coarse (the API's 1 s timestamps),\n"
          "  the rest come from watch arrivals and the peers' own log lines; p50 / p95 s):")
    for key, p50, p95 in p50_table(res.breakdowns):
        print(f"  {key:<46} {p50:7.2f} {p95:7.2f}")
    print("operator's own share of apply -> Ready (time only the operator could act, p50 / p95 ms):")
    for key, p50, p95 in p50_table(res.shares, 1000):
        print(f"  {key:<34} {p50:8.0f} {p95:8.0f}")
    early = sorted(a for a in res.ahead if a > 0)
    print(f"the key read from the host's report before its pod's Ready (the clients' Deployment made first): "
          f"{len(early)} of {len(res.ahead)} runs" + (f", by {statistics.median(early):.2f} s p50 "
                                                       f"(max {early[-1]:.2f} s)" if early else ""))


def terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # so that the floors' `finally` removes what they made


UNANSWERED = "10.250.99.99:49737"  # routed nowhere on these machines: its packets are dropped, never refused


def main() -> int:
    parser = argparse.ArgumentParser(description="cold start: operator vs its container and process floors")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--clients", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--unanswered-bootstrap", metavar="HOST:PORT", action="append", default=[],
                        help="one more DHT bootstrap address for every peer, which nobody answers (e.g. "
                        f"{UNANSWERED}): the host's first announce then waits for it, as on a distant DHT")
    args = parser.parse_args()
    extra = tuple(args.unanswered_bootstrap)
    signal.signal(signal.SIGTERM, terminate)

    work = Path(tempfile.mkdtemp(prefix="swarm-bench-"))
    (work / "floor").mkdir()
    results: dict[int, Results] = {}
    distinct: dict[str, list[int]] = {k: [] for k in KINDS}
    ctx: dict[str, Any] = {"processes": Floor(work / "floor", extra), "extra_bootstrap": extra}
    try:
        ctx["containers"] = ContainerFloor(work / "containers", extra_bootstrap=extra)
        ctx["cluster"] = cluster = shared_local_cluster()
        ensure_dht(cluster)
        cluster.create_namespace("bench", RESTRICTED)
        ctx["watcher"] = Watcher(cluster.plane, "bench")
        for clients in args.clients:
            results[clients] = res = Results()
            for run in range(args.runs):
                # Rotate which goes first so drift of the machine load hits all three alike.
                for kind in KINDS[run % 3:] + KINDS[:run % 3]:
                    keys = one_run(kind, run, clients, res, ctx)
                    distinct[kind].append(len(keys))
                    print(f"clients={clients} run={run + 1}/{args.runs} {kind:<16} "
                          f"{res.seconds[kind][-1]:6.2f}s distinct_keys={len(keys)}", file=sys.stderr, flush=True)
    finally:
        ctx["processes"].close()
        if "containers" in ctx:
            ctx["containers"].close()
        shutil.rmtree(work, ignore_errors=True)

    one, five, fifteen = os.getloadavg()
    print(f"cold start from apply to all clients Ready ({args.runs} runs each, one process run; machine: "
          f"{os.cpu_count()} CPUs, load average {one:.2f} {five:.2f} {fifteen:.2f} at the end)")
    for clients, res in results.items():
        print_results(clients, res)
    for kind, counts in distinct.items():
        print(f"distinct base keys per topic ({kind}): max={max(counts)} "
              f"total={sum(counts)} over {len(counts)} topics")
    return 0 if all(c == 1 for counts in distinct.values() for c in counts) else 1


if __name__ == "__main__":
    sys.exit(main())
