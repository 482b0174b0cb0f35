"""A SwarmTopic with a recorded key and its Secrets, as `kubectl get -o json` shows them (data in
base64), for the backup and restore tests."""

from __future__ import annotations

import base64
import copy
from typing import Any

from swarm_operator import children
from swarm_operator.identity import public_key_of
from unit_support import UID, make_topic

SEED = "1a" * 32
MEMBER = "2b" * 32
ENCRYPTION = "3c" * 32
BASE = "4d" * 32
HOST = public_key_of(SEED)


def recorded_topic(name: str = "chat", uid: str = UID) -> dict[str, Any]:
    topic = make_topic(status={"baseKey": BASE, "hostPublicKey": HOST, "baseKeyShort": BASE[:12]})
    topic["metadata"].update(name=name, uid=uid, labels={"team": "chat"},
                             annotations={"kubectl.kubernetes.io/last-applied-configuration": "{}",
                                          "owner": "alice"})
    topic["spec"]["topic"] = name
    return topic


def as_read(secret: dict[str, Any], uid: str) -> dict[str, Any]:
    """A Secret the operator made, as the API serves it: `data` in base64, a uid."""
    out = copy.deepcopy(secret)
    out["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in out.pop("stringData").items()}
    out["metadata"]["uid"] = uid
    return out


def topic_secrets(topic: dict[str, Any]) -> list[dict[str, Any]]:
    return [as_read(children.identity_secret(topic, SEED), "uid-identity"),
            as_read(children.member_secret(topic, MEMBER), "uid-member"),
            as_read(children.encryption_secret(topic, ENCRYPTION), "uid-encryption")]
