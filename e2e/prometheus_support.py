"""A real Prometheus beside the local cluster, for the observability case: it scrapes the
operator and the peers, loads the chart's alert rules, and is asked the chart dashboard's
expressions as Grafana would ask them."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "charts" / "swarm-operator"
ALERTS = CHART / "files" / "alerts.yaml"
DASHBOARD = CHART / "files" / "dashboards" / "swarm-operator.json"
# Grafana's built-in variables, replaced by concrete values before a query goes to Prometheus.
GRAFANA_VARS = {"$__rate_interval": "30s", "$__range": "10m", "$__interval": "5s"}
# The dashboard's own variables, as Grafana renders "All" (their allValue).
DASHBOARD_VARS = {"$namespace": ".*", "$topic": ".*"}


def tool(name: str) -> str:
    """A tool of the set-up's: .tools/bin, then PATH (Debian's prometheus and promtool)."""
    found = REPO / ".tools" / "bin" / name
    path = str(found) if found.exists() else shutil.which(name)
    assert path, f"{name} is not installed: run `make test-setup`"
    return path


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def dashboard_exprs(variables: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(panel / legend, expr) of every dashboard target, Grafana variables replaced (the
    dashboard's own ones by `variables`, default: All)."""
    return [(title, expr) for title, expr, _kind in dashboard_targets(variables)]


def dashboard_targets(variables: dict[str, str] | None = None) -> list[tuple[str, str, str]]:
    """(panel / legend, expr, panel type) of every dashboard target, variables replaced."""
    dashboard = json.loads(DASHBOARD.read_text())
    replace = {**GRAFANA_VARS, **DASHBOARD_VARS, **(variables or {})}
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for var, value in replace.items():
                expr = expr.replace(var, value)
            assert "$" not in expr, f"unknown Grafana variable in {expr}"
            out.append((f"{panel['title']} / {target['legendFormat']}", expr, panel["type"]))
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as rsp:
        return rsp.read().decode()


def wait_until(what: str, predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def prometheus_config(jobs: Iterable[str], workdir: Path, scrape_interval: str = "1s") -> dict[str, Any]:
    """One scrape job per name, each reading its targets from `<workdir>/<job>.json` (file_sd,
    re-read every second): targets can be set before or after Prometheus starts."""
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": [str(ALERTS)],  # the alerts evaluate (and must load) against the same data
        "scrape_configs": [
            {"job_name": job,
             "file_sd_configs": [{"files": [str(workdir / f"{job}.json")], "refresh_interval": "1s"}]}
            for job in jobs
        ],
    }


class Prometheus:
    """`prometheus` on 127.0.0.1:<free port> scraping the targets given per job."""

    def __init__(self, workdir: Path, jobs: dict[str, list[str]]) -> None:
        self.workdir = workdir
        self.port = free_port()
        for job, targets in jobs.items():
            self.set_targets(job, targets)
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(prometheus_config(jobs, workdir)))
        self.log = open(workdir / "prometheus.log", "ab")  # closed in stop()
        self.proc = subprocess.Popen(
            [tool("prometheus"), f"--config.file={workdir / 'prometheus.yml'}",
             f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_until("Prometheus ready", lambda: "Ready" in http_get(f"{self.url}/-/ready"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_targets(self, job: str, targets: list[str]) -> None:
        self.set_target_groups(job, [{"targets": targets}])

    def set_target_groups(self, job: str, groups: list[dict[str, Any]]) -> None:
        """file_sd groups: {"targets": [...], "labels": {...}} (labels as service discovery sets them)."""
        path = self.workdir / f"{job}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(groups))
        tmp.replace(path)  # atomic: Prometheus never reads half a file

    def query(self, expr: str) -> list[dict[str, Any]]:
        body = json.loads(http_get(f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})))
        assert body["status"] == "success", body
        return body["data"]["result"]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step}"}
        body = json.loads(http_get(f"{self.url}/api/v1/query_range?" + urllib.parse.urlencode(params)))
        assert body["status"] == "success", body
        return body["data"]["result"]

    def up_targets(self) -> int:
        return len(self.query("up == 1"))

    def rule_health(self) -> dict[str, str]:
        body = json.loads(http_get(f"{self.url}/api/v1/rules"))
        return {r["name"]: r["health"] for g in body["data"]["groups"] for r in g["rules"]}

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
