"""The scale benchmark's measurements and its printed tables (`bench/scale.py` runs the phases).

- CPU seconds per component, from /proc: each process of the local cluster (etcd, kube-apiserver,
  kube-controller-manager, kube-scheduler), the node, the operator and this script itself; their
  sum is the cluster's CPU. The whole machine's busy time (/proc/stat) is printed beside it: on a
  shared machine it also counts other people's work, so the ratio uses the cluster's sum.
- API requests, counted in the API server's audit log by who made them: the operator's
  ServiceAccount (its leader Lease renewals apart: they are per second, not per topic), this
  script (the admin: the floor's posts), the endpoints controllers (they retry pod addresses the
  Endpoints API refuses: the node's cost, not the operator's), the node, and the other
  controllers. The controller-manager's and the scheduler's own users are not audited (the audit
  policy drops them), so a controller counts only through its ServiceAccount.
- Tails: key recorded -> topic Ready per topic, as this script's watches saw them, and where that
  time goes (`ready_path`): the audit log dates each step between the two, so the slowest topics'
  wait is split into the operator's share and each controller's.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
ENDPOINT_USERS = ("system:serviceaccount:kube-system:endpoint-controller",
                  "system:serviceaccount:kube-system:endpointslice-controller",
                  "system:serviceaccount:kube-system:endpointslicemirroring-controller")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a live process and of its waited-for children."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return sum(int(f) for f in fields[11:15]) / TICK


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy() -> float:
    """CPU seconds the whole machine was busy (every core, every user) since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / TICK


def machine_load() -> str:
    """The machine's CPUs and load average, printed beside the figures (a shared machine's other
    users slow both phases alike only when the load stays the same)."""
    one, five, fifteen = os.getloadavg()
    return f"machine: {os.cpu_count()} CPUs, load average {one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min)"


@dataclass
class Clock:
    """CPU seconds of named processes between `start()` and `stop()` (the bench's own as "bench")."""

    pids: dict[str, int]
    before: dict[str, float] = field(default_factory=dict)
    spent: dict[str, float] = field(default_factory=dict)

    def _read(self) -> dict[str, float]:
        now = {name: process_cpu(pid) for name, pid in self.pids.items()}
        now["bench"] = own_cpu()
        now["machine"] = machine_busy()
        return now

    def start(self) -> None:
        self.before = self._read()

    def stop(self) -> dict[str, float]:
        after = self._read()
        self.spent = {name: after[name] - self.before[name] for name in after}
        self.spent["cluster"] = sum(v for k, v in self.spent.items() if k != "machine")
        return self.spent


def audit_lines(audit_log: Path) -> Iterator[str]:
    """Every line of the audit log, its rotated files (100 MB each) first."""
    for path in [*sorted(audit_log.parent.glob(f"{audit_log.stem}-*{audit_log.suffix}")), audit_log]:
        with open(path, errors="replace") as lines:
            yield from lines


def who(user: str, operator_user: str) -> str:
    if user == operator_user:
        return "operator"
    if user == "admin":
        return "bench"
    if user in ENDPOINT_USERS:
        return "endpoints controllers"
    if user.startswith("system:node:"):
        return "node"
    if user.startswith("system:serviceaccount:kube-system:"):
        return "other controllers"
    return "others"


def requests_by_user(audit_log: Path, start: float, end: float, operator_user: str) -> Counter[str]:
    """Distinct requests received in [start, end) (wall-clock seconds), by who made them (`who`);
    "operator leases" counts the operator's leader Lease renewals among its requests."""
    seen: dict[str, str] = {}
    leases: set[str] = set()
    for line in audit_lines(audit_log):
        event = json.loads(line)
        received = datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00")).timestamp()
        if not start <= received < end:
            continue
        user = who((event.get("user") or {}).get("username", ""), operator_user)
        seen[event["auditID"]] = user
        if user == "operator" and (event.get("objectRef") or {}).get("resource") == "leases":
            leases.add(event["auditID"])
    counts = Counter(seen.values())
    counts["operator leases"] = len(leases)
    counts["operator"] -= len(leases)  # the Lease is per process and per second, not per topic
    counts["all"] = len(seen)
    return counts


RS_CONTROLLER = "system:serviceaccount:kube-system:replicaset-controller"
DEPLOYMENT_CONTROLLER = "system:serviceaccount:kube-system:deployment-controller"
# The steps from a topic's key recorded to its Ready, each ending at a moment the audit log dates.
PATH_STEPS = ("operator: its client Deployment created", "Deployment and ReplicaSet controllers: pods made",
              "scheduler and node: the last client pod Ready", "deployment controller: its ready count",
              "operator: topic Ready written")


def _owner(name: str, names: set[str]) -> str | None:
    """The Deployment a ReplicaSet (`<deployment>-<hash>`) or pod (`<deployment>-<hash>-<id>`) is of."""
    for cut in (1, 2):
        found = name.rsplit("-", cut)[0] if name.count("-") >= cut else None
        if found in names:
            return found
    return None


def ready_path(audit_log: Path, key: dict[tuple[str, str], float], ready: dict[tuple[str, str], float],
               operator_user: str) -> dict[tuple[str, str], list[float]]:
    """Each topic's key recorded -> Ready (`key`, `ready`: wall-clock seconds, as seen by this
    script) cut into the `PATH_STEPS`, by the audit log: the operator's create of the topic's
    client Deployment; the ReplicaSet controller's first status update of its ReplicaSet (the pods
    made); the last status write of its pods by the node; the deployment controller's last status
    update of it; then Ready. A topic some step of which is missing from the log is left out."""
    marks: dict[tuple[str, str], dict[str, float]] = {}
    deployments: dict[tuple[str, str], tuple[str, str]] = {}  # (namespace, Deployment) -> topic
    by_namespace: dict[str, set[str]] = {}
    for line in audit_lines(audit_log):
        event = json.loads(line)
        ref, user = event.get("objectRef") or {}, (event.get("user") or {}).get("username", "")
        ns, name, verb = ref.get("namespace"), ref.get("name") or "", event.get("verb")
        if not ns or not name or (event.get("responseStatus") or {}).get("code", 500) >= 300:
            continue
        at = datetime.fromisoformat(event["stageTimestamp"].replace("Z", "+00:00")).timestamp()
        resource, sub = ref.get("resource"), ref.get("subresource")
        if user == operator_user and verb == "create" and resource == "deployments":
            topic = max(((n, t) for (n, t) in key if n == ns and name.startswith(t + "-")), default=None,
                        key=lambda k: len(k[1]))
            if topic is not None:
                deployments[(ns, name)] = topic
                by_namespace.setdefault(ns, set()).add(name)
                marks.setdefault(topic, {}).setdefault("D", at)
            continue
        owner = _owner(name, by_namespace.get(ns, set())) if resource in ("replicasets", "pods") else \
            name if resource == "deployments" and name in by_namespace.get(ns, set()) else None
        topic = deployments.get((ns, owner)) if owner else None
        if topic is None or at > ready.get(topic, 0.0):
            continue
        got = marks[topic]
        if user == RS_CONTROLLER and resource == "replicasets" and sub == "status":
            got.setdefault("R", at)
        elif resource == "pods" and sub == "status" and verb in ("patch", "update") \
                and not user.startswith("system:serviceaccount:"):
            got["S"] = max(got.get("S", 0.0), at)
        elif user == DEPLOYMENT_CONTROLLER and resource == "deployments" and sub == "status":
            got["U"] = max(got.get("U", 0.0), at)
    out = {}
    for topic, got in marks.items():
        if topic in key and topic in ready and all(m in got for m in "DRSU"):
            moments = [key[topic], got["D"], got["R"], got["S"], got["U"], ready[topic]]
            out[topic] = [b - a for a, b in pairwise(moments)]
    return out


def path_summary(steps: dict[tuple[str, str], list[float]], slowest: float = 0.01) -> list[str]:
    """The steps' p50 over every topic, and their mean over the slowest `slowest` of the topics."""
    if not steps:
        return ["key -> Ready by step: no topic found whole in the audit log"]
    totals = sorted(steps.values(), key=sum)
    tail = totals[-max(1, round(slowest * len(totals))):]
    lines = [f"key -> Ready by step (audit log, n={len(totals)}): p50 of all | mean of the slowest "
             f"{len(tail)} (their total {sum(map(sum, tail)) / len(tail):.2f} s)"]
    for i, step in enumerate(PATH_STEPS):
        lines.append(f"    {step:50} {percentile([t[i] for t in totals], 0.5):6.2f} s | "
                     f"{sum(t[i] for t in tail) / len(tail):6.2f} s")
    return lines


@dataclass
class Window:
    """The operator's API window (its /metrics: `swarm_operator_api_*`), sampled every second."""

    port: int
    limits: list[float] = field(default_factory=list)
    waiting: list[float] = field(default_factory=list)
    throttled: float = 0.0

    def _read(self, *series: str) -> dict[str, float]:
        # Only these series: a whole scrape builds every topic's series (0.2 CPU-s at 1,000 topics).
        names = "&".join(f"name[]={n}" for n in series or ("swarm_operator_api_window",
                                                            "swarm_operator_api_waiting_requests",
                                                            "swarm_operator_api_throttled_total"))
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics?{names}", timeout=2) as rsp:
            lines = rsp.read().decode().splitlines()
        return {k: float(v) for k, _, v in (line.partition(" ") for line in lines)
                if k.startswith("swarm_operator_")}

    def passes(self) -> float:
        """Reconciles so far (the count of `swarm_operator_reconcile_duration_seconds`), NaN if unread."""
        try:
            count = "swarm_operator_reconcile_duration_seconds_count"
            return self._read(count)[count]
        except (OSError, KeyError, ValueError):
            return float("nan")

    async def sample(self) -> None:
        while True:
            try:
                found = await asyncio.to_thread(self._read)
                self.limits.append(found["swarm_operator_api_window"])
                self.waiting.append(found["swarm_operator_api_waiting_requests"])
                self.throttled = found["swarm_operator_api_throttled_total"]
            except (OSError, KeyError, ValueError):
                pass
            await asyncio.sleep(1.0)

    def now(self) -> str:
        return f"window {self.limits[-1]:.0f}, waiting {self.waiting[-1]:.0f}" if self.limits else "window ?"

    def summary(self) -> str:
        if not self.limits:
            return "API window: not sampled"
        return (f"API window (requests in flight the operator allowed itself): p10 {percentile(self.limits, 0.1):.0f}, "
                f"p50 {percentile(self.limits, 0.5):.0f}, max {max(self.limits):.0f}; requests waiting p50 "
                f"{percentile(self.waiting, 0.5):.0f}, max {max(self.waiting):.0f}; 429s {self.throttled:.0f}")


@dataclass
class Phase:
    """One burst's figures: `what` is "floor" or "operator"."""

    what: str
    topics: int
    seconds_to_ready: float  # first create -> every topic Ready (NaN: not all within the deadline)
    cpu: dict[str, float]
    requests: Counter[str]
    key_to_ready: list[float] = field(default_factory=list)  # operator only
    host_to_key: list[float] = field(default_factory=list)  # operator only
    notes: list[str] = field(default_factory=list)

    def per_topic_ms(self, component: str) -> float:
        return 1000 * self.cpu.get(component, float("nan")) / self.topics


COMPONENTS = ("kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler", "node", "operator", "bench",
              "cluster", "machine")
REQUESTERS = ("operator", "operator leases", "bench", "endpoints controllers", "node", "other controllers", "all")


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


def side_by_side(floor: Phase, op: Phase, names: tuple[str, str] = ("floor", "operator")) -> str:
    """The floor and the operator (or two operators), side by side, with their ratio."""
    n = op.topics
    title = "floor (the same children posted straight, no operator) vs operator" if names == ("floor", "operator") \
        else f"{names[0]} vs {names[1]}"
    rows = [f"{n} topics: {title}",
            f"  {'':34}{names[0]:>10}{names[1]:>10}{'ratio':>8}",
            f"  {'seconds to all Ready':34}{floor.seconds_to_ready:10.1f}{op.seconds_to_ready:10.1f}"
            f"{_ratio(op.seconds_to_ready, floor.seconds_to_ready):>8}"]
    for component in COMPONENTS:
        a, b = floor.cpu.get(component, 0.0), op.cpu.get(component, 0.0)
        label = {"cluster": "CPU s, cluster (sum of the above)",
                 "machine": "CPU s, whole machine (all users)"}.get(component, f"CPU s, {component}")
        rows.append(f"  {label:34}{a:10.1f}{b:10.1f}{_ratio(b, a):>8}")
    for requester in REQUESTERS:
        a, b = floor.requests.get(requester, 0) / n, op.requests.get(requester, 0) / n
        rows.append(f"  {'requests/topic, ' + requester:34}{a:10.1f}{b:10.1f}{'':>8}")
    for name, phase in zip(names, (floor, op), strict=True):
        if phase.what != "operator":
            continue
        rows.append(f"  {name}: operator CPU per topic {phase.per_topic_ms('operator'):.1f} ms")
        if phase.key_to_ready:
            k = phase.key_to_ready
            rows.append(f"  {name}: key recorded -> topic Ready p50 {percentile(k, 0.5):.2f} s, p90 "
                        f"{percentile(k, 0.9):.2f} s, p99 {percentile(k, 0.99):.2f} s, max {max(k):.2f} s (n={len(k)})")
        if phase.host_to_key:
            h = phase.host_to_key
            rows.append(f"  {name}: host pod Ready -> key p50 {1000 * percentile(h, 0.5):.0f} ms, "
                        f"p95 {1000 * percentile(h, 0.95):.0f} ms, p99 {1000 * percentile(h, 0.99):.0f} ms")
    rows += [f"  note ({name}): {note}" for name, phase in zip(names, (floor, op), strict=True) for note in phase.notes]
    return "\n".join(rows)


def growth(phases: list[tuple[Phase, Phase]]) -> str:
    """Time and CPU per topic at each size, and each size against the first."""
    rows = ["growth (per topic; each size against the first)",
            f"  {'topics':>8}{'floor s':>9}{'op s':>9}{'op ms/topic':>13}{'op CPU ms/topic':>17}"
            f"{'cluster CPU ms/topic':>22}{'time x':>8}{'CPU x':>8}"]
    base = phases[0][1]
    for floor, op in phases:
        wall = 1000 * op.seconds_to_ready / op.topics
        cpu = op.per_topic_ms("operator")
        rows.append(f"  {op.topics:>8}{floor.seconds_to_ready:9.1f}{op.seconds_to_ready:9.1f}{wall:13.1f}{cpu:17.1f}"
                    f"{op.per_topic_ms('cluster'):22.1f}"
                    f"{_ratio(wall, 1000 * base.seconds_to_ready / base.topics):>8}"
                    f"{_ratio(cpu, base.per_topic_ms('operator')):>8}")
    return "\n".join(rows)


# Where the operator's CPU goes, from py-spy's raw samples (`--sample`): each stack is charged to the
# first part, in this order, whose function (and file) it passes through. Transport is what the
# operator pays to talk at all: requests, watch events, the socket reads under both, the host reads.
CPU_PARTS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("host report reads", "transport", (("read_host_report", "hostclient.py"),)),
    ("API requests (aiohttp, TLS, JSON)", "transport", (("Kube.request", "client.py"),)),
    ("the caches' entries (zlib, orjson)", "caches", (("_unpack", "informer.py"), ("_pack", "informer.py"),
                                                        ("_content", "informer.py"))),
    ("watch events", "transport", (("Informer.", "informer.py"), ("NameIndex.", "informer.py"))),
    ("plan (pure)", "logic", (("", "planner/"),)),
    ("observe", "logic", (("observe", "observe.py"),)),
    ("act", "logic", (("act", "act.py"), ("write_status", "act.py"))),
    ("the queue, the throttle, a pass's frame", "logic", (("Controller.", "controller.py"), ("", "workqueue.py"),
                                                          ("", "throttle.py"), ("reconcile", "reconcile.py"))),
    ("socket receive (asyncio, TLS)", "transport", (("_read_ready", ""), ("data_received", ""))),
    ("waiting (epoll)", "idle", (("select", "selectors.py"),)),
)


def _frame(text: str) -> tuple[str, str]:
    """"func (path:line)" -> (func, path)."""
    func, _, rest = text.partition(" (")
    return func, rest.rpartition(":")[0]


def _marked(frame: tuple[str, str], mark: tuple[str, str]) -> bool:
    """A frame of a function named `mark[0]` (a method's own name will do; "Cls." for any of its
    methods; "" for any) in a file whose path ends with `mark[1]` (a "dir/" anywhere in it)."""
    (func, path), (name, where) = frame, mark
    named = not name or func == name or func.endswith("." + name) or (name.endswith(".") and func.startswith(name))
    placed = not where or path.endswith(where) or (where.endswith("/") and where in path)
    return named and placed


def cpu_parts(raw: str) -> Counter[str]:
    """Samples per part of the operator's work (`CPU_PARTS`, else "other"), from py-spy's
    `--format raw` output: one "frame;frame;... count" line per stack, outermost first."""
    parts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_frame(f) for f in stack.split(";")]
        part = next((name for name, _, marks in CPU_PARTS
                     if any(_marked(frame, mark) for frame in frames for mark in marks)), "other")
        parts[part] += int(count)
    return parts


def cpu_summary(parts: Counter[str], cpu_ms_per_topic: float) -> list[str]:
    """Each part's share of the busy samples (waiting apart) and its ms per topic, by that share of
    the operator's measured CPU per topic; then the transport's, the caches' and the logic's sums."""
    busy = sum(v for k, v in parts.items() if k != "waiting (epoll)")
    if not busy:
        return ["no samples"]
    kinds = {name: kind for name, kind, _ in CPU_PARTS} | {"other": "other"}
    lines = [f"{name:42s} {100 * v / busy:5.1f} %  {cpu_ms_per_topic * v / busy:5.1f} ms/topic"
             for name, v in parts.most_common() if name != "waiting (epoll)"]
    for kind in ("transport", "caches", "logic", "other"):
        v = sum(n for name, n in parts.items() if kinds.get(name) == kind)
        lines.append(f"= {kind:40s} {100 * v / busy:5.1f} %  {cpu_ms_per_topic * v / busy:5.1f} ms/topic")
    return [f"operator CPU by part (py-spy, {busy} busy samples of the burst; {parts['waiting (epoll)']} "
            "waiting in epoll left out):", *lines]
