"""The Grafana dashboard's structure: a grid without overlaps, namespace/topic variables that every
query of a per-topic series uses, quantiles over rates (not lifetime), and the peer series users
need on it. Whether each query returns data is test_observability.py's job (a real Prometheus)."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

from packaging_support import DASHBOARD, REPO
from swarm_operator import metrics

PEER_PROGRAM = REPO / "images" / "swarm-peer" / "program"
# The series the reference peer exports (its prom-client series of the library's stats), asked of
# the program itself.
PEER_SERIES_JS = """
const { Stats } = require('@swarm-operator/member')
const { createMetrics } = require('./lib/metrics')
createMetrics('host', new Stats()).registry.getMetricsAsJSON()
  .then((all) => process.stdout.write(JSON.stringify(all.map((m) => m.name))))
"""
SELECTOR = re.compile(r"\b(swarm_(?:operator|peer)_[a-z0-9_]+)\b(\{[^}]*\})?")
FILTERS = ('namespace=~"$namespace"', 'topic=~"$topic"')


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def base_name(series: str) -> str:
    return re.sub(r"_(bucket|count|sum)$", "", series)


def labelled_metrics() -> set[str]:
    """Metrics with `namespace` and `topic` labels: the operator's per-topic families, and every
    swarm-peer metric (the PodMonitor's target labels: the pod's namespace, its topic label)."""
    collector = metrics.TopicMetrics()
    collector.set("ns", "t", metrics.TopicSample(
        phase="Stuck", bootstrap_seconds=1.0, clients_ready=0, clients_desired=1,
        conditions=(("Ready", "False"),), reason="AnnounceTimeout"))
    operator = {fam.name for fam in collector.collect() if any("topic" in s.labels for s in fam.samples)}
    peer = set(json.loads(subprocess.run(["node", "-e", PEER_SERIES_JS], cwd=PEER_PROGRAM, capture_output=True,
                                         text=True, check=True, timeout=60).stdout))
    assert len(operator) >= 5 and len(peer) >= 10, (operator, peer)
    return operator | peer


def overlaps(panels: list[dict[str, Any]]) -> list[tuple[str, str]]:
    boxes = [(p["title"], p["gridPos"]) for p in panels]
    found = []
    for i, (a, pa) in enumerate(boxes):
        for b, pb in boxes[i + 1:]:
            if (pa["x"] < pb["x"] + pb["w"] and pb["x"] < pa["x"] + pa["w"]
                    and pa["y"] < pb["y"] + pb["h"] and pb["y"] < pa["y"] + pa["h"]):
                found.append((a, b))
    return found


def test_overlap_check_is_not_vacuous() -> None:
    a = {"title": "a", "gridPos": {"x": 0, "y": 34, "w": 12, "h": 8}}
    b = {"title": "b", "gridPos": {"x": 6, "y": 34, "w": 6, "h": 8}}
    c = {"title": "c", "gridPos": {"x": 12, "y": 34, "w": 12, "h": 8}}
    assert overlaps([a, b, c]) == [("a", "b")]


def test_no_panels_overlap_and_all_fit_the_grid() -> None:
    panels = dashboard()["panels"]
    assert overlaps(panels) == []
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, panel["title"]
    assert len({p["id"] for p in panels}) == len(panels), "panel ids repeat"


def test_namespace_and_topic_variables() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    for name in ("namespace", "topic"):
        var = variables[name]
        assert var["type"] == "query" and var["multi"] and var["includeAll"] and var["allValue"] == ".*"
        assert "swarm_operator_topic_phase" in var["definition"], name
    assert '$namespace' in variables["topic"]["definition"]  # topics of the chosen namespaces


def test_every_per_topic_selector_uses_the_variables() -> None:
    labelled = labelled_metrics()
    missing = []
    used = set()
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            for series, selector in SELECTOR.findall(target["expr"]):
                used.add(base_name(series))
                if base_name(series) in labelled and not all(f in selector for f in FILTERS):
                    missing.append(f"{panel['title']}: {series}{selector}")
    assert not missing, "selectors without the namespace/topic filter:\n" + "\n".join(missing)
    wanted = {"swarm_peer_replicated_seconds", "swarm_peer_ready", "swarm_peer_view_length",
              "swarm_peer_writers_added_total", "swarm_peer_first_peer_seconds",
              "swarm_operator_topic_phase", "swarm_operator_topic_reason",
              "swarm_operator_topic_clients_ready", "swarm_operator_topic_bootstrap_seconds",
              "swarm_operator_bootstrap_duration_seconds", "swarm_operator_host_announce_duration_seconds"}
    assert wanted <= used, wanted - used


def test_quantiles_are_over_rates_or_the_running_peers() -> None:
    """The operator's histograms are long-lived: quantiles of their rate over $__rate_interval. A
    peer observes its latencies once per process, mostly before its first scrape (a rate would
    never see the step): quantiles over the peers running now, per topic. Never the whole range."""
    operator_rate = re.compile(r"\brate\(swarm_operator_[a-z_]+_bucket\[\$__rate_interval\]\)")
    peers_now = re.compile(r"sum by \(namespace, topic, le\) \(swarm_peer_[a-z_]+_bucket\{[^}]*\}\)\)$")
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            assert "$__range" not in expr, f"{panel['title']}: a whole-range statistic"
            if "histogram_quantile" in expr:
                assert operator_rate.search(expr) or peers_now.search(expr), f"{panel['title']}: {expr}"


def test_a_table_of_topics_not_ready_with_their_reason() -> None:
    tables = [p for p in dashboard()["panels"] if p["type"] == "table"]
    assert tables, "no table panel"
    target = tables[0]["targets"][0]
    assert target["format"] == "table" and target["instant"] is True
    assert "swarm_operator_topic_reason" in target["expr"] and "group_left (phase)" in target["expr"]
