"""What a bootstrap host really uses: the memory and CPU of one `swarm-peer host` process serving a
topic, measured from /proc while it runs (not a test: `python bench/host_footprint.py`).

On the loopback, with no cluster: a private DHT node, the host, then N reference clients (writers
by the topic's membership credential, as the operator starts them), which append entries through
their app API at a steady rate for a while. The host's resident memory (VmRSS) and CPU time
(utime + stime) are sampled every half second through four phases: idle after its announce, with
its clients connected, under the write load, and idle again after it. Prints each phase's RSS
(median and max), the process's peak (VmHWM), and its CPU use in millicores (mean and p95 over
1 s windows). The host's default resources (`children/pods.py` HOST_RESOURCES) are chosen from
these figures (docs/resources.md).
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
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PEER_BIN = os.environ.get("SWARM_PEER_BIN", str(REPO / "images/swarm-peer/program/bin/swarm-peer.js"))
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, probe: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def http(port: int, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as rsp:
            return rsp.status, json.loads(rsp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except OSError:
        return 0, None


def ready(port: int) -> bool:
    return http(port, "/readyz")[0] == 200


class Sampler(threading.Thread):
    """The host's RSS (bytes) and cumulative CPU seconds, every `interval` seconds, by phase."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.phase = "start"
        self.samples: list[tuple[str, float, int, float]] = []  # phase, time, rss, cpu seconds
        self.halt = threading.Event()

    def read(self) -> tuple[int, float]:
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
        with open(f"/proc/{self.pid}/statm") as statm:
            rss = int(statm.read().split()[1]) * PAGE
        return rss, cpu

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                rss, cpu = self.read()
            except OSError:
                return
            self.samples.append((self.phase, time.monotonic(), rss, cpu))
            self.halt.wait(self.interval)

    def peak(self) -> int:
        with open(f"/proc/{self.pid}/status") as status:
            line = next(x for x in status if x.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024

    def figures(self, phase: str) -> dict[str, float]:
        rows = [s for s in self.samples if s[0] == phase]
        rss = [r for _, _, r, _ in rows]
        # CPU over 1 s windows (two samples apart), in millicores.
        cpu = [1000 * (b[3] - a[3]) / (b[1] - a[1]) for a, b in zip(rows, rows[2:], strict=False) if b[1] > a[1]]
        return {"rss_p50": statistics.median(rss), "rss_max": max(rss),
                "cpu_mean": statistics.fmean(cpu) if cpu else 0.0,
                "cpu_p95": sorted(cpu)[int(0.95 * (len(cpu) - 1))] if cpu else 0.0, "samples": len(rows)}


class Peers:
    """The loopback world: a DHT node, the host, its clients; every process stopped at the end."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.procs: list[subprocess.Popen[bytes]] = []
        self.dht = f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}"
        (work / "member-seed").write_text(os.urandom(32).hex())
        (work / "encryption-key").write_text(os.urandom(32).hex())
        (work / "seed").write_text(os.urandom(32).hex())
        status = free_port()
        self.spawn(["dht-bootstrap", "--host", "127.0.0.1", "--port", self.dht.split(":")[1]],
                   {"SWARM_STATUS_PORT": str(status)})
        wait_for("the DHT node", lambda: ready(status), 30)
        self.common = {"SWARM_TOPIC": "footprint", "SWARM_DHT_BOOTSTRAP": self.dht, "SWARM_DHT_HOST": "127.0.0.1",
                       "SWARM_MEMBER_SEED_FILE": str(work / "member-seed"),
                       "SWARM_ENCRYPTION_KEY_FILE": str(work / "encryption-key"), "SWARM_WRITERS_POLICY": "Clients"}

    def spawn(self, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(["node", PEER_BIN, *args], env={"PATH": os.environ["PATH"], **env},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def host(self) -> tuple[subprocess.Popen[bytes], int, dict[str, Any]]:
        port = free_port()
        proc = self.spawn(["host"], {**self.common, "SWARM_DATA_DIR": str(self.work / "host"),
                                     "SWARM_IDENTITY_SEED_FILE": str(self.work / "seed"),
                                     "SWARM_STATUS_PORT": str(port), "SWARM_APP_PORT": str(free_port())})
        wait_for("the host's announce (Ready)", lambda: ready(port), 120)
        return proc, port, http(port, "/status")[1]

    def clients(self, count: int, envelope: dict[str, Any]) -> list[int]:
        """Start `count` clients; their app ports once each is Ready."""
        key = json.loads(envelope["payload"])["baseKey"]
        ports = [(free_port(), free_port()) for _ in range(count)]
        for i, (status, app) in enumerate(ports):
            self.spawn(["client"], {**self.common, "SWARM_DATA_DIR": str(self.work / f"client-{i}"),
                                    "SWARM_STATUS_PORT": str(status), "SWARM_APP_PORT": str(app),
                                    "SWARM_BASE_KEY": key, "SWARM_HOST_PUBLIC_KEY": envelope["publicKey"],
                                    "SWARM_REQUIRE_BOOTSTRAP": "true"})
        wait_for(f"{count} clients Ready", lambda: all(ready(s) for s, _ in ports), 300)
        return [app for _, app in ports]

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def load(apps: list[int], seconds: float, rate: float, value_bytes: int) -> dict[int, int]:
    """Appends through the clients' app APIs, one thread per client, `rate` per second in all: the
    answers' status codes counted (0: no answer within 5 s)."""
    value = "x" * value_bytes
    counts: dict[int, int] = {}
    lock = threading.Lock()
    start = time.monotonic()

    def writer(port: int) -> None:
        n = 0
        while time.monotonic() - start < seconds:
            code, _ = http(port, "/append", {"key": f"k{n % 1000}", "value": value})
            with lock:
                counts[code] = counts.get(code, 0) + 1
            n += 1
            time.sleep(max(0.0, start + n * len(apps) / rate - time.monotonic()))

    threads = [threading.Thread(target=writer, args=(port,)) for port in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description="a bootstrap host's memory and CPU, measured")
    parser.add_argument("--clients", type=int, default=5, help="reference clients (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=60, help="seconds of write load (default %(default)s)")
    parser.add_argument("--rate", type=float, default=20, help="appends per second, all clients (default %(default)s)")
    parser.add_argument("--value-bytes", type=int, default=256, help="bytes per entry (default %(default)s)")
    parser.add_argument("--settle", type=float, default=15, help="seconds of each idle phase (default %(default)s)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="swarm-footprint-"))
    peers = Peers(work)
    try:
        host, host_port, envelope = peers.host()
        sampler = Sampler(host.pid)
        sampler.phase = "idle"
        sampler.start()
        time.sleep(args.settle)
        sampler.phase = "clients"
        apps = peers.clients(args.clients, envelope)
        for app in apps:  # every client admitted as a writer before the load
            wait_for("the clients admitted as writers",
                     lambda app=app: http(app, "/append", {"key": "probe", "value": 0})[0] == 200, 300)
        time.sleep(args.settle)
        sampler.phase = "load"
        answers = load(apps, args.seconds, args.rate, args.value_bytes)
        sampler.phase = "after"
        time.sleep(args.settle)
        peak = sampler.peak()
        sampler.halt.set()
        sampler.join()
        if host.poll() is not None:
            raise RuntimeError(f"the host exited ({host.returncode}) during the run")
        answer = wait_for("the host's /status", lambda: http(host_port, "/status")[1], 60)
        view = json.loads(answer["payload"]).get("viewLength")
    finally:
        peers.close()

    print(f"swarm-peer host footprint: {args.clients} clients appending {args.value_bytes} B entries for "
          f"{args.seconds:g} s at up to {args.rate:g}/s: {answers.get(200, 0)} accepted "
          f"({answers.get(200, 0) / args.seconds:.1f}/s), answers by status {dict(sorted(answers.items()))}; "
          f"host view length {view}")
    print(f"{'phase':<8} {'RSS p50':>9} {'RSS max':>9} {'CPU mean':>9} {'CPU p95':>9}")
    for phase in ("idle", "clients", "load", "after"):
        f = sampler.figures(phase)
        print(f"{phase:<8} {f['rss_p50'] / 2**20:7.1f}Mi {f['rss_max'] / 2**20:7.1f}Mi "
              f"{f['cpu_mean']:7.0f}m {f['cpu_p95']:8.0f}m")
    print(f"peak RSS (VmHWM) {peak / 2**20:.1f}Mi")
    return 0


if __name__ == "__main__":
    sys.exit(main())
