"""`make demo`: a cold start of examples/topic.yaml on the local cluster.

Starts the local cluster (a real control plane and a real node, kubelet + containerd, built from
source; images pulled from a local registry), installs the operator with the chart's helm
release, starts the private DHT, runs `kubectl apply -n swarm-demo -f` on the topic (a namespace
enforcing the `restricted` Pod Security Standard), shows progress on stderr while it converges,
then prints one JSON summary line on stdout and stops everything.
`distinctBaseKeys` counts the keys the client pods report themselves. Exit status 0 only for a
Ready topic whose clients all report one and the same key.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from e2e_support import (
    RESTRICTED,
    LocalCluster,
    WaitTimeout,
    client_pods,
    client_reported_keys,
    condition,
    ensure_dht,
    pod_ready,
)

DEMO_NAMESPACE = "swarm-demo"


def say(message: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def describe(topic: dict[str, Any] | None) -> str:
    status = (topic or {}).get("status", {})
    conditions = " ".join(f"{c['type']}={c['status']}({c.get('reason', '')})"
                          for c in status.get("conditions", []))
    key = status.get("baseKey", "")
    return f"phase={status.get('phase', '-')} baseKey={key[:12] or '-'} {conditions}"


def converge(cluster: LocalCluster, name: str, ns: str, clients: int,
             timeout: float) -> dict[str, Any]:
    started = time.monotonic()
    last_line = last_table = ""
    while time.monotonic() - started < timeout:
        topic = cluster.topic(name, ns)
        line = describe(topic)
        if line != last_line:
            say(f"+{time.monotonic() - started:5.1f}s {line}")
            last_line = line
        table = cluster.kubectl("get", "swarmtopics", "-n", ns, check=False)
        if table and table != last_table:
            print(table.rstrip(), file=sys.stderr, flush=True)
            last_table = table
        ready = condition(topic, "Ready")
        ready_pods = [p for p in client_pods(cluster, name, ns) if pod_ready(p)]
        if ready and ready["status"] == "True" and len(ready_pods) == clients:
            return {"topic": topic, "seconds": time.monotonic() - started}
        time.sleep(0.5)
    raise WaitTimeout(f"{ns}/{name} not Ready with {clients} clients after {timeout:.0f}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", type=Path, help="a SwarmTopic manifest (examples/topic.yaml)")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()

    manifest = yaml.safe_load(args.manifest.read_text())
    name = manifest["metadata"]["name"]
    ns = manifest["metadata"].get("namespace", DEMO_NAMESPACE)
    clients = sum(group.get("replicas", 1) for group in manifest["spec"].get("clients", []))

    state_dir = Path(tempfile.mkdtemp(prefix="swarm-demo-"))
    say(f"starting the local cluster (control plane, registry, node, add-ons, the operator's helm release; "
        f"state in {state_dir}, removed at the end unless SWARM_KEEP_STATE=1)")
    cluster = LocalCluster(state_dir)
    summary: dict[str, Any] = {"topic": name, "phase": None, "clients": clients,
                               "clientsReady": 0, "distinctBaseKeys": 0, "secondsToReady": None}
    try:
        cluster.start()
        say("starting the private DHT node (examples/dht.yaml)")
        ensure_dht(cluster)
        cluster.create_namespace(ns, RESTRICTED)
        say(f"kubectl apply -n {ns} -f {args.manifest} (the namespace enforces the restricted Pod Security Standard)")
        print(cluster.kubectl("apply", "-n", ns, "-f", str(args.manifest)).rstrip(), file=sys.stderr)
        result = converge(cluster, name, ns, clients, args.timeout)
        say(f"kubectl get pods -n {ns} -o wide (containerd on the node; images pulled from the local registry)")
        print(cluster.kubectl("get", "pods", "-n", ns, "-o", "wide").rstrip(), file=sys.stderr)
        keys = client_reported_keys(cluster, name, ns)
        say(f"swarm-operator status {ns}/{name}")
        shown = subprocess.run([sys.executable, "-m", "swarm_operator", "status", f"{ns}/{name}",
                                "--kubeconfig", str(cluster.kubeconfig)], capture_output=True, text=True)
        print((shown.stdout or shown.stderr).rstrip(), file=sys.stderr)
        status = result["topic"]["status"]
        summary.update(phase=status.get("phase"), clientsReady=len(keys),
                       distinctBaseKeys=len(set(keys)), secondsToReady=round(result["seconds"], 2),
                       bootstrapSeconds=status.get("bootstrapSeconds"),
                       baseKeyMatchesStatus=set(keys) == {status.get("baseKey")},
                       node=cluster.node_info(), kubernetes=cluster.plane.version())
    except WaitTimeout as exc:
        say(str(exc))
        summary["phase"] = describe(cluster.topic(name, ns))
    finally:
        say("stopping the operator, the peers and the local cluster")
        cluster.close()
    print(json.dumps(summary), flush=True)
    ok = (summary["phase"] == "Ready" and summary["distinctBaseKeys"] == 1
          and summary["clientsReady"] == clients)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
