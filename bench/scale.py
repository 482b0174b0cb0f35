"""The operator at scale: N SwarmTopics at once on the real control plane. Not a test:
`make bench-scale` (1,000 topics), `make bench-scale BENCH_ARGS="--topics 10000"`.

The local cluster's control plane (kube-apiserver, controller-manager, scheduler, etcd: the real
ones) with kwok nodes (`e2e/localcluster/kwok.py`): the topics' pods select them, kwok marks them
Running/Ready with an address of its CIDR without running anything, and this script serves every
host's signed `/status` on that address (`bench/fakehosts.py`: the CIDR is routed into a network
namespace of the script's own, where one socket answers for every address). The operator runs as
a local process holding a token of the chart's ServiceAccount (exactly the pod's rights). The
topics (10 namespaces, one client group of 5) are created at once; then the script prints:
- seconds to all keys recorded and all client Deployments created (wanting their replicas), and
  to all topics Ready;
- API requests per topic from apply to Ready, counted in the API server's audit log by the
  operator's user;
- the operator's peak RSS and CPU seconds;
- idle requests per minute and idle operator CPU over a few idle minutes;
- host pod Ready -> status.baseKey p50/p95 during the burst (both seen by this script's watches).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from fakehosts import FakeHosts  # noqa: E402 - beside this script
from kubeapi import Api, ApiError, load_kubeconfig  # noqa: E402
from localcluster.controlplane import ControlPlane  # noqa: E402 - the local cluster's package (e2e/pyproject.toml)
from localcluster.kwok import CIDR, LABEL, Kwok  # noqa: E402
from localcluster.testing import OPERATOR_NAMESPACE, OPERATOR_USER, operator_kubeconfig, shared_control_plane  # noqa: E402

GROUP_PATH = "/apis/swarm-operator.dev/v1beta1"
HOST_PODS = "app.kubernetes.io/component=bootstrap-host,app.kubernetes.io/managed-by=swarm-operator"
CLIENT_DEPLOYMENTS = "app.kubernetes.io/component=client,app.kubernetes.io/managed-by=swarm-operator"
TICK = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def topic_body(name: str, namespace: str, clients: int) -> dict[str, Any]:
    scale = {"spec": {"nodeSelector": {LABEL[0]: LABEL[1]}}}  # on kwok's nodes
    return {
        "apiVersion": "swarm-operator.dev/v1beta1", "kind": "SwarmTopic",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "topic": name,
            "dht": {"bootstrap": ["127.0.0.1:49737"]},
            "bootstrapHost": {"storage": {"size": "1Mi"}, "template": scale},
            "clients": [{"name": "kv", "replicas": clients, "template": {"spec": {
                **scale["spec"], "containers": [{"name": "peer", "image": "ghcr.io/swarm-operator/swarm-peer:0.1.0",
                                                 "args": ["client"]}]}}}],
        },
    }


class OperatorProcess:
    """`python -m swarm_operator run` with the chart's ServiceAccount; its CPU and RSS from /proc."""

    def __init__(self, plane: ControlPlane, log: Path, interval: float, workers: int) -> None:
        env = dict(os.environ, KUBECONFIG=str(operator_kubeconfig(plane)))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "swarm_operator", "run", "--all-namespaces", "--metrics-port", "0",
             "--liveness-port", "0", "--reconcile-interval", str(interval), "--workers", str(workers),
             "--leader-election-namespace", OPERATOR_NAMESPACE, "--leader-identity", "bench"],
            stdout=open(log, "ab"), stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


KWOK_NODES = 4  # kwok's nodes (110 pods each by default on a real node: here max_pods each)


def start_kwok(plane: ControlPlane, state: Path, max_pods: int) -> Kwok:
    kwok = Kwok(plane, state / "logs")
    kwok.start([f"kwok-{i}" for i in range(KWOK_NODES)], max_pods=max_pods // KWOK_NODES + 1)
    return kwok


def _audit_lines(audit_log: Path) -> Iterator[str]:
    """Every line of the audit log, its rotated files (100 MB each) first."""
    for path in [*sorted(audit_log.parent.glob(f"{audit_log.stem}-*{audit_log.suffix}")), audit_log]:
        with open(path, errors="replace") as lines:
            yield from lines


def operator_requests(audit_log: Path, start: float, end: float, split_leases: bool = False) -> Any:
    """Distinct requests of the operator's user received in [start, end) (wall-clock seconds);
    with `split_leases`, also how many of them were on its leader Lease."""
    seen: set[str] = set()
    leases: set[str] = set()
    for line in _audit_lines(audit_log):
        if OPERATOR_USER not in line:
            continue
        event = json.loads(line)
        if event.get("user", {}).get("username") != OPERATOR_USER:
            continue
        received = datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00")).timestamp()
        if start <= received < end:
            seen.add(event["auditID"])
            if (event.get("objectRef") or {}).get("resource") == "leases":
                leases.add(event["auditID"])
    return (len(seen), len(leases)) if split_leases else len(seen)


@dataclass
class Seen:
    """First moments this script saw each topic's milestones (time.time())."""

    host_ready: dict[tuple[str, str], float] = field(default_factory=dict)
    key: dict[tuple[str, str], float] = field(default_factory=dict)
    ready: dict[tuple[str, str], float] = field(default_factory=dict)
    clients: dict[tuple[str, str], float] = field(default_factory=dict)

    def pod(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        topic = meta.get("labels", {}).get("swarm-operator.dev/topic")
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (pod.get("status") or {}).get("conditions") or [])
        if topic and ready:
            self.host_ready.setdefault((meta["namespace"], topic), time.time())

    def topic(self, topic: dict[str, Any]) -> None:
        key, status = (topic["metadata"]["namespace"], topic["metadata"]["name"]), topic.get("status") or {}
        if status.get("baseKey"):
            self.key.setdefault(key, time.time())
        if status.get("phase") == "Ready":
            self.ready.setdefault(key, time.time())

    def deployment(self, deployment: dict[str, Any]) -> None:
        meta = deployment["metadata"]
        topic = meta.get("labels", {}).get("swarm-operator.dev/topic")
        if topic and (deployment.get("spec") or {}).get("replicas"):
            self.clients.setdefault((meta["namespace"], topic), time.time())


async def follow(api: Api, path: str, selector: str, handle: Any, started: asyncio.Event) -> None:
    """List then watch `path` forever, handing every object to `handle`."""
    params = {"labelSelector": selector} if selector else {}
    while True:
        try:
            listing = await api.get(path, params)
            for obj in listing["items"]:
                handle(obj)
            started.set()
            async for event in api.watch(path, {**params, "resourceVersion": listing["metadata"]["resourceVersion"]}):
                if event["type"] in ("ADDED", "MODIFIED"):
                    handle(event["object"])
                elif event["type"] == "ERROR":
                    break
        except (ApiError, OSError, TimeoutError) as err:
            print(f"  (watch {path}: {err}; again)", file=sys.stderr)
            await asyncio.sleep(1)


async def create_all(api: Api, topics: list[tuple[str, str]], clients: int, concurrency: int = 32) -> None:
    limit = asyncio.Semaphore(concurrency)

    async def create(ns: str, name: str) -> None:
        async with limit:
            await api.post(f"{GROUP_PATH}/namespaces/{ns}/swarmtopics", topic_body(name, ns, clients))

    await asyncio.gather(*(create(ns, name) for ns, name in topics))


@dataclass
class Burst:
    start: float
    applied: float
    keys_and_clients: float
    all_ready: float
    cpu_start: float
    cpu_ready: float
    latencies: list[float]
    ended: float = 0.0  # seconds from the first create to the burst's end


async def watch_all(api: Api, seen: Seen, fakes: FakeHosts) -> list[asyncio.Task[None]]:
    """The script's own watches of host pods (also handed to the fake hosts), topics and client
    Deployments, feeding `seen`."""
    started = [asyncio.Event() for _ in range(3)]

    def host_pod(pod: dict[str, Any]) -> None:
        fakes.observe(pod)
        seen.pod(pod)

    watches = [asyncio.create_task(follow(api, "/api/v1/pods", HOST_PODS, host_pod, started[0])),
               asyncio.create_task(follow(api, f"{GROUP_PATH}/swarmtopics", "", seen.topic, started[1])),
               asyncio.create_task(follow(api, "/apis/apps/v1/deployments", CLIENT_DEPLOYMENTS, seen.deployment,
                                          started[2]))]
    await asyncio.gather(*(e.wait() for e in started))
    return watches


async def burst(api: Api, op: OperatorProcess, seen: Seen, topics: list[tuple[str, str]], clients: int,
                deadline: float, wait_ready: bool = True) -> Burst:
    cpu_start, t0 = op.cpu_seconds(), time.time()
    await create_all(api, topics, clients)
    applied = time.time()
    print(f"  {len(topics)} topics created in {applied - t0:.1f} s")
    n, last = len(topics), 0.0
    ready_too = wait_ready
    while time.time() - t0 < deadline and (len(seen.ready) < n if ready_too else
                                           len(seen.key) < n or len(seen.clients) < n):
        await asyncio.sleep(1)
        if time.time() - last >= 15:
            last = time.time()
            print(f"  t+{last - t0:6.0f}s: hosts Ready {len(seen.host_ready)}, keys {len(seen.key)}, "
                  f"clients wanted {len(seen.clients)}, topics Ready {len(seen.ready)} / {n}", flush=True)
    cpu_ready = op.cpu_seconds()
    if len(seen.ready) < n:  # the figures so far still say what the operator did
        print(f"  only {len(seen.ready)} of {n} topics Ready after {deadline:.0f} s: the rest is reported as is")
    latencies = [seen.key[k] - seen.host_ready[k] for k in topics if k in seen.key and k in seen.host_ready]
    keys = [seen.key[k] for k in topics if k in seen.key]
    clients_wanted = [seen.clients[k] for k in topics if k in seen.clients]
    done = len(keys) == n and len(clients_wanted) == n
    return Burst(start=t0, applied=applied,
                 keys_and_clients=max(keys + clients_wanted) - t0 if done else float("nan"),
                 all_ready=max(seen.ready.values()) - t0 if len(seen.ready) == n else float("nan"),
                 cpu_start=cpu_start, cpu_ready=cpu_ready, latencies=latencies, ended=time.time() - t0)


async def single_topics(api: Api, seen: Seen, namespace: str, count: int, clients: int) -> list[float]:
    """Topics created one at a time into the idle operator: host pod Ready -> key, each."""
    out = []
    for n in range(count):
        key = (namespace, f"single{n:03d}")
        await create_all(api, [key], clients)
        for _ in range(2400):  # 120 s at most
            if key in seen.key:
                break
            await asyncio.sleep(0.05)
        if key in seen.key and key in seen.host_ready:
            out.append(seen.key[key] - seen.host_ready[key])
        for _ in range(600):  # its clients' start-up is over before the next topic is measured
            if key in seen.ready:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
    return out


async def run(plane: ControlPlane, op: OperatorProcess, args: argparse.Namespace) -> None:
    api = Api(load_kubeconfig(plane.kubeconfig))
    seen = Seen()
    fakes = FakeHosts(api, CIDR)
    await fakes.start()
    watches = await watch_all(api, seen, fakes)
    try:
        namespaces = [f"scale-{i}" for i in range(args.namespaces)]
        for ns in namespaces:
            await api.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        topics = [(namespaces[i % len(namespaces)], f"t{i:05d}") for i in range(args.topics)]
        result = await burst(api, op, seen, topics, args.clients, args.timeout, wait_ready=not args.keys_only)
        report_burst(plane, op, args, result)
        await asyncio.sleep(args.settle)
        idle_start, cpu_idle = time.time(), op.cpu_seconds()
        await asyncio.sleep(args.idle_minutes * 60)
        idle_end, cpu_end = time.time(), op.cpu_seconds()
        await asyncio.sleep(2)  # the audit log is written in batches of up to 1 s
        idle, lease = operator_requests(plane.audit_log, idle_start, idle_end, split_leases=True)
        minutes = (idle_end - idle_start) / 60
        print(f"idle requests per minute:               {idle / minutes:.0f} "
              f"({idle / minutes / args.topics * 10:.2f} per topic per 10 minutes; of them the leader "
              f"Lease's renewals {lease / minutes:.0f}/min)")
        print(f"idle operator CPU:                      {100 * (cpu_end - cpu_idle) / (idle_end - idle_start):.1f} % "
              f"of a core (over {minutes:.1f} min)")
        singles = await single_topics(api, seen, namespaces[0], args.singles, args.clients)
        print(f"single topic, host pod Ready -> key:    p50 {1000 * percentile(singles, 0.5):.0f} ms, "
              f"p95 {1000 * percentile(singles, 0.95):.0f} ms (n={len(singles)}, one at a time into the "
              f"idle operator)")
        print(f"operator peak RSS:                      {op.peak_rss_mb():.0f} MB", flush=True)
    finally:
        for task in watches:
            task.cancel()
        await fakes.close()
        await api.close()


def report_burst(plane: ControlPlane, op: OperatorProcess, args: argparse.Namespace, r: Burst) -> None:
    time.sleep(2)  # the audit log is written in batches of up to 1 s
    ended = r.all_ready if r.all_ready == r.all_ready else r.ended  # NaN: the burst ended before all Ready
    what = "apply -> Ready" if r.all_ready == r.all_ready else f"apply -> +{ended:.0f} s"
    requests = operator_requests(plane.audit_log, r.start, r.start + ended + 0.001)
    print(f"\n{args.topics} topics, {args.namespaces} namespaces, 1 client group of {args.clients}, "
          f"reconcile interval {args.interval:g} s, {args.workers} workers")
    print(f"all keys recorded + client Deployments: {r.keys_and_clients:.1f} s")
    print(f"all topics Ready:                       {r.all_ready:.1f} s")
    print(f"API requests per topic, {what}: {requests / args.topics:.1f} ({requests} in all)")
    print(f"operator CPU seconds, {what}:   {r.cpu_ready - r.cpu_start:.1f}")
    print(f"operator peak RSS so far:               {op.peak_rss_mb():.0f} MB")
    print(f"host pod Ready -> status.baseKey:       p50 {1000 * percentile(r.latencies, 0.5):.0f} ms, "
          f"p95 {1000 * percentile(r.latencies, 0.95):.0f} ms (n={len(r.latencies)})", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--topics", type=int, default=1000)
    parser.add_argument("--namespaces", type=int, default=10)
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--interval", type=float, default=300.0, help="the operator's --reconcile-interval")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--idle-minutes", type=float, default=3.0)
    parser.add_argument("--singles", type=int, default=20, help="topics created one at a time after the idle period")
    parser.add_argument("--keys-only", action="store_true",
                        help="end the burst once every key is recorded and every client Deployment made, without "
                        "waiting for the control plane to make every client pod Ready")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds after all Ready before idle is measured")
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--controller-qps", type=int, default=500,
                        help="client rate limit of the controller-manager and the scheduler (their default: 20/50)")
    args = parser.parse_args(argv)
    state = Path(tempfile.mkdtemp(prefix="swarm-scale-"))
    os.environ["SWARM_CLUSTER_STATE"] = str(state / "cluster")  # a control plane of its own
    plane = shared_control_plane(controller_qps=args.controller_qps, hostpath_provisioner=True)
    kwok = start_kwok(plane, state, max_pods=args.topics * (args.clients + 1) + 200)
    op = OperatorProcess(plane, state / "operator.log", args.interval, args.workers)
    print(f"state, logs and audit log under {state}", flush=True)
    try:
        asyncio.run(run(plane, op, args))
    finally:
        op.stop()
        kwok.stop()


if __name__ == "__main__":
    main()
