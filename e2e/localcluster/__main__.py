"""`localcluster` (or `python -m localcluster`): the local cluster by hand.

  up      control plane, registry, real node, add-ons, the operator's helm release and the private
          DHT of examples/dht.yaml, until Ctrl-C or SIGTERM; prints KUBECONFIG=...
  down    stop a running `up` (SIGTERM to the pid holding the node's lock) and remove whatever a
          killed run left on the machine (processes, mounts, bridge, firewall chains, cgroups;
          kernel settings restored)
  check   compare the machine with a snapshot: `check --save FILE` writes one, `check FILE` prints
          every difference (exit 1 when there is one)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path


def up(no_operator: bool, network_policy: bool = False) -> int:
    from .cluster import NodeCluster
    from .testing import ensure_dht, remove_state, set_operator_replicas, shared_control_plane

    state = Path(tempfile.mkdtemp(prefix="swarm-local-"))

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt  # SIGTERM at any step (even while starting) cleans up as Ctrl-C does

    signal.signal(signal.SIGTERM, interrupted)
    nodes = None
    try:
        plane = shared_control_plane()
        nodes = NodeCluster(plane, state, network_policy=network_policy)
        nodes.start()
        set_operator_replicas(plane, 0 if no_operator else 2)
        ensure_dht(plane)
        print(f"KUBECONFIG={plane.kubeconfig}", flush=True)
        node = nodes.node.describe()
        print(f"Kubernetes {plane.version()}; node {node['name']} (kubelet {node['kubelet']}, "
              f"{node['containerRuntime']}); images from the registry on {nodes.registry.address}; "
              "the private DHT of examples/dht.yaml is Ready. Ctrl-C stops everything.", file=sys.stderr, flush=True)
        print(f"start-up (s since the node's start): {json.dumps(nodes.timings)}", file=sys.stderr, flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one clean-up, whatever arrives meanwhile
        if nodes is not None:
            stopping = time.monotonic()
            done = nodes.stop()
            print(f"stopped in {time.monotonic() - stopping:.1f} s: {'; '.join(done)}", file=sys.stderr, flush=True)
        remove_state(state)
    return 0


def down() -> int:
    from .controlplane import BIN
    from .node import LOCK
    from .node_config import NodeLayout
    from .teardown import teardown

    holder = LOCK.read_text().strip() if LOCK.exists() else ""
    if holder.isdigit() and Path(f"/proc/{holder}").exists():
        print(f"localcluster: stopping the running cluster (pid {holder})", file=sys.stderr)
        os.kill(int(holder), signal.SIGTERM)
        deadline = time.monotonic() + 120
        while Path(f"/proc/{holder}").exists() and time.monotonic() < deadline:
            time.sleep(0.5)
    done = teardown(NodeLayout(), BIN / "kube-proxy")
    print("; ".join(done) or "nothing to remove", flush=True)
    return 0


def check(path: Path, save: bool) -> int:
    from . import machine

    if save:
        machine.save(path)
        print(f"saved a snapshot of the machine to {path}")
        return 0
    differences = machine.diff(json.loads(path.read_text()), machine.snapshot())
    print("\n".join(differences) or "no difference: the machine is as it was")
    return 1 if differences else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localcluster", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="start the local cluster until Ctrl-C")
    start.add_argument("--no-operator", action="store_true", help="leave the operator at 0 replicas")
    start.add_argument("--network-policy", action="store_true",
                       help="enforce NetworkPolicies (kube-router's network-policy controller)")
    commands.add_parser("down", help="stop a running cluster and remove what a killed run left")
    snap = commands.add_parser("check", help="compare the machine with a saved snapshot")
    snap.add_argument("snapshot", type=Path)
    snap.add_argument("--save", action="store_true", help="write the snapshot instead")
    args = parser.parse_args(argv)
    if args.command == "up":
        return up(args.no_operator, args.network_policy)
    if args.command == "down":
        return down()
    return check(args.snapshot, args.save)


if __name__ == "__main__":
    sys.exit(main())
