"""`swarm-operator run`: the operator's command line (also `python -m swarm_operator`)."""

from __future__ import annotations

import argparse
import logging
import os

from . import __version__

DEFAULT_PEER_IMAGE = "ghcr.io/swarm-operator/swarm-peer:0.1.0"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="swarm-operator", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the operator against the current cluster")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument("-A", "--all-namespaces", action="store_true",
                       help="watch SwarmTopics in every namespace (the default without --namespace)")
    scope.add_argument("-n", "--namespace", action="append", default=[], metavar="NS",
                       help="watch only this namespace (repeatable)")
    run.add_argument("--peer-image", default=os.environ.get("SWARM_OPERATOR_PEER_IMAGE", DEFAULT_PEER_IMAGE),
                     help="default swarm-peer image of bootstrap hosts (env SWARM_OPERATOR_PEER_IMAGE)")
    run.add_argument("--reconcile-interval", type=float, default=10.0, metavar="SECONDS",
                     help="re-check every topic at least this often, events or not (default 10)")
    run.add_argument("--workers", type=int, default=4, help="topics reconciled in parallel (default 4)")
    run.add_argument("--metrics-port", type=int, default=9090,
                     help="Prometheus /metrics port, 0 = off (default 9090)")
    run.add_argument("--liveness-port", type=int, default=8081,
                     help="kopf liveness /healthz port, 0 = off (default 8081)")
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    crd = sub.add_parser("crd", help="print the SwarmTopic CRD generated from the models")
    crd.add_argument("--check", action="store_true", help="exit 1 when crds/ is out of date")
    return parser


def run(args: argparse.Namespace) -> int:
    import kopf
    from prometheus_client import start_http_server

    from . import handlers
    from .metrics import REGISTRY

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers.CONFIG.peer_image = args.peer_image
    handlers.CONFIG.reconcile_interval = args.reconcile_interval
    handlers.CONFIG.workers = args.workers
    if args.metrics_port:
        start_http_server(args.metrics_port, registry=REGISTRY)
    liveness = f"http://0.0.0.0:{args.liveness_port}/healthz" if args.liveness_port else None
    kopf.run(
        standalone=True,  # one replica (Recreate): no kopf peering objects needed
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=liveness,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "crd":
        from .crd import main as crd_main

        return crd_main(["--check"] if args.check else [])
    return run(args)
