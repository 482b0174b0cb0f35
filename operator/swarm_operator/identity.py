"""The bootstrap host's ed25519 identity: generated once by the operator, kept in a Secret whose
metadata carries its public half; and which public key the operator trusts as the host's."""

from __future__ import annotations

from typing import Any

from nacl.signing import SigningKey

from . import names
from .managed import foreign_writers
from .objects import controlled_by


def new_seed() -> str:
    """A fresh 32-byte ed25519 seed, hex (what the host reads from SWARM_IDENTITY_SEED_FILE)."""
    return bytes(SigningKey.generate()).hex()


def public_key_of(seed_hex: str) -> str:
    """The ed25519 public key of a seed, hex: the same key Hyperswarm's `{seed}` derives."""
    return SigningKey(bytes.fromhex(seed_hex.strip())).verify_key.encode().hex()


def _annotated(topic: dict[str, Any], identity: dict[str, Any] | None) -> str | None:
    """The public key on the operator's own identity Secret (its metadata: anyone who may edit the
    Secret's metadata may change it, so it is what the operator made it only until recorded)."""
    if identity is None or not controlled_by(identity, topic):
        return None
    return (identity["metadata"].get("annotations") or {}).get(names.ANNOTATION_HOST_PUBLIC_KEY) or None


def untrusted_host_key(topic: dict[str, Any], identity: dict[str, Any] | None) -> str | None:
    """Why `status.hostPublicKey` is not the host key the operator recorded, or None: it was last
    written by another field manager and the identity Secret does not carry it either."""
    recorded = (topic.get("status") or {}).get("hostPublicKey")
    writers = foreign_writers(topic, "hostPublicKey")
    if writers is None or recorded == _annotated(topic, identity):
        return None
    return (f"status.hostPublicKey {recorded} was written by {', '.join(repr(w) for w in writers)}, not by the "
            "operator, and the host identity Secret does not carry it: no key is trusted as the host's and no "
            "child is written until it is the recorded key again")


def known_public_key(topic: dict[str, Any], configmap: dict[str, Any] | None,
                     identity: dict[str, Any] | None = None) -> str | None:
    """The host's public key, pinned where a metadata edit cannot move it: as the operator recorded
    it in status; before it is recorded, as written on the operator's own identity Secret (the
    seed's public half, from the moment the Secret exists), else in the operator's own ConfigMap.
    None when the recorded one is not trusted (`untrusted_host_key`)."""
    recorded = (topic.get("status") or {}).get("hostPublicKey")
    if recorded:
        return None if untrusted_host_key(topic, identity) else str(recorded)
    annotated = _annotated(topic, identity)
    if annotated:
        return str(annotated)
    owned_cm = configmap if configmap is not None and controlled_by(configmap, topic) else None
    return ((owned_cm or {}).get("data") or {}).get(names.CM_HOST_PUBLIC_KEY)


def known_host_key(topic: dict[str, Any], identity: dict[str, Any] | None, ordinal: int) -> str | None:
    """Host `ordinal`'s public key (1 and up; host 0's is `known_public_key`), pinned like host 0's:
    as the operator recorded it in `status.hosts`; before that, as its own identity Secret's
    metadata says. None when `status.hosts` was last written by anyone but the operator and the
    Secret does not carry the key it shows (no key is trusted as that host's)."""
    annotated = None
    if identity is not None and controlled_by(identity, topic):
        annotations = identity["metadata"].get("annotations") or {}
        annotated = annotations.get(names.host_public_key_annotation(ordinal)) or None
    recorded = next((h.get("publicKey") for h in (topic.get("status") or {}).get("hosts") or []
                     if isinstance(h, dict) and h.get("ordinal") == ordinal and h.get("publicKey")), None)
    if not recorded:
        return annotated
    if foreign_writers(topic, "hosts") is not None and recorded != annotated:
        return None
    return str(recorded)
