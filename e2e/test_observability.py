"""Real metrics, checked with real tools, during a local-cluster run.

One run of the local cluster (real control plane, pods in containers) with the real operator
installed by the chart (its pod's metrics port), the
private DHT of examples/dht.yaml, a topic with three clients and a paused one, scraped every second
by a real Prometheus (Debian's 2.42, loading files/alerts.yaml) started before the topics are
applied, so the operator's histograms hold the observations of a real cold start. Peer targets
carry the `namespace` and `topic` labels the chart's PodMonitor gives them. Then: `promtool check
metrics` on the real /metrics text of the operator and of each swarm-peer role, the per-topic
series tell each topic's state (and go with a deleted topic), every PromQL expression of the
Grafana dashboard returns finite data for the chosen namespace and topics (time series panels as a
range query over the run, like Grafana), and every alert rule evaluates.
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
    LocalCluster,
    clients_ready,
    ensure_dht,
    pod_ready,
    shared_local_cluster,
    status_port,
    topic_manifest,
    wait_for,
    wait_ready,
)
from prometheus_support import Prometheus, alert_rules, dashboard_targets, http_get, tool

NS = "default"
HELD = "held"  # paused from the start: phase Paused, not Ready
OPERATOR_JOB, PEERS_JOB = "swarm-operator", "swarm-peers"


@pytest.fixture(scope="module")
def observed_run() -> Iterator[dict[str, Any]]:
    workdir = Path(tempfile.mkdtemp(prefix="swarm-obs-"))
    cluster: LocalCluster = shared_local_cluster()
    prometheus: Prometheus | None = None
    passed = False
    try:
        ensure_dht(cluster)
        metrics_url = cluster.operator_metrics_url()  # the leader's
        wait_for("operator metrics", lambda: _try(metrics_url), timeout=60)
        # Every replica, as the chart's ServiceMonitor scrapes them: the leader and the standby.
        replicas = [url.split("/")[2] for url in cluster.operator_metrics_urls().values()]
        prometheus = Prometheus(workdir, {OPERATOR_JOB: replicas, PEERS_JOB: []})
        wait_for("the operators scraped", lambda: prometheus.up_targets() >= len(replicas), timeout=30)
        started = time.time()
        cluster.apply(topic_manifest("observed", NS, clients=3, hosts=None))  # three: the HA panels have data
        cluster.apply(topic_manifest(HELD, NS, clients=1, paused=True))
        wait_ready(cluster, "observed", NS)
        wait_for("3 clients", lambda: clients_ready(cluster, "observed", NS, 3))
        pods = [p for p in cluster.pods(NS, "app.kubernetes.io/name=swarm-peer") if pod_ready(p)]
        targets = [peer_address(p) for p in pods]
        prometheus.set_target_groups(PEERS_JOB, [pod_monitor_target(p) for p in pods])
        wait_for("every peer scraped", lambda: prometheus.up_targets() >= len(replicas) + len(targets), timeout=30)
        time.sleep(3)  # a few more scrapes after the rollout
        roles = {}
        for pod in pods:
            role = pod["metadata"]["labels"].get("app.kubernetes.io/component", "")
            roles.setdefault(role, http_get(f"http://{peer_address(pod)}/metrics"))
        yield {"prometheus": prometheus, "operator": http_get(metrics_url),
               "peers": roles, "workdir": workdir, "started": started, "cluster": cluster,
               "metrics_url": metrics_url}
        passed = True
    finally:
        if prometheus is not None:
            prometheus.stop()
        for name in ("observed", HELD):  # the cluster is shared: leave nothing running
            cluster.delete("swarmtopic", name, NS, wait=True)
    if passed:  # on a failure the logs stay in workdir (prometheus.log)
        shutil.rmtree(workdir, ignore_errors=True)


def peer_address(pod: dict[str, Any]) -> str:
    return f"{pod['status']['podIP']}:{status_port(pod)}"


def pod_monitor_target(pod: dict[str, Any]) -> dict[str, Any]:
    """A file_sd target group as the chart's PodMonitor labels the pod: its namespace and its
    SwarmTopic (label swarm-operator.dev/topic; none on DHT nodes)."""
    labels = {"namespace": pod["metadata"]["namespace"]}
    if topic := pod["metadata"]["labels"].get("swarm-operator.dev/topic"):
        labels["topic"] = topic
    return {"targets": [peer_address(pod)], "labels": labels}


def _try(url: str) -> bool:
    try:
        return bool(http_get(url))
    except OSError:
        return False


def promtool_check_metrics(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), "check", "metrics"], input=text, capture_output=True, text=True,
                          timeout=120)


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


def test_per_topic_series_tell_each_topic(observed_run: dict[str, Any]) -> None:
    prometheus: Prometheus = observed_run["prometheus"]

    def one(expr: str) -> float | None:
        result = prometheus.query(expr)
        return float(result[0]["value"][1]) if len(result) == 1 else None

    obs = f'namespace="{NS}", topic="observed"'
    held = f'namespace="{NS}", topic="{HELD}"'
    assert one(f'swarm_operator_topic_phase{{{obs}, phase="Ready"}}') == 1
    assert one(f'sum(swarm_operator_topic_phase{{{obs}}})') == 1  # one phase at a time
    assert one(f'swarm_operator_topic_phase{{{held}, phase="Paused"}}') == 1
    assert one(f'swarm_operator_topic_clients_ready{{{obs}}}') == 3
    assert one(f'swarm_operator_topic_clients_desired{{{obs}}}') == 3
    assert (one(f'swarm_operator_topic_bootstrap_seconds{{{obs}}}') or 0) > 0
    assert one(f'swarm_operator_topic_condition{{{obs}, condition="Ready", status="True"}}') == 1
    assert one(f'swarm_operator_topic_condition{{{obs}, condition="Ready", status="False"}}') == 0
    assert prometheus.query(f'swarm_operator_topic_reason{{{obs}}}') == []
    # A paused topic still observes: its REASON (status.reason) is its first failing condition's
    # reason, whatever that is at the time; the series carries exactly that.
    held_reason = (observed_run["cluster"].topic(HELD, NS) or {}).get("status", {}).get("reason")
    assert held_reason, "a paused topic has a REASON"
    assert [r["metric"]["reason"] for r in prometheus.query(f'swarm_operator_topic_reason{{{held}}}')] \
        == [held_reason]
    assert one('sum(swarm_operator_topics{phase="Ready"})') == 1  # the standby counts none
    assert one("sum(swarm_operator_leader)") == 1


def test_a_deleted_topic_takes_its_series_along(observed_run: dict[str, Any]) -> None:
    cluster, url = observed_run["cluster"], observed_run["metrics_url"]
    cluster.apply(topic_manifest("brief", NS, clients=1, paused=True))
    wait_for("the paused topic's series", lambda: 'topic="brief"' in http_get(url), timeout=30)
    cluster.delete("swarmtopics", "brief", NS)
    wait_for("its series gone", lambda: 'topic="brief"' not in http_get(url), timeout=30)


def test_every_dashboard_query_returns_data(observed_run: dict[str, Any]) -> None:
    """Each query as Grafana sends it for the namespace and both topics chosen: instant for stat,
    bar gauge and table panels, a range query over the run for time series."""
    prometheus: Prometheus = observed_run["prometheus"]
    empty = []
    targets = dashboard_targets({"$namespace": NS, "$topic": f"observed|{HELD}"})
    assert len(targets) >= 30
    for title, expr, kind in targets:
        if kind == "timeseries":
            result = prometheus.query_range(expr, observed_run["started"], time.time(), step=1)
            values = [float(v[1]) for r in result for v in r["values"]]
        else:
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
    # A healthy cold start, once done, trips none of them (reconcile errors aside: a rate over seconds
    # of data). Done includes hosts 1 and 2 of the three-host topic, which turn Ready after host 0 (once
    # promoted), after the topic itself is Ready: until then SwarmTopicHostDown's expression has a value
    # (its `for: 5m` keeps it from firing).
    for rule in rules:
        if rule["alert"] != "SwarmOperatorReconcileErrors":
            wait_for(f"{rule['alert']} silent", lambda expr=rule["expr"]: prometheus.query(expr) == [] or None,
                     timeout=180)
