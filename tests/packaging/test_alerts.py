"""The alert rules (charts/swarm-operator/files/alerts.yaml), checked and unit-tested with the real
promtool: the same file is the chart's PrometheusRule spec."""

from __future__ import annotations

from typing import Any

import yaml
from packaging_support import ALERTS, HERE, alert_rules, run, tool

TESTS = HERE / "alerts.test.yaml"


def test_promtool_check_rules() -> None:
    out = run(tool("promtool"), "check", "rules", str(ALERTS))
    assert f"SUCCESS: {len(alert_rules())} rules found" in out.stdout, out.stdout + out.stderr


def test_promtool_test_rules_fire_and_stay_silent() -> None:
    out = run(tool("promtool"), "test", "rules", str(TESTS), cwd=HERE)
    assert "SUCCESS" in out.stdout, out.stdout + out.stderr


def test_every_alert_is_tested_both_ways() -> None:
    """Each alert has a case where it fires and one where it must not."""
    cases: list[dict[str, Any]] = [case for test in yaml.safe_load(TESTS.read_text())["tests"]
                                   for case in test.get("alert_rule_test", [])]
    for rule in alert_rules():
        mine = [c for c in cases if c["alertname"] == rule["alert"]]
        assert any(c["exp_alerts"] for c in mine), f"{rule['alert']} never expected to fire"
        assert any(not c["exp_alerts"] for c in mine), f"{rule['alert']} never expected to stay silent"
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
