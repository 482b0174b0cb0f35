"""What a backup takes and what a restore does, as pure functions (no I/O; `backup.py` reads the
cluster, calls these, and writes what they say).

Backup: `bundle_of` turns a SwarmTopic and its namespace's Secrets into a `Bundle` (refused while
no base key is recorded or a Secret every topic has is missing); `backup_annotations` is what the
topic then carries so the operator's backup check knows.

Restore: `plan_restore` decides, from the bundle and what the target namespace holds now, either a
`RestorePlan` or a `RestoreRefused` with one line, before anything is written. The bundle is "for
another topic" when the target name is a SwarmTopic of another base (recorded or adopted), or one
that has no base yet (it would make its own), or when a Secret of the target's names exists with
other data or another owner. Restoring under another name or into another namespace is not
"another topic": the restored topic keeps the topic string, the base key and the Secrets.
"""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import names
from ..conditions import now_rfc3339
from ..planner.backupcheck import record
from .bundle import FORMAT, REQUIRED_SUFFIXES, Bundle, BundleSecret

# Annotations of the topic a bundle does not carry: kubectl's copy of the applied object, and the
# record of earlier backups and restores (a restore writes its own).
_NOT_CARRIED = ("kubectl.kubernetes.io/last-applied-configuration", names.ANNOTATION_BACKUP_TIME,
                names.ANNOTATION_BACKUP_SHA256, names.ANNOTATION_BACKUP_SECRETS, names.ANNOTATION_RESTORED_FROM)
_OURS = f"{names.GROUP}/"
# The Secrets' labels that name their topic: rewritten to the new name on a restore.
_TOPIC_LABELS = (names.LABEL_TOPIC, names.LABEL_INSTANCE)


class BackupRefused(Exception):
    """No bundle can be made; the message is one line for the user."""


class RestoreRefused(Exception):
    """Nothing is restored; the message is one line for the user."""


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def owned_by(obj: dict[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in _meta(obj).get("ownerReferences") or [])


def topic_secrets(topic: dict[str, Any], secrets: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The topic's own Secrets, by suffix: named `<name>-<suffix>` and owned by the topic (its uid)."""
    meta = _meta(topic)
    prefix = f"{meta['name']}-"
    return {_meta(s)["name"][len(prefix):]: s for s in secrets
            if _meta(s).get("name", "").startswith(prefix) and owned_by(s, meta["uid"])}


def host_public_keys(status: dict[str, Any]) -> list[str]:
    """status.hostPublicKey, then any other host's key in status.hosts (several hosts)."""
    keys = [status["hostPublicKey"]] if status.get("hostPublicKey") else []
    for host in status.get("hosts") or []:
        key = host.get("publicKey") if isinstance(host, dict) else None
        if key and key not in keys:
            keys.append(key)
    return keys


def bundle_of(topic: dict[str, Any], secrets: list[dict[str, Any]], now: datetime, created_by: str) -> Bundle:
    """The bundle of `topic`, from the Secrets of its namespace (full objects, data included)."""
    meta, status = _meta(topic), topic.get("status") or {}
    where = f"{meta['namespace']}/{meta['name']}"
    if not status.get("baseKey"):
        raise BackupRefused(f"{where} has no recorded base key yet (status.baseKey): nothing to back up; "
                            "wait for BaseKeyRecorded")
    own = topic_secrets(topic, secrets)
    missing = [names.topic_secret(meta["name"], s) for s in REQUIRED_SUFFIXES if s not in own]
    if missing:
        raise BackupRefused(f"{where}: Secret {', '.join(missing)} missing or not owned by the topic: a backup "
                            "without it could not read or rejoin the base")
    doc = {
        "format": FORMAT, "createdAt": now_rfc3339(now), "createdBy": created_by,
        "source": {"namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"],
                   "apiVersion": topic.get("apiVersion", names.API_VERSION)},
        "topic": (topic.get("spec") or {}).get("topic") or meta["name"],
        "baseKey": status["baseKey"], "hostPublicKeys": host_public_keys(status),
        "labels": dict(meta.get("labels") or {}),
        "annotations": {k: v for k, v in (meta.get("annotations") or {}).items() if k not in _NOT_CARRIED},
        "spec": copy.deepcopy(topic.get("spec") or {}),
        "secrets": [_bundle_secret(suffix, secret) for suffix, secret in sorted(own.items())],
    }
    try:
        return Bundle.model_validate(doc)
    except ValueError as exc:
        raise BackupRefused(f"{where}: its credentials do not hold together: {exc}") from exc


def _bundle_secret(suffix: str, secret: dict[str, Any]) -> dict[str, Any]:
    meta = _meta(secret)
    return {"suffix": suffix, "type": secret.get("type") or "Opaque", "labels": dict(meta.get("labels") or {}),
            "annotations": {k: v for k, v in (meta.get("annotations") or {}).items() if k.startswith(_OURS)},
            "data": dict(secret.get("data") or {})}


def backup_annotations(at: str, sha256: str, secrets: dict[str, str]) -> dict[str, str]:
    """What the topic carries after a backup (planner/backupcheck.py reads it)."""
    return record(at, sha256, secrets)


# -- restore -----------------------------------------------------------------------------------


@dataclass
class Live:
    """What the target holds now, read by the restore before it writes anything."""

    namespace_exists: bool
    topic: dict[str, Any] | None  # the SwarmTopic of the target name, if any
    secrets: dict[str, dict[str, Any] | None]  # by target Secret name: the object (data included), or None
    volume_uid: str | None = None  # the host's retained PVC `data-<name>-host-0`, if any
    volume_readable: bool = True  # False: the user may not read PVCs (its owner is then matched by name)
    same_base: list[str] = field(default_factory=list)  # other SwarmTopics ("ns/name") of the bundle's base


@dataclass
class RestorePlan:
    namespace: str
    name: str
    create_namespace: bool
    topic: dict[str, Any] | None  # the SwarmTopic to create (paused); None: the target exists (same base)
    secrets: list[dict[str, Any]]  # to create, owned by the topic (the acting side adds the reference)
    kept: list[str]  # Secrets already there with the bundle's data
    resume: bool  # set spec.paused to false once the Secrets exist

    @property
    def secret_names(self) -> list[str]:
        return [s["metadata"]["name"] for s in self.secrets]


def base_of(topic: dict[str, Any]) -> str | None:
    """The base a SwarmTopic is on: its recorded key, else the one it adopts."""
    return (topic.get("status") or {}).get("baseKey") or (topic.get("spec") or {}).get("baseKey") or None


def secret_body(bundle: Bundle, secret: BundleSecret, namespace: str, name: str) -> dict[str, Any]:
    labels = {k: (name if k in _TOPIC_LABELS else v) for k, v in secret.labels.items()}
    annotations = dict(secret.annotations)
    if secret.suffix == names.IDENTITY_SUFFIX:  # the seed's key, checked by the bundle; the operator reads it here
        annotations[names.ANNOTATION_HOST_PUBLIC_KEY] = bundle.hostPublicKeys[0]
    return {"apiVersion": "v1", "kind": "Secret", "type": secret.type, "data": dict(secret.data),
            "metadata": {"name": names.topic_secret(name, secret.suffix), "namespace": namespace,
                         "labels": labels, "annotations": annotations}}


def topic_body(bundle: Bundle, namespace: str, name: str) -> dict[str, Any]:
    """The SwarmTopic to create: paused (the Secrets come first), on the bundle's base and topic string."""
    spec = copy.deepcopy(bundle.spec)
    spec.update(baseKey=bundle.baseKey, topic=bundle.topic, paused=True)
    annotations = {**bundle.annotations,
                   names.ANNOTATION_RESTORED_FROM: f"{bundle.source.namespace}/{bundle.source.name} "
                   f"(backup of {bundle.createdAt})"}
    return {"apiVersion": names.API_VERSION, "kind": names.KIND,
            "metadata": {"name": name, "namespace": namespace, "labels": dict(bundle.labels),
                         "annotations": annotations},
            "spec": spec}


def same_data(live: dict[str, Any], secret: BundleSecret) -> bool:
    data = live.get("data") or {}
    try:
        return set(data) == set(secret.data) and all(base64.b64decode(data[k]) == secret.value(k) for k in data)
    except (ValueError, TypeError):
        return False


def _kept_with_volume(secret: dict[str, Any], name: str, live: Live) -> bool:
    """The encryption Secret of a deleted topic, kept by its retained volume (the operator adopts it):
    its one owner is the host's PVC, by uid (by name when the user may not read PVCs: a Secret whose
    only owner is gone is garbage collected)."""
    refs = _meta(secret).get("ownerReferences") or []
    if len(refs) != 1 or refs[0].get("kind") != "PersistentVolumeClaim":
        return False
    if live.volume_readable:
        return live.volume_uid is not None and refs[0].get("uid") == live.volume_uid
    return refs[0].get("name") == names.host_pvc(name)


def plan_restore(bundle: Bundle, namespace: str, name: str, live: Live, create_namespace: bool = False,
                 keep_paused: bool = False) -> RestorePlan:
    """The restore of `bundle` as `namespace/name`, or RestoreRefused (nothing written)."""
    where = f"{namespace}/{name}"
    if not live.namespace_exists and not create_namespace:
        raise RestoreRefused(f"namespace {namespace} does not exist: create it, or pass --create-namespace")
    topic = live.topic
    if topic is not None:
        _check_target_topic(bundle, where, topic)
    others = [t for t in live.same_base if t != where]
    if others:
        raise RestoreRefused(f"base {bundle.baseKey} is already the base of SwarmTopic {', '.join(others)} in this "
                             "cluster: a second topic with the same host identity would compete with it")
    owner_uid = _meta(topic)["uid"] if topic is not None else None
    create, kept = [], []
    for secret in bundle.secrets:
        body = secret_body(bundle, secret, namespace, name)
        secret_name = body["metadata"]["name"]
        present = live.secrets.get(secret_name)
        if present is None:
            create.append(body)
            continue
        if not same_data(present, secret):
            raise RestoreRefused(f"Secret {namespace}/{secret_name} exists with other data than the bundle's (made "
                                 "after the backup, or another topic's): the bundle is for another topic")
        mine = owner_uid is not None and owned_by(present, owner_uid)
        if not mine and not (secret.suffix == names.ENCRYPTION_SUFFIX and _kept_with_volume(present, name, live)):
            raise RestoreRefused(f"Secret {namespace}/{secret_name} exists and is not "
                                 f"{'this topic' if topic else 'a retained volume'}'s: it would be a NameConflict")
        kept.append(secret_name)
    resume = topic is None and not keep_paused and not bundle.spec.get("paused", False)
    return RestorePlan(namespace=namespace, name=name, create_namespace=not live.namespace_exists,
                       topic=topic_body(bundle, namespace, name) if topic is None else None,
                       secrets=create, kept=kept, resume=resume)


def _check_target_topic(bundle: Bundle, where: str, topic: dict[str, Any]) -> None:
    if _meta(topic).get("deletionTimestamp"):
        raise RestoreRefused(f"SwarmTopic {where} is being deleted: wait until it is gone")
    base = base_of(topic)
    if base is None:
        raise RestoreRefused(f"SwarmTopic {where} exists with no base key (it makes its own base), the bundle is of "
                             f"base {bundle.baseKey}: the bundle is for another topic")
    if base != bundle.baseKey:
        raise RestoreRefused(f"SwarmTopic {where} exists on base {base}, the bundle is of base {bundle.baseKey}: "
                             "the bundle is for another topic")

