"""Trust: the names a topic claims are its own (else nothing at all is written), its Secrets are
made once, and the host's public key is known (pure functions over `Observed`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import children, names, owned
from ..hashes import bootstrap_topic_hash, topic_hash
from ..identity import known_public_key, public_key_of
from ..objects import controlled_by, controller_of
from ..reasons import R
from .types import Decision, Event, Observed, write


def left_with_the_volume(obs: Observed, secret: dict[str, Any] | None) -> bool:
    """The encryption Secret of a deleted topic of this name, kept by the host's volume (its only
    owner now): the key the volume's base is encrypted with, the operator's to adopt again."""
    if secret is None or obs.volume is None:
        return False
    refs = secret["metadata"].get("ownerReferences") or []
    return (secret["metadata"].get("name") == names.encryption_secret(obs.name) and len(refs) == 1
            and not refs[0].get("controller") and refs[0].get("kind") == "PersistentVolumeClaim"
            and refs[0].get("uid") == obs.volume["metadata"].get("uid"))


def foreign_children(obs: Observed) -> list[str]:
    """Same-named objects the operator would use but does not control, named for the user, in the
    owned table's order."""
    found = [(kind.kind, obj) for kind in owned.children() for obj in obs.of(kind).values()
             if not (kind is owned.SECRET and left_with_the_volume(obs, obj))]
    return [f"{kind} {obj['metadata']['name']} ({controller_of(obj)})" for kind, obj in found
            if not controlled_by(obj, obs.topic)]


@dataclass(frozen=True)
class Identity(Decision):
    """The Secrets' creation, and the host's public key (None: its Secret is being replaced)."""

    public_key: str | None = None


def secrets(obs: Observed) -> Identity:
    """Create the Secrets that are missing (once); the host's public key, when known."""
    assert obs.spec is not None
    topic, name = obs.topic, obs.name
    owners = children.encryption_owners(topic, obs.spec, obs.volume)
    builders: list[tuple[str, Any]] = [(names.identity_secret(name), children.identity_secret),
                                       (names.member_secret(name), children.member_secret)]
    # With retainOnDelete the key is made with both its owners once the volume exists (the host
    # pod cannot start before its volume is bound anyway): one write, never a second one.
    if not obs.spec.bootstrapHost.storage.retainOnDelete or obs.volume is not None:
        builders.append((names.encryption_secret(name), lambda t, v: children.encryption_secret(t, v, owners)))
    # The value is in the body only: `what` is logged, the body never is.
    # Nothing they need exists before them: they go out together (with the host side's ConfigMap
    # and Service), before the StatefulSet that mounts them.
    creates = tuple(write("create", owned.SECRET, topic, None, build(topic, obs.fresh[secret]),
                          f"create Secret {secret}", joins=True)
                    for secret, build in builders if obs.secrets.get(secret) is None)
    identity = obs.secrets.get(names.identity_secret(name))
    known = known_public_key(topic, obs.configmap, identity)
    if identity is None:
        public_key = public_key_of(obs.fresh[names.identity_secret(name)])
        rotated = bool(known and known != public_key and obs.statefulset is not None)
        events = (Event("Warning", R.IDENTITY_ROTATED, "the identity Secret was missing and is re-created; the "
                        "host rolls onto the new key and the clients re-pin it"),) if rotated else ()
        return Identity(writes=creates, events=events, public_key=public_key)
    if known:
        return Identity(writes=creates, public_key=known)
    # Its own Secret of an older operator (no key on it), whose key was never recorded: replace it.
    delete = write("delete", owned.SECRET, topic, identity["metadata"]["name"], None,
                   f"delete Secret {identity['metadata']['name']} (its key was never recorded)",
                   uid=identity["metadata"].get("uid"))
    return Identity(writes=(*creates, delete), public_key=None)


def _owners(refs: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    return {(r.get("kind"), r.get("uid"), bool(r.get("controller"))) for r in refs}


def encryption_owners(obs: Observed) -> Decision:
    """With `retainOnDelete`, the host's volume is the encryption Secret's second owner: the Secret
    outlives the topic with the volume (garbage collection drops only the topic's reference), so a
    topic re-created over the volume adopts the key its base is encrypted with."""
    assert obs.spec is not None
    secret = obs.secrets.get(names.encryption_secret(obs.name))
    if secret is None:
        return Decision()
    desired = children.encryption_owners(obs.topic, obs.spec, obs.volume)
    meta = secret["metadata"]
    if _owners(meta.get("ownerReferences") or []) == _owners(desired):
        return Decision()
    version = meta.get("resourceVersion")
    body = {"metadata": {"resourceVersion": version, "ownerReferences": desired}}
    what = f"adopt Secret {meta['name']} (kept with the host volume)" if left_with_the_volume(obs, secret) else \
        f"set the owners of Secret {meta['name']} (the topic, and the host volume when retained)"
    return Decision(writes=(write("patch", owned.SECRET, obs.topic, meta["name"], body, what, joins=True,
                                  resource_version=version),))


def identity_fields(obs: Observed, public_key: str | None) -> dict[str, Any]:
    """The status fields of the topic's identity: its hashes, its writer policy, the host's key."""
    assert obs.spec is not None
    topic_str = obs.spec.topic_of(obs.name)
    fields: dict[str, Any] = {"topicHash": topic_hash(topic_str), "bootstrapTopicHash": bootstrap_topic_hash(topic_str),
                              "writersPolicy": obs.spec.writers.policy}
    if public_key:
        fields["hostPublicKey"] = public_key
    return fields
