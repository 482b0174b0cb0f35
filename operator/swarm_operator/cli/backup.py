"""`swarm-operator backup` and `swarm-operator restore`: a SwarmTopic's credentials out of the
cluster and back, run as the user (the kubeconfig's credentials, as kubectl), never as the operator,
which never reads Secret data.

    swarm-operator backup NS/NAME --recipient age1... -o chat.age
    swarm-operator restore chat.age --identity key.txt [-n NS] [--name NAME] [--wait]

Each reads the cluster, asks `recovery.py` what to do (pure), then writes. A restore writes nothing
until every check passed (the bundle opens, holds together, and is not for another topic), and
undoes what it wrote when a write fails half way. The order of a restore: the SwarmTopic created
paused (the operator observes a paused topic and writes no child), then its Secrets owned by it (so
the operator sees them as its own, never as a NameConflict, and makes none of its own), then
`spec.paused` back to the bundle's value.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import __version__, names
from ..children.common import owner_reference
from ..conditions import now_rfc3339
from .bundle import Bundle, BundleError, encode, identities, open_bundle, recipients, recipients_file, seal
from .recovery import (
    BackupRefused,
    Live,
    RestorePlan,
    RestoreRefused,
    backup_annotations,
    base_of,
    bundle_of,
    plan_restore,
)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = sub.add_parser(
        "backup", help="write a SwarmTopic's spec, base key and Secrets to a file encrypted with age",
        description="Write what the namespace alone holds of a SwarmTopic (its spec, recorded base key, host "
        "public keys and every <name>-* Secret it owns) to FILE, encrypted with age to the recipients, then "
        "annotate the topic with the time, the file's sha256 and the Secrets it holds.")
    backup.add_argument("topic", metavar="[NAMESPACE/]NAME")
    backup.add_argument("-n", "--namespace", help="the SwarmTopic's namespace")
    backup.add_argument("-r", "--recipient", action="append", default=[], metavar="KEY",
                        help="an age public key (age1..., from age-keygen) or an SSH public key; repeatable")
    backup.add_argument("-R", "--recipients-file", type=Path, metavar="FILE",
                        help="a file of recipients, one per line (as age -R)")
    backup.add_argument("-o", "--output", required=True, metavar="FILE", help="the bundle file; - for stdout")
    backup.add_argument("--no-annotate", dest="annotate", action="store_false",
                        help="do not record the backup on the topic (for users who may not patch SwarmTopics)")
    _kube_args(backup)
    restore = sub.add_parser(
        "restore", help="re-create a SwarmTopic from a backup bundle, on the same base",
        description="Re-create the SwarmTopic of a bundle (in any namespace or cluster, under its name or "
        "another) adopting the same base: created paused, its Secrets created owned by it, then resumed. "
        "Into a SwarmTopic that exists on the same base, only its missing Secrets are restored. Refused, "
        "with nothing written, when the bundle is damaged, not for the given identity, or for another topic.")
    restore.add_argument("file", metavar="FILE", help="the bundle; - for stdin")
    restore.add_argument("-i", "--identity", type=Path, required=True, metavar="FILE",
                         help="an age identity file (age-keygen's) or an OpenSSH private key; a file, so the "
                         "key never appears on a command line")
    restore.add_argument("-n", "--namespace", help="target namespace (default: the bundle's)")
    restore.add_argument("--name", help="target SwarmTopic name (default: the bundle's; the topic string is kept)")
    restore.add_argument("--create-namespace", action="store_true", help="create the namespace if it is missing")
    restore.add_argument("--paused", action="store_true", help="leave the restored topic paused (review it first)")
    restore.add_argument("--dry-run", action="store_true", help="check everything and say what would be done")
    restore.add_argument("--wait", action="store_true", help="wait for the topic to be Ready on the bundle's base")
    restore.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS", help="for --wait (default 300)")
    _kube_args(restore)


def _kube_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    parser.add_argument("--context", default=None, help="kubeconfig context (default: the current one)")


def _say(line: str) -> None:
    print(line, file=sys.stderr)


def api_error(exc: Exception) -> str:
    """One line from a kubernetes client error: the status and the API server's own message."""
    import json

    body = getattr(exc, "body", None)
    try:
        message = json.loads(body).get("message") if body else None
    except (ValueError, AttributeError):
        message = None
    status = getattr(exc, "status", None)
    return f"{status} {message or getattr(exc, 'reason', None) or exc}" if status else str(exc)


@dataclass
class Client:
    """The user's API client (kubeconfig, or in a pod its service account), with the calls used here."""

    api: Any

    @classmethod
    def connect(cls, kubeconfig: str | None, context: str | None) -> Client:
        from .topic_status import _api_client

        return cls(_api_client(kubeconfig, context))

    def dict(self, obj: Any) -> dict[str, Any]:
        return dict(self.api.sanitize_for_serialization(obj))

    def custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api)

    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api)

    def read(self, call: Any, *args: Any, absent_on_forbidden: bool = False) -> dict[str, Any] | None:
        """An object, or None when it is not there (404; 403 too when asked)."""
        from kubernetes.client.rest import ApiException

        try:
            return self.dict(call(*args))
        except ApiException as exc:
            if exc.status == 404 or (absent_on_forbidden and exc.status == 403):
                return None
            raise


def _target(topic: str, namespace: str | None, kube_args: argparse.Namespace) -> tuple[str, str]:
    from .topic_status import default_namespace

    ns, _, name = topic.rpartition("/")
    if ns and namespace and ns != namespace:
        raise BundleError(f"{topic} and -n {namespace} disagree")
    return ns or namespace or default_namespace(kube_args.kubeconfig, kube_args.context), name


def write_file(output: str, data: bytes) -> None:
    """The bundle to `output` (0600, written whole then renamed into place), or to stdout for `-`."""
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    target = Path(output)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or Path("."))
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_backup(args: argparse.Namespace) -> int:
    keys = list(args.recipient) + (recipients_file(args.recipients_file) if args.recipients_file else [])
    to = recipients(keys)  # bad keys fail before the cluster is read
    namespace, name = _target(args.topic, args.namespace, args)
    kube = Client.connect(args.kubeconfig, args.context)
    topic = kube.read(kube.custom().get_namespaced_custom_object, names.GROUP, names.VERSION, namespace,
                      names.PLURAL, name)
    if topic is None:
        raise BackupRefused(f"no SwarmTopic {namespace}/{name}")
    listing = kube.dict(kube.core().list_namespaced_secret(namespace))
    bundle = bundle_of(topic, listing.get("items") or [], datetime.now(UTC), f"swarm-operator {__version__}")
    data = seal(encode(bundle), to)
    write_file(args.output, data)
    digest = hashlib.sha256(data).hexdigest()
    held = {names.topic_secret(name, s.suffix): "" for s in bundle.secrets}
    for secret in listing.get("items") or []:
        if secret["metadata"]["name"] in held:
            held[secret["metadata"]["name"]] = secret["metadata"]["uid"]
    line = (f"{namespace}/{name}: base {bundle.baseKey[:12]}, {len(bundle.secrets)} Secrets "
            f"({', '.join(sorted(held))}) written to {args.output}, sha256 {digest}")
    if args.annotate:
        body = {"metadata": {"annotations": backup_annotations(bundle.createdAt, digest, held)}}
        try:
            kube.custom().patch_namespaced_custom_object(names.GROUP, names.VERSION, namespace, names.PLURAL, name,
                                                         body)
        except Exception as exc:
            _say(line)
            raise BackupRefused(f"the bundle is written, but recording it on the topic failed ({api_error(exc)}): "
                                "the backup check will not see it; use --no-annotate if you may not patch "
                                "SwarmTopics") from exc
    (_say if args.output == "-" else print)(line)
    return 0


# -- restore -----------------------------------------------------------------------------------


def observe_target(kube: Client, bundle: Bundle, namespace: str, name: str) -> Live:
    """What the target holds now (read only)."""
    core, custom = kube.core(), kube.custom()
    # A user who may not read namespaces: assume it is there (creating the topic says otherwise).
    try:
        exists = kube.read(core.read_namespace, namespace) is not None
    except Exception as exc:
        if getattr(exc, "status", None) != 403:
            raise
        exists = True
    topic = kube.read(custom.get_namespaced_custom_object, names.GROUP, names.VERSION, namespace, names.PLURAL,
                      name) if exists else None
    secrets = {}
    for secret in bundle.secrets:
        secret_name = names.topic_secret(name, secret.suffix)
        secrets[secret_name] = kube.read(core.read_namespaced_secret, secret_name, namespace) if exists else None
    volume, readable = _volume(kube, namespace, name) if exists else (None, True)
    return Live(namespace_exists=exists, topic=topic, secrets=secrets, volume_uid=volume, volume_readable=readable,
                same_base=_same_base(kube, bundle))


def _volume(kube: Client, namespace: str, name: str) -> tuple[str | None, bool]:
    """The uid of the host's retained PVC (None: absent), and whether the user may read it."""
    from kubernetes.client.rest import ApiException

    try:
        volume = kube.read(kube.core().read_namespaced_persistent_volume_claim, names.host_pvc(name), namespace)
    except ApiException as exc:
        if exc.status != 403:
            raise
        return None, False
    return (volume or {}).get("metadata", {}).get("uid"), True


def _same_base(kube: Client, bundle: Bundle) -> list[str]:
    """Other SwarmTopics on the bundle's base, where the user may list them cluster-wide."""
    from kubernetes.client.rest import ApiException

    try:
        listing = kube.dict(kube.custom().list_cluster_custom_object(names.GROUP, names.VERSION, names.PLURAL))
    except ApiException as exc:
        if exc.status != 403:
            raise
        _say("note: may not list SwarmTopics cluster-wide: other topics on the same base not checked")
        return []
    return [f"{t['metadata']['namespace']}/{t['metadata']['name']}" for t in listing.get("items") or []
            if base_of(t) == bundle.baseKey]


class Undo:
    """What a restore created, deleted again (newest first, each by its uid) when a later write fails."""

    def __init__(self, kube: Client) -> None:
        self.kube = kube
        self.created: list[tuple[str, str, str, str]] = []  # (kind, namespace, name, uid)

    def add(self, kind: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.created.append((kind, meta.get("namespace", ""), meta["name"], meta["uid"]))

    def run(self) -> list[str]:
        from kubernetes import client

        left = []
        for kind, ns, name, uid in reversed(self.created):
            options = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid),
                                             propagation_policy="Background")
            try:
                if kind == "Namespace":
                    self.kube.core().delete_namespace(name, body=options)
                elif kind == "Secret":
                    self.kube.core().delete_namespaced_secret(name, ns, body=options)
                else:
                    self.kube.custom().delete_namespaced_custom_object(names.GROUP, names.VERSION, ns, names.PLURAL,
                                                                       name, body=options)
            except Exception as exc:
                if getattr(exc, "status", None) != 404:
                    left.append(f"{kind} {ns}/{name} ({api_error(exc)})")
        return left


def act(kube: Client, plan: RestorePlan, bundle: Bundle, live: Live, digest: str, undo: Undo) -> dict[str, Any]:
    """The restore's writes, in order; the topic as last written."""
    core, custom = kube.core(), kube.custom()
    if plan.create_namespace:
        undo.add("Namespace", kube.dict(core.create_namespace({"metadata": {"name": plan.namespace}})))
    if plan.topic is not None:
        topic = kube.dict(custom.create_namespaced_custom_object(names.GROUP, names.VERSION, plan.namespace,
                                                                 names.PLURAL, plan.topic))
        undo.add(names.KIND, topic)
    else:
        assert live.topic is not None
        topic = live.topic
    held = {n: s["metadata"]["uid"] for n, s in live.secrets.items() if s is not None and n in plan.kept}
    # The topic controls them, as its own Secrets; without blockOwnerDeletion, which the API server
    # lets set only who may update swarmtopics/finalizers: a namespace's `edit` role restores.
    owner = {**owner_reference(topic), "blockOwnerDeletion": False}
    for body in plan.secrets:
        body["metadata"]["ownerReferences"] = [owner]
        made = kube.dict(core.create_namespaced_secret(plan.namespace, body))
        undo.add("Secret", made)
        held[made["metadata"]["name"]] = made["metadata"]["uid"]
    patch: dict[str, Any] = {"metadata": {"annotations": backup_annotations(bundle.createdAt, digest, held)}}
    if plan.resume:
        patch["spec"] = {"paused": False}
    return kube.dict(custom.patch_namespaced_custom_object(names.GROUP, names.VERSION, plan.namespace,
                                                           names.PLURAL, plan.name, patch))


def describe(plan: RestorePlan, bundle: Bundle) -> str:
    what = f"SwarmTopic {plan.namespace}/{plan.name}" if plan.topic is not None else "its missing Secrets"
    created = ", ".join(plan.secret_names) or "none"
    kept = f"; kept {', '.join(plan.kept)} (already the bundle's)" if plan.kept else ""
    state = "resumed" if plan.resume else "paused" if plan.topic is not None else "as it was"
    return (f"{what} on base {bundle.baseKey[:12]} from {bundle.source.namespace}/{bundle.source.name} "
            f"(backup of {bundle.createdAt}): Secrets created: {created}{kept}; topic {state}")


def run_restore(args: argparse.Namespace) -> int:
    started = time.monotonic()
    keys = identities(args.identity)
    data = sys.stdin.buffer.read() if args.file == "-" else _read(Path(args.file))
    try:
        bundle = open_bundle(data, keys)
    except BundleError as exc:
        raise BundleError(f"{args.file}: {exc}") from exc
    namespace = args.namespace or bundle.source.namespace
    name = args.name or bundle.source.name
    kube = Client.connect(args.kubeconfig, args.context)
    live = observe_target(kube, bundle, namespace, name)
    plan = plan_restore(bundle, namespace, name, live, args.create_namespace, args.paused)
    if args.dry_run:
        print(f"would restore {describe(plan, bundle)}")
        return 0
    undo = Undo(kube)
    try:
        act(kube, plan, bundle, live, hashlib.sha256(data).hexdigest(), undo)
    except Exception as exc:
        left = undo.run()
        tail = f"; left behind: {', '.join(left)}" if left else "; undone, nothing left"
        raise RestoreRefused(f"restoring {namespace}/{name} failed: {api_error(exc)}{tail}") from exc
    print(f"restored {describe(plan, bundle)}")
    if args.wait:
        return wait_ready(kube, namespace, name, bundle.baseKey, args.timeout, started)
    return 0


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BundleError(f"{path}: {exc.strerror or exc}") from exc


def wait_ready(kube: Client, namespace: str, name: str, base_key: str, timeout: float, started: float) -> int:
    """Wait for Ready=True with the bundle's base key recorded; print how long the restore took."""
    last: dict[str, Any] = {}
    waiting = time.monotonic()
    while time.monotonic() - waiting < timeout:
        topic = kube.read(kube.custom().get_namespaced_custom_object, names.GROUP, names.VERSION, namespace,
                          names.PLURAL, name) or {}
        status = topic.get("status") or {}
        last = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
        if status.get("baseKey") and status["baseKey"] != base_key:
            raise RestoreRefused(f"{namespace}/{name} recorded base {status['baseKey']}, not the bundle's {base_key}")
        if last.get("status") == "True" and status.get("baseKey") == base_key:
            print(f"{namespace}/{name} Ready on base {base_key[:12]} {time.monotonic() - started:.1f} s after the "
                  f"restore began ({now_rfc3339()})")
            return 0
        time.sleep(1.0)
    _say(f"error: {namespace}/{name} not Ready after {timeout:g} s: {last.get('reason')}: {last.get('message')}")
    return 1


def main(args: argparse.Namespace) -> int:
    """`backup` or `restore`: 0 done, 1 refused or failed (one line on stderr, nothing written)."""
    from kubernetes.client.rest import ApiException
    from kubernetes.config import ConfigException
    from urllib3.exceptions import HTTPError

    try:
        return run_backup(args) if args.command == "backup" else run_restore(args)
    except (BundleError, BackupRefused, RestoreRefused) as exc:
        _say(f"error: {exc}")
    except ConfigException as exc:
        _say(f"error: no usable kubeconfig: {exc}")
    except (ApiException, HTTPError, OSError) as exc:
        _say(f"error: {api_error(exc)}")
    return 1
