"""The alert rules, checked and unit-tested with the real promtool."""

from __future__ import annotations

from packaging_support import CHART, HERE, run, tool


def test_promtool_check_rules() -> None:
    out = run(tool("promtool"), "check", "rules", str(CHART / "files" / "alerts.yaml"))
    assert "SUCCESS: 4 rules found" in out.stdout, out.stdout


def test_promtool_test_rules_fire_and_stay_silent() -> None:
    out = run(tool("promtool"), "test", "rules", str(HERE / "alerts.test.yaml"), cwd=HERE)
    assert "SUCCESS" in out.stdout, out.stdout + out.stderr
