"""Topic hashes, byte-identical to hypercore-crypto's `hash()` (unkeyed BLAKE2b-256)."""

from __future__ import annotations

from nacl.encoding import RawEncoder
from nacl.hash import blake2b


def blake2b_256(data: bytes) -> bytes:
    return blake2b(data, digest_size=32, encoder=RawEncoder)


def topic_hash(topic: str) -> str:
    """The DHT topic peers join for `topic`: BLAKE2b-256 of its UTF-8 bytes, hex."""
    return blake2b_256(topic.encode("utf-8")).hex()


def bootstrap_topic(topic: str) -> str:
    return f"{topic}:bootstrap"


def bootstrap_topic_hash(topic: str) -> str:
    """The topic the bootstrap host announces: BLAKE2b-256("<topic>:bootstrap"), hex."""
    return topic_hash(bootstrap_topic(topic))
