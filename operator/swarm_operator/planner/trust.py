"""Trust: the names a topic claims are its own (else nothing at all is written), its Secrets are
made once, and the host's public key is known (pure functions over `Observed`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import children, names, owned
from .. import conditions as c
from ..hashes import bootstrap_topic_hash, topic_hash
from ..identity import known_public_key, public_key_of
from ..objects import controlled_by, controller_of
from ..reasons import R
from . import adopt
from .types import Decision, Event, Observed, Write, write


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
             if not (kind is owned.SECRET and left_with_the_volume(obs, obj)) and not adopt.adoptable(obs, kind, obj)]
    return [f"{kind} {obj['metadata']['name']} ({controller_of(obj)})" for kind, obj in found
            if not controlled_by(obj, obs.topic)]


@dataclass(frozen=True)
class Identity(Decision):
    """The Secrets' creation, and the host's public key (None: its Secret is being replaced)."""

    public_key: str | None = None


def base_exists(obs: Observed) -> bool:
    """A base may exist whose data the encryption key opens: a key is recorded, or the host's volume
    exists (the host created a base on it, or it was kept from an earlier topic of this name)."""
    return bool(obs.recorded_key) or obs.volume is not None


def key_lost(obs: Observed) -> c.Cond | None:
    """The encryption Secret is gone while a base exists: a new key could not read the base, so none
    is made (`EncryptionKeyLost`, the topic `Stuck` until the Secret is restored)."""
    secret = names.encryption_secret(obs.name)
    if obs.secrets.get(secret) is not None or not base_exists(obs):
        return None
    base = f"base {obs.recorded_key}" if obs.recorded_key else f"base on the host's volume {names.host_pvc(obs.name)}"
    return c.Cond(c.READY, False, R.ENCRYPTION_KEY_LOST,
                  f"Secret {secret} is gone and the {base} is encrypted with the key it held: no new key is made "
                  "(it could not read the base). Restore the Secret from the topic's backup (swarm-operator "
                  "restore; docs/operations.md); with no base recorded yet, deleting the volume starts over")


def member_seed_id(obs: Observed) -> str:
    """The id of the topic's member seed: the Secret's, or the fresh one of a seed being made."""
    member = obs.secrets.get(names.member_secret(obs.name))
    return children.seed_id_of(member) if member is not None else obs.fresh_seed_id


def _creates(obs: Observed) -> tuple[Write, ...]:
    """The Secrets to make, all in the first pass (before the StatefulSet that mounts them): the
    identity, the member seed and, unless its base exists, the encryption key (with retainOnDelete
    the host's volume becomes its second owner once the volume exists: `encryption_owners`)."""
    assert obs.spec is not None
    topic, name = obs.topic, obs.name
    owners = children.encryption_owners(topic, obs.spec, obs.volume)
    builders: list[tuple[str, Any]] = [
        (names.identity_secret(name), children.identity_secret),
        (names.member_secret(name), lambda t, v: children.member_secret(t, v, obs.fresh_seed_id))]
    if key_lost(obs) is None:
        builders.append((names.encryption_secret(name), lambda t, v: children.encryption_secret(t, v, owners)))
    # The value is in the body only: `what` is logged, the body never is.
    return tuple(write("create", owned.SECRET, topic, None, build(topic, obs.fresh[secret]), f"create Secret {secret}")
                 for secret, build in builders if obs.secrets.get(secret) is None)


def _replaced(obs: Observed) -> tuple[Event, ...]:
    """The member seed made again while the host runs on the old one: the host and the clients roll."""
    if obs.secrets.get(names.member_secret(obs.name)) is not None or obs.statefulset is None:
        return ()
    return (Event("Warning", R.MEMBER_SEED_REPLACED, f"Secret {names.member_secret(obs.name)} was missing and is made "
                  "again with a new member seed: the host and the clients roll onto it, and the old seed admits no "
                  "writer once the host has restarted"),)


def _pin(obs: Observed, identity: dict[str, Any], known: str) -> tuple[tuple[Write, ...], tuple[Event, ...]]:
    """The identity Secret's annotation put back to the recorded host key when someone moved it
    (the record is pinned in status: an edit of the Secret's metadata moves nothing)."""
    meta = identity["metadata"]
    annotated = (meta.get("annotations") or {}).get(names.ANNOTATION_HOST_PUBLIC_KEY)
    if not (obs.topic.get("status") or {}).get("hostPublicKey") or annotated == known:
        return (), ()
    version = meta.get("resourceVersion")
    body = {"metadata": {"resourceVersion": version, "annotations": {names.ANNOTATION_HOST_PUBLIC_KEY: known}}}
    patch = write("patch", owned.SECRET, obs.topic, meta["name"], body,
                  f"put the recorded host key back on Secret {meta['name']}", resource_version=version)
    event = Event("Warning", R.DRIFT_REPAIRED, f"Secret {meta['name']}: metadata.annotations"
                  f"[{names.ANNOTATION_HOST_PUBLIC_KEY}] differed from the recorded host key {known}; restored "
                  "(the record is status.hostPublicKey)", f"Secret/{meta['name']}")
    return (patch,), (event,)


def secrets(obs: Observed) -> Identity:
    """Create the Secrets that are missing (once); the host's public key, when known."""
    assert obs.spec is not None
    topic, name = obs.topic, obs.name
    creates, events = _creates(obs), _replaced(obs)
    lost = key_lost(obs)
    conditions = (lost,) if lost is not None else ()
    identity = obs.secrets.get(names.identity_secret(name))
    known = known_public_key(topic, obs.configmap, identity)
    if identity is None:
        public_key = public_key_of(obs.fresh[names.identity_secret(name)])
        if known and known != public_key and obs.statefulset is not None:
            events += (Event("Warning", R.IDENTITY_ROTATED, "the identity Secret was missing and is re-created; the "
                             "host rolls onto the new key and the clients re-pin it"),)
        return Identity(writes=creates, events=events, conditions=conditions, public_key=public_key)
    if known:
        repair, told = _pin(obs, identity, known)
        return Identity(writes=(*creates, *repair), events=(*events, *told), conditions=conditions, public_key=known)
    # Its own Secret of an older operator (no key on it), whose key was never recorded: replace it.
    delete = write("delete", owned.SECRET, topic, identity["metadata"]["name"], None,
                   f"delete Secret {identity['metadata']['name']} (its key was never recorded)",
                   uid=identity["metadata"].get("uid"))
    return Identity(writes=(*creates, delete), events=events, conditions=conditions, public_key=None)


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
    return Decision(writes=(write("patch", owned.SECRET, obs.topic, meta["name"], body, what,
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
