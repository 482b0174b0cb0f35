"""swarm-operator: run the operator, print its CRD, show one SwarmTopic's status, back it up, restore it.

Also `python -m swarm_operator`, and `kubectl swarm status|backup|restore` (the kubectl-swarm plugin
runs the same commands).
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from .. import __version__
from ..config import DEFAULTS, Config, TopicNetwork
from . import backup

PEER_KEYS = {"podSelector", "namespaceSelector", "ipBlock"}


def label(text: str) -> tuple[str, str]:
    """KEY=VALUE, a label."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


def peers(text: str) -> str:
    """A JSON list of NetworkPolicyPeers, as canonical JSON text."""
    import json

    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc
    if not isinstance(value, list) or not all(isinstance(p, dict) and p and set(p) <= PEER_KEYS for p in value):
        raise argparse.ArgumentTypeError(f"must be a JSON list of NetworkPolicyPeers (each an object with "
                                         f"{sorted(PEER_KEYS)})")
    return json.dumps(value, sort_keys=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="swarm-operator", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                title="commands")
    run = sub.add_parser("run", help="run the operator against the current cluster")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument("-A", "--all-namespaces", action="store_true",
                       help="watch SwarmTopics in every namespace (the default without --namespace)")
    scope.add_argument("-n", "--namespace", action="append", default=[], metavar="NS",
                       help="watch only this namespace (repeatable)")
    run.add_argument("--peer-image", default=os.environ.get("SWARM_OPERATOR_PEER_IMAGE", DEFAULTS.peer_image),
                     help="default swarm-peer image of bootstrap hosts (env SWARM_OPERATOR_PEER_IMAGE; "
                     "default %(default)s)")
    run.add_argument("--reconcile-interval", type=float, default=DEFAULTS.reconcile_interval, metavar="SECONDS",
                     help="re-check every topic from the caches (and read its host's report) at least "
                     "this often, changes or not; jittered by 10%% (default %(default)g)")
    run.add_argument("--workers", type=int, default=DEFAULTS.workers,
                     help="at most this many topics reconciled at once; fewer while the API server's "
                     "answers slow down (default %(default)s)")
    run.add_argument("--change-delay", type=float, default=DEFAULTS.change_delay, metavar="SECONDS",
                     help="a change of a topic or of its children is acted on this long after it is seen, so "
                     "that a burst of changes is one pass (a host pod turning Ready, a new topic and a topic "
                     "whose clients are all Ready: at once; default %(default)g)")
    run.add_argument("--closing-delay", type=float, default=DEFAULTS.closing_delay, metavar="SECONDS",
                     help="the same for a topic whose clients are coming up, while their ready count is short "
                     "of all Ready (all Ready: at once), and as long as such a count may wait to be "
                     "written to status (default %(default)g)")
    run.add_argument("--api-qps", type=float, default=DEFAULTS.api_qps, metavar="N",
                     help="client-side limit of API requests per second, whatever the server's priority and "
                     "fairness would allow; 0: none (default %(default)g)")
    run.add_argument("--api-burst", type=int, default=DEFAULTS.api_burst, metavar="N",
                     help="requests that may start at once above --api-qps (default %(default)s)")
    run.add_argument("--max-rolling-topics", type=int, default=DEFAULTS.max_rolling_topics, metavar="N",
                     help="the upgrade brake: at most N topics roll their hosts onto a new template at once, one "
                     "host at a time each, in the order of their namespace/name; 0 = no limit (default %(default)s)")
    run.add_argument("--backup-check", action="store_true",
                     default=os.environ.get("SWARM_OPERATOR_BACKUP_CHECK", "").lower() in ("1", "true", "yes"),
                     help="a Warning condition (CredentialsBackedUp=False) and event on every topic whose "
                     "credentials are not in a backup made by `swarm-operator backup` "
                     "(env SWARM_OPERATOR_BACKUP_CHECK)")
    election = run.add_argument_group("leader election (one replica reconciles, the others stand by)")
    election.add_argument("--no-leader-election", dest="leader_election", action="store_false",
                          help="reconcile without a Lease (only one replica may run)")
    election.add_argument("--leader-election-namespace", default=None, metavar="NS",
                          help="the Lease's namespace (default: $POD_NAMESPACE, else the service "
                          "account's, else default)")
    election.add_argument("--leader-election-name", default=DEFAULTS.lease_name, metavar="NAME",
                          help="the Lease's name (default %(default)s)")
    election.add_argument("--leader-identity", default=None, metavar="ID",
                          help="this replica's identity (default: $POD_NAME, else host name + random)")
    add_network_arguments(run)
    topics = run.add_argument_group("what a SwarmTopic may do (docs/security.md)")
    topics.add_argument("--service-account", default=None, metavar="NAME",
                        help="the operator's ServiceAccount, which no topic's pod may run as (default: as the API "
                        "server says who the operator is)")
    topics.add_argument("--allow-topics-in-operator-namespace", dest="allow_operator_namespace",
                        action="store_true", help="accept SwarmTopics in the operator's own namespace")
    topics.add_argument("--pod-security-exempt-namespace", dest="pod_security_exempt", action="append",
                        default=[], metavar="NS", help="a trusted namespace whose topics' pod templates are not "
                        "held to the restricted Pod Security profile (repeatable)")
    run.add_argument("--metrics-port", type=int, default=DEFAULTS.metrics_port,
                     help="Prometheus /metrics port, 0 = off (default %(default)s)")
    run.add_argument("--liveness-port", type=int, default=DEFAULTS.liveness_port,
                     help="kopf liveness /healthz port, 0 = off (default %(default)s)")
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    crd = sub.add_parser("crd", help="print the SwarmTopic CRD generated from the models")
    crd.add_argument("--check", action="store_true", help="exit 1 when crds/ is out of date")
    add_status_parser(sub)
    backup.add_parsers(sub)
    return parser


def add_network_arguments(run: argparse.ArgumentParser) -> None:
    net = DEFAULTS.topic_network
    group = run.add_argument_group("the topics' NetworkPolicy (docs/network-policy.md)")
    group.add_argument("--topic-network-policy", action=argparse.BooleanOptionalAction, default=net.enabled,
                       help="give each SwarmTopic whose spec.networkPolicy.enabled is unset a NetworkPolicy over its "
                       "pods (default: %(default)s)")
    group.add_argument("--operator-namespace", default=None, metavar="NS",
                       help="the operator's own namespace, whose pods may read the hosts' status port (default: "
                       "$POD_NAMESPACE, else the service account's)")
    group.add_argument("--operator-pod-label", dest="operator_labels", action="append", default=[], type=label,
                       metavar="KEY=VALUE", help="a label of the operator's pods (repeatable; none: every pod "
                       "of the operator's namespace)")
    group.add_argument("--topic-status-from", type=peers, default=net.status_from, metavar="JSON",
                       help="NetworkPolicyPeers (a JSON list) that may also reach the peers' status port, e.g. "
                       "Prometheus (default: none)")
    group.add_argument("--topic-dht-peers", type=peers, default=net.dht_peers, metavar="JSON",
                       help="NetworkPolicyPeers (a JSON list): the DHT's nodes in the cluster (default: "
                       "pods labelled app.kubernetes.io/component=dht-bootstrap, any namespace)")


def add_status_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = sub.add_parser(
        "status", help="one SwarmTopic's bootstrap timeline, conditions, events and next steps",
        description="Print one SwarmTopic's bootstrap timeline (created, host scheduled, announce "
        "flushed, key recorded, clients ready), its conditions, its last events and what to do "
        "next for each condition that is not as it should be.")
    status.add_argument("topic", metavar="[NAMESPACE/]NAME",
                        help="the SwarmTopic; without NAMESPACE/, -n or the kubeconfig context's")
    status.add_argument("-n", "--namespace", help="the SwarmTopic's namespace")
    status.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    status.add_argument("--context", default=None, help="kubeconfig context (default: the current one)")
    status.add_argument("--events", type=int, default=10, metavar="N", help="last N events (default 10)")


def status(args: argparse.Namespace) -> int:
    import sys

    from kubernetes.client.rest import ApiException
    from kubernetes.config import ConfigException
    from urllib3.exceptions import HTTPError

    from .topic_status import NotFound, default_namespace, format_status, read_report

    namespace, _, name = args.topic.rpartition("/")
    if namespace and args.namespace and namespace != args.namespace:
        print(f"error: {args.topic} and -n {args.namespace} disagree", file=sys.stderr)
        return 2
    namespace = namespace or args.namespace or default_namespace(args.kubeconfig, args.context)
    try:
        report = read_report(namespace, name, args.kubeconfig, args.context)
    except NotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ConfigException as exc:
        print(f"error: no usable kubeconfig: {exc}", file=sys.stderr)
        return 1
    except (ApiException, HTTPError, OSError) as exc:
        print(f"error: reading {namespace}/{name}: {exc}", file=sys.stderr)
        return 1
    print(format_status(report, events=args.events), end="")
    return 0


SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def own_namespace() -> str | None:
    """The operator's namespace as its pod knows it: $POD_NAMESPACE, else the service account's."""
    from pathlib import Path

    account = Path(SERVICE_ACCOUNT_NAMESPACE)
    return os.environ.get("POD_NAMESPACE") or (account.read_text().strip() if account.exists() else None)


def config_of(args: argparse.Namespace) -> Config:
    """The configuration `run` was given."""
    network = TopicNetwork(enabled=args.topic_network_policy,
                           operator_namespace=args.operator_namespace or own_namespace(),
                           operator_labels=tuple(args.operator_labels), status_from=args.topic_status_from,
                           dht_peers=args.topic_dht_peers)
    return Config(peer_image=args.peer_image, reconcile_interval=args.reconcile_interval, workers=args.workers,
                  change_delay=args.change_delay, closing_delay=args.closing_delay,
                  api_qps=args.api_qps, api_burst=args.api_burst,
                  max_rolling_topics=args.max_rolling_topics,
                  namespaces=tuple(args.namespace), metrics_port=args.metrics_port, liveness_port=args.liveness_port,
                  leader_election=args.leader_election, lease_name=args.leader_election_name,
                  lease_namespace=args.leader_election_namespace, identity=args.leader_identity,
                  backup_check=args.backup_check, topic_network=network, service_account=args.service_account,
                  allow_operator_namespace=args.allow_operator_namespace,
                  pod_security_exempt=tuple(args.pod_security_exempt))


def election(config: Config) -> Any:
    """The leader election of `run`, or None when it is off."""
    from .. import owned
    from ..api.leader import Election

    if not config.leader_election:
        return None
    namespace = config.lease_namespace or own_namespace() or "default"
    return Election(path=owned.LEASE.path(namespace, config.lease_name), identity=replica_identity(config))


def replica_identity(config: Config) -> str:
    """This replica's name: the Lease holder, and kopf's identity. Given to kopf so it never asks
    the passwd database: a container may run as a UID the image does not list (OpenShift's
    arbitrary UIDs, a chart `runAsUser` override), and kopf's own guess then crashes."""
    import secrets
    import socket

    return config.identity or os.environ.get("POD_NAME") or f"{socket.gethostname()}_{secrets.token_hex(4)}"


def run(args: argparse.Namespace) -> int:
    import kopf
    from prometheus_client import start_http_server

    from .. import handlers
    from ..metrics import REGISTRY

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = config_of(args)
    chosen = election(config)
    identity = chosen.identity if chosen else replica_identity(config)
    lifecycle = handlers.Lifecycle()
    if config.metrics_port:
        start_http_server(config.metrics_port, registry=REGISTRY)
    liveness = f"http://0.0.0.0:{config.liveness_port}/healthz" if config.liveness_port else None
    kopf.run(
        standalone=True,  # no kopf peering: the operator's own Lease elects the leader (leader.py)
        clusterwide=not config.namespaces,
        namespaces=list(config.namespaces),
        liveness_endpoint=liveness,
        identity=identity,  # not kopf's guess from the passwd database (see replica_identity)
        memo=kopf.Memo(config=config, election=chosen, lifecycle=lifecycle),
        stop_flag=lifecycle.stop,
    )
    return 1 if lifecycle.lost_lease else 0


def kubectl_plugin(argv: list[str] | None = None) -> int:
    """`kubectl swarm ...` (the executable `kubectl-swarm` on PATH): the user-facing subcommands."""
    parser = argparse.ArgumentParser(prog="kubectl swarm", description="SwarmTopics from kubectl.")
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")
    add_status_parser(sub)
    backup.add_parsers(sub)
    args = parser.parse_args(argv)
    return backup.main(args) if args.command in ("backup", "restore") else status(args)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "crd":
        from ..crd import main as crd_main

        return crd_main(["--check"] if args.check else [])
    if args.command == "status":
        return status(args)
    if args.command in ("backup", "restore"):
        return backup.main(args)
    return run(args)
