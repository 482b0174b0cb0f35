"""Real metrics, checked with real tools, during a simulated-cluster run.

One run of the simulated cluster with the operator (metrics on), the private DHT and a topic with
three clients, scraped every second by a real Prometheus (Debian's 2.42) started before the topic
is applied. Then: `promtool check metrics` on the real /metrics text of the operator and of each
swarm-peer role, and every PromQL expression of the Grafana dashboard must return finite data.
"""

from __future__ import annotations

import json
import math
import re
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_support import (
    SimCluster,
    clients_ready,
    ensure_dht,
    pod_ready,
    status_port,
    topic_manifest,
    wait_for,
    wait_ready,
)
from packaging_support import CHART, run, tool

NS = "default"
GRAFANA_VARS = {"$__rate_interval": "30s", "$__range": "10m", "$__interval": "5s"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as rsp:
        return rsp.read().decode()


def dashboard_exprs() -> list[tuple[str, str]]:
    dashboard = json.loads((CHART / "files" / "dashboards" / "swarm-operator.json").read_text())
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for var, value in GRAFANA_VARS.items():
                expr = expr.replace(var, value)
            assert "$" not in expr, f"unknown Grafana variable in {expr}"
            out.append((f"{panel['title']} / {target['legendFormat']}", expr))
    return out


class Prometheus:
    def __init__(self, workdir: Path, operator_target: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.peers_file = workdir / "peers.json"
        self.peers_file.write_text("[]")
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {"job_name": "swarm-operator", "static_configs": [{"targets": [operator_target]}]},
                {"job_name": "swarm-peers", "file_sd_configs": [{"files": [str(self.peers_file)],
                                                                 "refresh_interval": "1s"}]},
            ],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.proc = subprocess.Popen(
            [tool("prometheus"), f"--config.file={workdir / 'prometheus.yml'}",
             f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=open(workdir / "prometheus.log", "ab"), stderr=subprocess.STDOUT)
        wait_for("Prometheus ready", lambda: self._ready(), timeout=60)

    def _ready(self) -> bool:
        try:
            return "Ready" in http_get(f"http://127.0.0.1:{self.port}/-/ready")
        except OSError:
            return False

    def set_peers(self, targets: list[str]) -> None:
        self.peers_file.write_text(json.dumps([{"targets": targets}]))

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        body = json.loads(http_get(url))
        assert body["status"] == "success", body
        return body["data"]["result"]

    def up_targets(self) -> int:
        return sum(1 for r in self.query("up == 1"))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


@pytest.fixture(scope="module")
def observed_run() -> Iterator[dict[str, Any]]:
    workdir = Path(tempfile.mkdtemp(prefix="swarm-obs-"))
    metrics_port = free_port()
    cluster = SimCluster(workdir / "sim", metrics_port=metrics_port)
    prometheus: Prometheus | None = None
    try:
        cluster.start()
        ensure_dht(cluster)
        wait_for("operator metrics", lambda: _try(f"http://127.0.0.1:{metrics_port}/metrics"), timeout=60)
        prometheus = Prometheus(workdir, f"127.0.0.1:{metrics_port}")
        wait_for("the operator scraped", lambda: prometheus.up_targets() >= 1, timeout=30)
        cluster.apply(topic_manifest("observed", NS, clients=3))
        wait_ready(cluster, "observed", NS)
        wait_for("3 clients", lambda: clients_ready(cluster, "observed", NS, 3))
        pods = [p for p in cluster.pods(NS, "app.kubernetes.io/name=swarm-peer") if pod_ready(p)]
        targets = [f"127.0.0.1:{status_port(p)}" for p in pods]
        prometheus.set_peers(targets)
        wait_for("every peer scraped", lambda: prometheus.up_targets() >= 1 + len(targets), timeout=30)
        time.sleep(3)  # a few more scrapes after the rollout
        roles = {}
        for pod in pods:
            role = pod["metadata"]["labels"].get("app.kubernetes.io/component", "")
            roles.setdefault(role, http_get(f"http://127.0.0.1:{status_port(pod)}/metrics"))
        yield {"prometheus": prometheus, "operator": http_get(f"http://127.0.0.1:{metrics_port}/metrics"),
               "peers": roles, "workdir": workdir}
    finally:
        if prometheus is not None:
            prometheus.stop()
        cluster.close()


def _try(url: str) -> bool:
    try:
        return bool(http_get(url))
    except OSError:
        return False


def promtool_check_metrics(text: str) -> subprocess.CompletedProcess[str]:
    return run(tool("promtool"), "check", "metrics", input=text, check=False)


def test_operator_metrics_pass_promtool(observed_run: dict[str, Any]) -> None:
    text = observed_run["operator"]
    for name in ("swarm_operator_bootstrap_duration_seconds_bucket", "swarm_operator_topics",
                 "swarm_operator_reconcile_errors_total", "swarm_operator_base_key_conflicts_total",
                 "swarm_operator_client_rollout_duration_seconds_count"):
        assert name in text, name
    assert 'le="600.0"' in text and 'le="0.05"' in text  # the explicit 0.05..600 s buckets
    proc = promtool_check_metrics(text)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_peer_metrics_pass_promtool(observed_run: dict[str, Any]) -> None:
    peers = observed_run["peers"]
    assert {"bootstrap-host", "client", "dht-bootstrap"} <= set(peers), set(peers)
    for role, text in peers.items():
        assert "swarm_peer_dht_online" in text, role
        proc = promtool_check_metrics(text)
        assert proc.returncode == 0 and not proc.stdout.strip(), f"{role}: {proc.stdout}{proc.stderr}"


def test_no_high_cardinality_labels(observed_run: dict[str, Any]) -> None:
    hexkey = re.compile(r'="[0-9a-f]{64}"')
    for text in [observed_run["operator"], *observed_run["peers"].values()]:
        assert not hexkey.search(text), "a metric carries a key as a label"


def test_every_dashboard_query_returns_data(observed_run: dict[str, Any]) -> None:
    prometheus: Prometheus = observed_run["prometheus"]
    empty = []
    exprs = dashboard_exprs()
    assert len(exprs) >= 15
    for title, expr in exprs:
        result = prometheus.query(expr)
        values = [float(r["value"][1]) for r in result]
        if not [v for v in values if math.isfinite(v)]:
            empty.append(f"{title}: {expr} -> {result}")
    assert not empty, "dashboard queries without data:\n" + "\n".join(empty)


def test_alert_expressions_evaluate(observed_run: dict[str, Any]) -> None:
    prometheus: Prometheus = observed_run["prometheus"]
    rules = yaml.safe_load((CHART / "files" / "alerts.yaml").read_text())
    for rule in rules["groups"][0]["rules"]:
        prometheus.query(rule["expr"])  # status success: the expression is valid PromQL here
    # And the healthy run fires none of them.
    assert prometheus.query(rules["groups"][0]["rules"][1]["expr"]) == []
