"""`python -m localcluster up`: the local cluster by hand (control plane, node, the operator's
helm release), until Ctrl-C. Prints the admin kubeconfig's path."""

from __future__ import annotations

import argparse
import signal
import sys
import threading


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m localcluster", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up"])
    parser.add_argument("--runtime", choices=["podman", "process"], default="podman")
    parser.add_argument("--no-operator", action="store_true", help="leave the operator at 0 replicas")
    args = parser.parse_args()
    import tempfile
    from pathlib import Path

    from e2e_support import LocalCluster, ensure_dht  # the suite's harness; e2e is on sys.path
    cluster = LocalCluster(Path(tempfile.mkdtemp(prefix="swarm-local-")), runtime=args.runtime)

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt  # SIGTERM at any step (even while starting) cleans up as Ctrl-C does

    signal.signal(signal.SIGTERM, interrupted)
    try:
        cluster.start()
        if args.no_operator:
            cluster.set_operator_replicas(0)
        ensure_dht(cluster)
        print(f"KUBECONFIG={cluster.kubeconfig}", flush=True)
        print(f"Kubernetes {cluster.plane.version()}; node {cluster.plane.node_name} ({cluster.runtime});"
              " the private DHT of examples/dht.yaml is Ready. Ctrl-C stops everything.", file=sys.stderr)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.close()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    sys.exit(main())
