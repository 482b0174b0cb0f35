"""The topic's Secrets (docs/security.md): made once each by the operator from fresh random values,
mounted as files only, never read back for their values (the operator sees their metadata only).

- `<name>-identity`, key `seed`: the host's ed25519 seed; its public half is written on the
  Secret's metadata, where the operator finds it;
- `<name>-member`, key `invite-seed`: the membership credential (the host, and the clients unless
  the writer policy is HostOnly);
- `<name>-encryption`, key `key`: the Autobase encryption key (the host and every client); with
  `retainOnDelete` the host's volume is its second owner, so it outlives the topic with the volume
  its base is stored on;
- `<name>-hosts`, key `invite-seed` (several hosts only): the hosts' own credential, with which a
  host proves itself to the running indexers to be promoted; host pods only, never clients.

With several hosts the identity Secret holds one seed per host: `seed` (host 0) and `seed-<n>`,
each public half on its own annotation (`names.host_public_key_annotation`).
"""

from __future__ import annotations

from typing import Any

from .. import names
from ..identity import public_key_of
from ..models import SwarmTopicSpec
from .common import ANNOTATION_HOST_PUBLIC_KEY, metadata, owner_reference


def _secret(topic: dict[str, Any], name: str, key: str, value_hex: str) -> dict[str, Any]:
    """Immutable: its value is never replaced in place (a replaced value is a new Secret, a new uid,
    which the operator sees); its metadata (owners, annotations) stays writable."""
    meta = metadata(topic, name, names.COMPONENT_HOST)
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque", "immutable": True,
            "stringData": {key: value_hex}}


def volume_reference(volume: dict[str, Any]) -> dict[str, Any]:
    """An ownerReference to the host's PersistentVolumeClaim (not the controller)."""
    meta = volume["metadata"]
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": meta["name"], "uid": meta["uid"]}


def encryption_owners(topic: dict[str, Any], spec: SwarmTopicSpec, volume: dict[str, Any] | None) -> list[Any]:
    """The topic, and with `retainOnDelete` the host's volume: the key outlives the topic with the
    volume its base is stored on (garbage collection drops only the topic's reference)."""
    owners = [owner_reference(topic)]
    if spec.bootstrapHost.storage.retainOnDelete and volume is not None:
        owners.append(volume_reference(volume))
    return owners


def identity_secret(topic: dict[str, Any], seed_hex: str, more: dict[int, str] | None = None) -> dict[str, Any]:
    """The hosts' ed25519 seeds (host 0's, and `more` by ordinal): mounted into host pods only. Each
    public half is written on the Secret's metadata, where the operator (which never reads Secret
    data) finds it."""
    secret = _secret(topic, names.identity_secret(topic["metadata"]["name"]), names.IDENTITY_SEED_KEY, seed_hex)
    secret["metadata"]["annotations"][ANNOTATION_HOST_PUBLIC_KEY] = public_key_of(seed_hex)
    extra = identity_seeds(more or {})
    secret["stringData"].update(extra["stringData"])
    secret["metadata"]["annotations"].update(extra["metadata"]["annotations"])
    return secret


def identity_seeds(seeds: dict[int, str]) -> dict[str, Any]:
    """A merge patch adding these hosts' seeds (by ordinal) and their public halves to the identity
    Secret: made without reading the Secret."""
    return {"metadata": {"annotations": {names.host_public_key_annotation(n): public_key_of(seed)
                                         for n, seed in sorted(seeds.items())}},
            "stringData": {names.identity_seed_key(n): seed for n, seed in sorted(seeds.items())}}


def hosts_secret(topic: dict[str, Any], invite_seed_hex: str) -> dict[str, Any]:
    """The hosts' own credential (several hosts): host pods only."""
    return _secret(topic, names.hosts_secret(topic["metadata"]["name"]), names.HOST_SEED_KEY, invite_seed_hex)


def member_secret(topic: dict[str, Any], invite_seed_hex: str, seed_id: str | None = None) -> dict[str, Any]:
    """The membership credential: the host and, unless HostOnly, the client pods. Its seed id (not
    derived from the seed; without one, the Secret's uid stands for it) goes on the pod templates
    that mount it."""
    secret = _secret(topic, names.member_secret(topic["metadata"]["name"]), names.MEMBER_SEED_KEY, invite_seed_hex)
    if seed_id:
        secret["metadata"]["annotations"][names.ANNOTATION_SEED_ID] = seed_id
    return secret


def seed_id_of(secret: dict[str, Any]) -> str:
    """The id of the seed a member Secret holds: the id the operator gave it, else (a Secret made by
    an older operator or put back by a restore) its uid."""
    meta = secret["metadata"]
    return str((meta.get("annotations") or {}).get(names.ANNOTATION_SEED_ID) or meta.get("uid") or "")


def encryption_secret(topic: dict[str, Any], key_hex: str, owners: list[Any] | None = None) -> dict[str, Any]:
    """The Autobase encryption key: the host and every client pod."""
    secret = _secret(topic, names.encryption_secret(topic["metadata"]["name"]), names.ENCRYPTION_KEY_KEY, key_hex)
    if owners is not None:
        secret["metadata"]["ownerReferences"] = owners
    return secret
