"""The bootstrap host's ed25519 identity: generated once by the operator, kept in a Secret whose
metadata carries its public half; and which public key the operator trusts as the host's."""

from __future__ import annotations

from typing import Any

from nacl.signing import SigningKey

from . import names
from .objects import controlled_by


def new_seed() -> str:
    """A fresh 32-byte ed25519 seed, hex (what the host reads from SWARM_IDENTITY_SEED_FILE)."""
    return bytes(SigningKey.generate()).hex()


def public_key_of(seed_hex: str) -> str:
    """The ed25519 public key of a seed, hex: the same key Hyperswarm's `{seed}` derives."""
    return SigningKey(bytes.fromhex(seed_hex.strip())).verify_key.encode().hex()


def known_public_key(topic: dict[str, Any], configmap: dict[str, Any] | None,
                     identity: dict[str, Any] | None = None) -> str | None:
    """The host's public key: written on the operator's own identity Secret (its metadata: the
    seed's public half, from the moment the Secret exists), else as recorded in status, else in
    the operator's own ConfigMap."""
    if identity is not None and controlled_by(identity, topic):
        annotated = (identity["metadata"].get("annotations") or {}).get(names.ANNOTATION_HOST_PUBLIC_KEY)
        if annotated:
            return str(annotated)
    owned_cm = configmap if configmap is not None and controlled_by(configmap, topic) else None
    return (topic.get("status") or {}).get("hostPublicKey") or \
        ((owned_cm or {}).get("data") or {}).get(names.CM_HOST_PUBLIC_KEY)
