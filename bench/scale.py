"""The operator at scale, side by side with its floor: N SwarmTopics at once on the real control
plane. Not a test: `make bench-scale` (1,000 then 3,000 topics), or
`python bench/scale.py --topics 1000` for one size.

Each size runs two phases, each on a fresh local cluster of its own (the real kube-apiserver,
controller-manager, scheduler and etcd, and kwok's nodes, `e2e/localcluster/kwok.py`: the topics'
pods select them, kwok marks them Running/Ready with an address of its CIDR without running
anything, and this script serves every host's signed `/status` on that address,
`bench/fakehosts.py`):
- the floor (`scale_floor.py`): the same topics, their children posted straight by this script,
  no operator, no ordering;
- the operator: the topics only; the operator (a local process holding a token of the chart's
  ServiceAccount: exactly the pod's rights) does the rest.
Both create the topics (10 namespaces, one host and one client group of 5 each; the hosts' volumes
made and bound ahead, as the HostPath provisioner would be the pace otherwise) at once and end when
every topic is Ready. Printed side by side, with their ratio (`scale_figures.py`): seconds to all
Ready, CPU seconds per component and in all, API requests per topic by who made them; for the
operator the key recorded -> topic Ready tail during the burst, host pod Ready -> key, and the API
window it allowed itself. With several sizes, the growth table (time and CPU per topic at each
size). After the first size's operator burst: idle requests and CPU, and single topics into the
idle operator (host pod Ready -> key). `--compare-source` runs another operator source beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from fakehosts import FakeHosts  # noqa: E402 - beside this script
from kubeapi import Api, ApiError, load_kubeconfig  # noqa: E402
from localcluster.controlplane import ControlPlane  # noqa: E402 - the local cluster's package (e2e/pyproject.toml)
from localcluster.kwok import CIDR, LABEL, Kwok  # noqa: E402
from localcluster.procs import Component, free_port  # noqa: E402
from localcluster.testing import (  # noqa: E402
    NODE_IP,
    OPERATOR_NAMESPACE,
    OPERATOR_USER,
    PODMAN_GATEWAY,
    install_chart,
    operator_kubeconfig,
)
from scale_figures import (  # noqa: E402
    Clock,
    Phase,
    Window,
    cpu_parts,
    cpu_summary,
    growth,
    machine_load,
    path_summary,
    percentile,
    ready_path,
    requests_by_user,
    side_by_side,
)
from scale_floor import FloorDone, post_floor  # noqa: E402

GROUP_PATH = "/apis/swarm-operator.dev/v1beta1"
HOST_PODS = "app.kubernetes.io/component=bootstrap-host,app.kubernetes.io/managed-by=swarm-operator"
CLIENT_DEPLOYMENTS = "app.kubernetes.io/component=client,app.kubernetes.io/managed-by=swarm-operator"
CHILDREN = "app.kubernetes.io/managed-by=swarm-operator"
STORAGE_CLASS = "local-hostpath"  # the local cluster's default class (localcluster/controlplane.py)


KWOK_NODES = 4  # kwok's nodes (110 pods each by default on a real node: here as many as the run needs)


def topic_body(name: str, namespace: str, clients: int) -> dict[str, Any]:
    scale = {"spec": {"nodeSelector": {LABEL[0]: LABEL[1]}}}  # on kwok's nodes
    return {
        "apiVersion": "swarm-operator.dev/v1beta1", "kind": "SwarmTopic",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "topic": name,
            "dht": {"bootstrap": ["127.0.0.1:49737"]},
            "bootstrapHost": {"replicas": 1, "storage": {"size": "1Mi"}, "template": scale},
            "clients": [{"name": "kv", "replicas": clients, "template": {"spec": {
                **scale["spec"], "containers": [{"name": "peer", "image": "ghcr.io/swarm-operator/swarm-peer:0.1.0",
                                                 "args": ["client"]}]}}}],
        },
    }


class OperatorProcess:
    """`python -m swarm_operator run` with the chart's ServiceAccount (`source`: another checkout's
    operator package directory, for a before/after run; `profile`: a cProfile dump at exit)."""

    def __init__(self, plane: ControlPlane, log: Path, args: argparse.Namespace) -> None:
        env = dict(os.environ, KUBECONFIG=str(operator_kubeconfig(plane)))
        if args.operator_source:
            env["PYTHONPATH"] = str(Path(args.operator_source).resolve())
        profile = ["-m", "cProfile", "-o", str(args.profile)] if args.profile else []
        extra = args.operator_args.split() if args.operator_args else []
        self.metrics_port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, *profile, "-m", "swarm_operator", "run", "--all-namespaces",
             "--metrics-port", str(self.metrics_port),
             "--liveness-port", "0", "--reconcile-interval", str(args.interval),
             "--leader-election-namespace", OPERATOR_NAMESPACE, "--leader-identity", "bench", *extra],
            stdout=open(log, "ab"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.log = log

    def sample(self, out: Path) -> subprocess.Popen[bytes]:
        """py-spy (a sampling profiler: the process runs at full speed) attached to the operator,
        its raw stacks written into `out` once it is sent SIGINT (at the burst's end)."""
        spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
        if spy is None:
            raise SystemExit("--sample needs py-spy (the test extras: pip install -e '.[test]')")
        return subprocess.Popen([spy, "record", "--pid", str(self.proc.pid), "--rate", "100", "--nonblocking",
                                 "--format", "raw", "-o", str(out)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@contextmanager
def cluster(state: Path, args: argparse.Namespace, pods: int) -> Iterator[tuple[ControlPlane, Component]]:
    """A fresh control plane (the chart installed with no operator replica) and kwok's nodes, stopped after."""
    plane = ControlPlane(state / "cluster", extra_server_ips=[NODE_IP, PODMAN_GATEWAY],
                         controller_qps=args.controller_qps, hostpath_provisioner=True)
    plane.start()
    kwok = Kwok(plane, state / "logs")
    try:
        install_chart(plane)
        kwok.start([f"kwok-{i}" for i in range(KWOK_NODES)], max_pods=pods // KWOK_NODES + 100)
        assert kwok.component is not None
        yield plane, kwok.component
    finally:
        kwok.stop()
        plane.stop()


@dataclass
class Seen:
    """First moments this script saw each topic's milestones (time.time())."""

    host_ready: dict[tuple[str, str], float] = field(default_factory=dict)
    key: dict[tuple[str, str], float] = field(default_factory=dict)
    ready: dict[tuple[str, str], float] = field(default_factory=dict)

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


async def watching(api: Api, watches: list[tuple[str, str, Any]]) -> list[asyncio.Task[None]]:
    started = [asyncio.Event() for _ in watches]
    tasks = [asyncio.create_task(follow(api, path, selector, handle, event))
             for (path, selector, handle), event in zip(watches, started, strict=True)]
    await asyncio.gather(*(e.wait() for e in started))
    return tasks


async def make_namespaces(api: Api, count: int) -> list[str]:
    names = [f"scale-{i}" for i in range(count)]
    for ns in names:
        await api.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    return names


async def prebound_volumes(api: Api, topics: list[tuple[str, str]], concurrency: int = 32) -> None:
    """A PersistentVolume for each topic's host claim, bound to it ahead (claimRef), made before the
    burst: the controller-manager's HostPath provisioner makes about one volume in five seconds on
    this machine, which would be the burst's pace in both phases, not the operator's."""
    limit = asyncio.Semaphore(concurrency)

    async def one(ns: str, name: str) -> None:
        claim = f"data-{name}-host-0"
        async with limit:
            await api.post("/api/v1/persistentvolumes", {
                "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"{ns}-{claim}"},
                "spec": {"capacity": {"storage": "1Mi"}, "accessModes": ["ReadWriteOnce"],
                         "persistentVolumeReclaimPolicy": "Retain", "storageClassName": STORAGE_CLASS,
                         "hostPath": {"path": f"/tmp/swarm-scale-volumes/{ns}/{claim}", "type": "DirectoryOrCreate"},
                         "claimRef": {"namespace": ns, "name": claim}}})

    await asyncio.gather(*(one(ns, name) for ns, name in topics))


async def create_topics(api: Api, bodies: list[dict[str, Any]], concurrency: int = 32) -> None:
    limit = asyncio.Semaphore(concurrency)

    async def create(body: dict[str, Any]) -> None:
        async with limit:
            await api.post(f"{GROUP_PATH}/namespaces/{body['metadata']['namespace']}/swarmtopics", body)

    await asyncio.gather(*(create(body) for body in bodies))


async def wait_all(what: str, ready: dict[Any, float], progress: Any, n: int, t0: float, deadline: float) -> float:
    """Seconds from t0 until `ready` holds n topics (NaN after the deadline), printing progress."""
    last = time.time()
    while len(ready) < n and time.time() - t0 < deadline:
        await asyncio.sleep(0.5)
        if time.time() - last >= 15:
            last = time.time()
            print(f"  {what} t+{last - t0:5.0f}s: {progress()}", flush=True)
    if len(ready) < n:
        print(f"  {what}: only {len(ready)} of {n} topics Ready after {deadline:.0f} s: reported as is")
        return float("nan")
    return max(ready.values()) - t0


async def floor_phase(plane: ControlPlane, node: Component, args: argparse.Namespace, n: int) -> Phase:
    api = Api(load_kubeconfig(plane.kubeconfig))
    done = FloorDone(args.clients)
    tasks = await watching(api, [("/apis/apps/v1/statefulsets", CHILDREN, done.statefulset),
                                 ("/apis/apps/v1/deployments", CHILDREN, done.deployment)])
    try:
        namespaces = await make_namespaces(api, args.namespaces)
        bodies = [topic_body(f"t{i:05d}", namespaces[i % len(namespaces)], args.clients) for i in range(n)]
        await prebound_volumes(api, [(b["metadata"]["namespace"], b["metadata"]["name"]) for b in bodies])
        clock = Clock({c.name: c.proc.pid for c in plane.components if c.proc} | {"node": node_pid(node)})
        clock.start()
        t0 = time.time()
        await post_floor(api, GROUP_PATH, bodies)
        print(f"  floor: {n} topics and their children posted in {time.time() - t0:.1f} s", flush=True)
        seconds = await wait_all("floor", done.ready, lambda: f"hosts Ready {len(done.host)}, clients Ready "
                                 f"{len(done.members)}, topics Ready {len(done.ready)} / {n}", n, t0, args.timeout)
        cpu = clock.stop()
        end = t0 + (seconds if seconds == seconds else time.time() - t0)
        await asyncio.sleep(2.5)  # the audit log is written in batches of up to 1 s
        return Phase("floor", n, seconds, cpu, requests_by_user(plane.audit_log, t0, end + 0.001, OPERATOR_USER))
    finally:
        for task in tasks:
            task.cancel()
        await api.close()


async def hosts_and_watches(api: Api, seen: Seen) -> tuple[FakeHosts, list[asyncio.Task[None]]]:
    """The fake hosts' server (on kwok's addresses) and this script's watches of host pods (handed
    to the fake hosts too) and topics."""
    fakes = FakeHosts(api, CIDR)
    await fakes.start()

    def host_pod(pod: dict[str, Any]) -> None:
        fakes.observe(pod)
        seen.pod(pod)

    return fakes, await watching(api, [("/api/v1/pods", HOST_PODS, host_pod),
                                       (f"{GROUP_PATH}/swarmtopics", "", seen.topic)])


async def operator_phase(plane: ControlPlane, node: Component, args: argparse.Namespace, n: int,
                         state: Path, first: bool) -> Phase:
    api = Api(load_kubeconfig(plane.kubeconfig))
    seen = Seen()
    fakes, tasks = await hosts_and_watches(api, seen)
    op = OperatorProcess(plane, state / "operator.log", args)
    try:
        namespaces = await make_namespaces(api, args.namespaces)
        await wait_leading(op)
        bodies = [topic_body(f"t{i:05d}", namespaces[i % len(namespaces)], args.clients) for i in range(n)]
        await prebound_volumes(api, [(b["metadata"]["namespace"], b["metadata"]["name"]) for b in bodies]
                               + [(namespaces[0], f"single{i:03d}") for i in range(args.singles if first else 0)])
        clock = Clock({c.name: c.proc.pid for c in plane.components if c.proc} | {"node": node_pid(node),
                                                                                   "operator": op.proc.pid})
        window = Window(op.metrics_port)
        sampler = asyncio.create_task(window.sample())
        spy = op.sample(state / "operator.spy") if args.sample else None
        clock.start()
        t0 = time.time()
        await create_topics(api, bodies)
        print(f"  operator: {n} topics created in {time.time() - t0:.1f} s", flush=True)
        seconds = await wait_all("operator", seen.ready, lambda: f"hosts Ready {len(seen.host_ready)}, keys "
                                 f"{len(seen.key)}, topics Ready {len(seen.ready)} / {n}, {window.now()}",
                                 n, t0, args.timeout)
        cpu = clock.stop()
        sampler.cancel()
        if spy is not None:  # py-spy writes its samples on SIGINT
            spy.send_signal(signal.SIGINT)
            await asyncio.to_thread(spy.wait, 60)
        passes = await asyncio.to_thread(window.passes)
        end = t0 + (seconds if seconds == seconds else time.time() - t0)
        await asyncio.sleep(2.5)
        phase = Phase("operator", n, seconds, cpu, requests_by_user(plane.audit_log, t0, end + 0.001, OPERATOR_USER),
                      key_to_ready=[seen.ready[k] - seen.key[k] for k in seen.ready if k in seen.key],
                      host_to_key=[seen.key[k] - seen.host_ready[k] for k in seen.key if k in seen.host_ready])
        phase.notes += [f"operator peak RSS {op.peak_rss_mb():.0f} MB", window.summary(),
                        f"passes (reconciles) per topic, apply -> all Ready: {passes / n:.1f}"]
        path = await asyncio.to_thread(ready_path, plane.audit_log, seen.key, seen.ready, OPERATOR_USER)
        phase.notes.append("\n    ".join(path_summary(path)))
        if spy is not None and (state / "operator.spy").exists():
            parts = cpu_parts((state / "operator.spy").read_text())
            phase.notes.append("\n    ".join(cpu_summary(parts, 1000 * cpu.get("operator", 0.0) / n)))
        if first:
            await quiet_figures(api, plane, op, seen, namespaces[0], args, phase)
        return phase
    finally:
        op.stop()
        for task in tasks:
            task.cancel()
        await fakes.close()
        await api.close()


async def wait_leading(op: OperatorProcess) -> None:
    """Until the operator leads with its caches synced (its start-up is not the burst's)."""
    started = time.time()
    while time.time() - started < 120:
        text = op.log.read_text(errors="replace")
        if "caches synced" in text and "leads" in text:
            return
        if op.proc.poll() is not None:
            raise RuntimeError(f"the operator exited: {text[-2000:]}")
        await asyncio.sleep(0.2)
    raise TimeoutError("the operator did not lead within 120 s")


async def quiet_figures(api: Api, plane: ControlPlane, op: OperatorProcess, seen: Seen, namespace: str,
                        args: argparse.Namespace, phase: Phase) -> None:
    """After the burst: idle requests and CPU, then single topics into the idle operator."""
    if args.idle_minutes > 0:
        await asyncio.sleep(args.settle)
        clock = Clock({"operator": op.proc.pid})
        clock.start()
        start = time.time()
        await asyncio.sleep(args.idle_minutes * 60)
        end, cpu = time.time(), clock.stop()
        await asyncio.sleep(2.5)
        idle = requests_by_user(plane.audit_log, start, end, OPERATOR_USER)
        minutes = (end - start) / 60
        phase.notes.append(f"idle: operator {idle['operator'] / minutes:.1f} requests/min beside its Lease renewals "
                           f"({idle['operator leases'] / minutes:.0f}/min), endpoints controllers "
                           f"{idle['endpoints controllers'] / minutes:.0f}/min, operator CPU "
                           f"{100 * cpu['operator'] / (end - start):.1f} % of a core")
    singles = []
    for i in range(args.singles):
        key = (namespace, f"single{i:03d}")
        await create_topics(api, [topic_body(key[1], namespace, args.clients)])
        for _ in range(1200):
            if key in seen.ready:
                break
            await asyncio.sleep(0.05)
        if key in seen.key and key in seen.host_ready:
            singles.append(seen.key[key] - seen.host_ready[key])
        await asyncio.sleep(0.5)
    if singles:
        phase.notes.append(f"single topics into the idle operator, host pod Ready -> key: p50 "
                           f"{1000 * percentile(singles, 0.5):.0f} ms, p95 {1000 * percentile(singles, 0.95):.0f} ms "
                           f"(n={len(singles)})")


def node_pid(node: Component) -> int:
    """kwok's process: what "node" costs in the tables."""
    assert node.proc is not None
    return node.proc.pid


def run_size(state: Path, args: argparse.Namespace, n: int, first: bool) -> tuple[Phase, Phase]:
    pods = n * (args.clients + 1) + args.singles * (args.clients + 1)
    floor = Phase("floor", n, float("nan"), {}, Counter(), notes=["floor not run (--operator-only)"])
    if not args.operator_only:
        print(f"\n== {n} topics: the floor ({machine_load()})", flush=True)
        with cluster(state / f"floor-{n}", args, pods) as (plane, node):
            floor = asyncio.run(floor_phase(plane, node, args, n))
    op = operator_run(state, args, n, first, pods, args.operator_source, "operator")
    print("\n" + side_by_side(floor, op) + f"\n  {machine_load()}", flush=True)
    if args.compare_source:
        other = operator_run(state, args, n, False, pods, args.compare_source, "other")
        print("\n" + side_by_side(other, op, ("other", "this")), flush=True)
    return floor, op


def operator_run(state: Path, args: argparse.Namespace, n: int, first: bool, pods: int, source: str | None,
                 label: str) -> Phase:
    print(f"== {n} topics: the operator" + (f" of {source}" if source else "") + f" ({machine_load()})", flush=True)
    with cluster(state / f"{label}-{n}", args, pods) as (plane, node):
        return asyncio.run(operator_phase(plane, node, argparse.Namespace(**{**vars(args), "operator_source": source}),
                                          n, state / f"{label}-{n}", first))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--topics", default="1000", help="comma-separated sizes, e.g. 1000,3000 (default %(default)s)")
    parser.add_argument("--namespaces", type=int, default=10)
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--interval", type=float, default=300.0, help="the operator's --reconcile-interval")
    parser.add_argument("--operator-args", default="", help="more arguments for `swarm-operator run`")
    parser.add_argument("--operator-source", default=None, help="run the operator package under this directory "
                        "(e.g. an older checkout's operator/), for a before/after comparison")
    parser.add_argument("--operator-only", action="store_true", help="skip the floor (profiling runs)")
    parser.add_argument("--compare-source", default=None, help="after each size, the operator package under this "
                        "directory too, on a cluster of its own, printed beside this one's (before/after)")
    parser.add_argument("--profile", type=Path, default=None, help="run the operator under cProfile, dump here")
    parser.add_argument("--sample", action="store_true", help="sample the operator with py-spy through the burst "
                        "and print where its CPU goes (transport, caches, logic)")
    parser.add_argument("--idle-minutes", type=float, default=3.0)
    parser.add_argument("--singles", type=int, default=20, help="topics created one at a time after the idle period")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds after all Ready before idle is measured")
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--controller-qps", type=int, default=500,
                        help="client rate limit of the controller-manager and the scheduler (their default: 20/50)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.topics.split(",")]
    state = Path(tempfile.mkdtemp(prefix="swarm-scale-"))
    print(f"state, logs and audit logs under {state}", flush=True)
    phases = [run_size(state, args, n, first=i == 0) for i, n in enumerate(sizes)]
    if len(phases) > 1:
        print("\n" + growth(phases))


if __name__ == "__main__":
    main()
