"""Real metrics, checked with real tools, during a simulated-cluster run.

One run of the simulated cluster with the real operator (`swarm-operator run --metrics-port`), the
private DHT of examples/dht.yaml and a topic with three clients, scraped every second by a real
Prometheus (Debian's 2.42, loading files/alerts.yaml) started before the topic is applied, so the
operator's histograms hold the observations of a real cold start. Then: `promtool check metrics`
on the real /metrics text of the operator and of each swarm-peer role, every PromQL expression of
the Grafana dashboard must return finite data, and every alert rule must evaluate.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
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
from packaging_support import Prometheus, alert_rules, dashboard_exprs, free_port, http_get, run, tool

NS = "default"
OPERATOR_JOB, PEERS_JOB = "swarm-operator", "swarm-peers"


@pytest.fixture(scope="module")
def observed_run() -> Iterator[dict[str, Any]]:
    workdir = Path(tempfile.mkdtemp(prefix="swarm-obs-"))
    metrics_port = free_port()
    cluster = SimCluster(workdir / "sim", metrics_port=metrics_port)
    prometheus: Prometheus | None = None
    passed = False
    try:
        cluster.start()
        ensure_dht(cluster)
        wait_for("operator metrics", lambda: _try(f"http://127.0.0.1:{metrics_port}/metrics"), timeout=60)
        prometheus = Prometheus(workdir, {OPERATOR_JOB: [f"127.0.0.1:{metrics_port}"], PEERS_JOB: []})
        wait_for("the operator scraped", lambda: prometheus.up_targets() >= 1, timeout=30)
        cluster.apply(topic_manifest("observed", NS, clients=3))
        wait_ready(cluster, "observed", NS)
        wait_for("3 clients", lambda: clients_ready(cluster, "observed", NS, 3))
        pods = [p for p in cluster.pods(NS, "app.kubernetes.io/name=swarm-peer") if pod_ready(p)]
        targets = [f"127.0.0.1:{status_port(p)}" for p in pods]
        prometheus.set_targets(PEERS_JOB, targets)
        wait_for("every peer scraped", lambda: prometheus.up_targets() >= 1 + len(targets), timeout=30)
        time.sleep(3)  # a few more scrapes after the rollout
        roles = {}
        for pod in pods:
            role = pod["metadata"]["labels"].get("app.kubernetes.io/component", "")
            roles.setdefault(role, http_get(f"http://127.0.0.1:{status_port(pod)}/metrics"))
        yield {"prometheus": prometheus, "operator": http_get(f"http://127.0.0.1:{metrics_port}/metrics"),
               "peers": roles, "workdir": workdir}
        passed = True
    finally:
        if prometheus is not None:
            prometheus.stop()
        cluster.close()
    if passed:  # on a failure the logs stay in workdir (sim.log, operator.log, prometheus.log)
        shutil.rmtree(workdir, ignore_errors=True)


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
    assert len(exprs) >= 20
    for title, expr in exprs:
        result = prometheus.query(expr)
        values = [float(r["value"][1]) for r in result]
        if not [v for v in values if math.isfinite(v)]:
            empty.append(f"{title}: {expr} -> {result}")
    assert not empty, "dashboard queries without data:\n" + "\n".join(empty)


def test_alert_rules_evaluate_and_stay_silent(observed_run: dict[str, Any]) -> None:
    prometheus: Prometheus = observed_run["prometheus"]
    rules = alert_rules()
    # Prometheus loaded files/alerts.yaml and has evaluated every rule on the real series.
    def all_ok() -> bool | None:
        health = prometheus.rule_health()
        return (len(health) == len(rules) and all(h == "ok" for h in health.values())) or None

    wait_for("every alert rule evaluated", all_ok, timeout=15)
    # A healthy cold start trips none of them (reconcile errors aside: a rate over seconds of data).
    for rule in rules:
        if rule["alert"] != "SwarmOperatorReconcileErrors":
            assert prometheus.query(rule["expr"]) == [], rule["alert"]
