"""The scale benchmark's CPU breakdown (bench/scale_figures.py: cpu_parts, cpu_summary): py-spy's raw
stacks charged to the first part of the operator's work they pass through, and each part's share
of the operator's measured CPU per topic."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from scale_figures import cpu_parts, cpu_summary

LOOP = "_run_module_as_main (<frozen runpy>:198);BaseEventLoop._run_once (asyncio/base_events.py:1922)"
PASS = f"{LOOP};Controller._worker (swarm_operator/reconciler/controller.py:135);reconcile (reconcile.py:80)"
RAW = "\n".join([
    f"{PASS};plan (swarm_operator/planner/__init__.py:87);host_zero (swarm_operator/planner/host.py:199) 30",
    f"{PASS};observe (observe.py:101);_report (observe.py:183);read_host_report (hostclient.py:41) 5",
    f"{PASS};observe (observe.py:101);Caches.get (caches.py:50);Informer.get (swarm_operator/api/informer.py:108);"
    "_unpack (swarm_operator/api/informer.py:74) 10",
    f"{PASS};act (act.py:143);Kube.request (swarm_operator/api/client.py:133) 20",
    f"{PASS};act (act.py:143);_written (act.py:76) 4",
    f"{LOOP};Informer._follow (swarm_operator/api/informer.py:260);"
    "Informer._watch (swarm_operator/api/informer.py:290) 25",
    f"{LOOP};Informer._follow (swarm_operator/api/informer.py:262);Informer._changed (informer.py:185);"
    "_pack (swarm_operator/api/informer.py:70) 6",
    f"{LOOP};Handle._run (asyncio/events.py:80);"
    "_SelectorSocketTransport._read_ready (asyncio/selector_events.py:970) 8",
    "_run_module_as_main (<frozen runpy>:198);EpollSelector.select (selectors.py:468) 40",
    f"{LOOP};Handle._run (asyncio/events.py:80) 2",
    "not a stack line",
])


def test_each_stack_is_charged_to_the_first_part_it_passes_through() -> None:
    parts = cpu_parts(RAW)
    assert parts["plan (pure)"] == 30
    assert parts["host report reads"] == 5  # inside observe, yet transport
    assert parts["the caches' entries (zlib, orjson)"] == 10 + 6  # a read's unpack, a watch event's store
    assert parts["API requests (aiohttp, TLS, JSON)"] == 20
    assert parts["act"] == 4
    assert parts["watch events"] == 25
    assert parts["socket receive (asyncio, TLS)"] == 8
    assert parts["waiting (epoll)"] == 40
    assert parts["other"] == 2
    assert sum(parts.values()) == 150


def test_the_summary_shares_the_measured_cpu_among_the_busy_samples() -> None:
    lines = cpu_summary(cpu_parts(RAW), cpu_ms_per_topic=22.0)  # 110 busy samples: 0.2 ms each
    assert "110 busy samples" in lines[0] and "40 waiting" in lines[0]
    by_name = {line.rsplit("%", 1)[0].rsplit(None, 1)[0].strip(): line for line in lines[1:]}
    assert by_name["plan (pure)"].endswith(" 6.0 ms/topic")
    assert by_name["= transport"].endswith(f"{0.2 * (5 + 20 + 25 + 8):5.1f} ms/topic")
    assert by_name["= logic"].endswith(f"{0.2 * 34:5.1f} ms/topic")
    assert cpu_summary(cpu_parts(""), 10.0) == ["no samples"]
