"""Container start figures, printed (never asserted: timings are noisy on 2 shared cores): how
long a pod takes from `kubectl apply` to Ready, alone and ten at once, on each runtime."""

from __future__ import annotations

import statistics
import time

import pytest
from lc_images import TEST_IMAGE
from lc_kube import Kube, ready
from lc_node import Where

BATCH = 10

POD = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{figures: "yes"}}}}
spec:
  nodeSelector: {{kubernetes.io/hostname: {node}}}
  terminationGracePeriodSeconds: 1
  containers:
    - name: main
      image: {image}
      imagePullPolicy: Never
      command: [node, -e, "require('http').createServer((q, r) => r.end('ok')).listen(8080)"]
      readinessProbe: {{httpGet: {{path: /, port: 8080}}, periodSeconds: 1}}
"""


def _ready_times(kube: Kube, ns: str, names: list[str], started: float) -> dict[str, float]:
    seen: dict[str, float] = {}
    deadline = started + 180
    while len(seen) < len(names) and time.monotonic() < deadline:
        listing = kube.get(f"/api/v1/namespaces/{ns}/pods?labelSelector=figures%3Dyes") or {}
        now = time.monotonic()
        for pod in listing.get("items", []):
            name = pod["metadata"]["name"]
            if name in names and name not in seen and ready(pod):
                seen[name] = now - started
        time.sleep(0.2)
    return seen


def test_pod_start_figures(kube: Kube, where: Where, capsys: pytest.CaptureFixture[str]) -> None:
    node = where.node.name
    started = time.monotonic()
    kube.apply(where.ns, POD.format(name="solo", node=node, image=TEST_IMAGE))
    solo = _ready_times(kube, where.ns, ["solo"], started)
    names = [f"batch-{i}" for i in range(BATCH)]
    started = time.monotonic()
    kube.apply(where.ns, "---".join(POD.format(name=n, node=node, image=TEST_IMAGE) for n in names))
    batch = _ready_times(kube, where.ns, names, started)
    assert "solo" in solo and len(batch) == BATCH, f"not Ready in 180 s: {sorted(set(names) - set(batch))}"
    times = sorted(batch.values())
    with capsys.disabled():
        print(f"\n[figures] {where.node.runtime}: one pod apply->Ready {solo['solo']:.2f}s; {BATCH} pods at once: "
              f"first {times[0]:.2f}s, median {statistics.median(times):.2f}s, last {times[-1]:.2f}s "
              f"(readiness probe period 1s, 2 shared cores)")
