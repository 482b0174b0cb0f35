"""Topic hashes, byte-identical to hypercore-crypto's `hash()` (unkeyed BLAKE2b-256)."""

from __future__ import annotations

import hashlib
from functools import lru_cache


def blake2b_256(data: bytes) -> bytes:
    """Unkeyed BLAKE2b with a 32-byte digest: libsodium's crypto_generichash, which hypercore-crypto
    calls (the standard library's is the same function, without a foreign call)."""
    return hashlib.blake2b(data, digest_size=32).digest()


@lru_cache(maxsize=4096)
def topic_hash(topic: str) -> str:
    """The DHT topic peers join for `topic`: BLAKE2b-256 of its UTF-8 bytes, hex (computed once per topic)."""
    return blake2b_256(topic.encode("utf-8")).hex()


def bootstrap_topic(topic: str) -> str:
    return f"{topic}:bootstrap"


def bootstrap_topic_hash(topic: str) -> str:
    """The topic the bootstrap host announces: BLAKE2b-256("<topic>:bootstrap"), hex."""
    return topic_hash(bootstrap_topic(topic))
