"""The bootstrap host's ed25519 identity: generated once by the operator, kept in a Secret."""

from __future__ import annotations

from nacl.signing import SigningKey


def new_seed() -> str:
    """A fresh 32-byte ed25519 seed, hex (what the host reads from SWARM_IDENTITY_SEED_FILE)."""
    return bytes(SigningKey.generate()).hex()


def public_key_of(seed_hex: str) -> str:
    """The ed25519 public key of a seed, hex: the same key Hyperswarm's `{seed}` derives."""
    return SigningKey(bytes.fromhex(seed_hex.strip())).verify_key.encode().hex()
