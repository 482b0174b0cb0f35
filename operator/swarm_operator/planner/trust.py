"""Trust: the names a topic claims are its own (else nothing at all is written), its Secrets are
made once, and the host's public key is known (pure functions over `Observed`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import children, names, owned
from .. import conditions as c
from ..hashes import bootstrap_topic_hash, topic_hash
from ..identity import known_host_key, known_public_key, public_key_of
from ..models import HOST_REPLICAS
from ..objects import controlled_by, controller_of
from ..reasons import R
from . import adopt
from .types import Decision, Event, Observed, Write, fresh_key, write

MAX_HOSTS = max(HOST_REPLICAS)


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
    """The Secrets' creation, and the hosts' public keys by ordinal (None: the identity Secret is
    being replaced)."""

    public_keys: tuple[str, ...] | None = None

    @property
    def public_key(self) -> str | None:
        """Host 0's: the clients pin it, the key is recorded from its report."""
        return self.public_keys[0] if self.public_keys else None


def _annotated(identity: dict[str, Any] | None, topic: dict[str, Any], ordinal: int) -> str | None:
    """Host `ordinal`'s public key, as the operator's own identity Secret carries it."""
    if identity is None or not controlled_by(identity, topic):
        return None
    key = (identity["metadata"].get("annotations") or {}).get(names.host_public_key_annotation(ordinal))
    return str(key) if key else None


def _more_hosts(obs: Observed, secret: str, identity: dict[str, Any] | None) -> tuple[dict[int, str], list[str]]:
    """Seeds for the hosts beyond 0 that the identity Secret lacks (a new Secret gets one for every
    host a topic can have, so scaling up never changes it; one made by an older operator gets those
    of the hosts it runs), and the public keys of the hosts the topic has."""
    assert obs.spec is not None
    missing: dict[int, str] = {}
    keys: list[str] = []
    for n in range(1, MAX_HOSTS if identity is None else obs.host_count):
        annotated = _annotated(identity, obs.topic, n)
        if annotated is None:
            missing[n] = obs.fresh[fresh_key(secret, names.identity_seed_key(n))]
            annotated = public_key_of(missing[n])
        if n < obs.host_count:  # as recorded in status.hosts (pinned), else as the Secret says
            keys.append(known_host_key(obs.topic, identity, n) or annotated)
    return missing, keys


def _added_seeds(obs: Observed, identity: dict[str, Any], more: dict[int, str]) -> tuple[Write, ...]:
    """A merge patch giving the identity Secret the seeds of more hosts (a topic scaled up): the
    Secret is never read, its other keys stay."""
    if not more:
        return ()
    version = identity["metadata"].get("resourceVersion")
    patch = children.identity_seeds(more)
    patch["metadata"]["resourceVersion"] = version
    what = f"add the seeds of hosts {', '.join(map(str, sorted(more)))} to Secret {identity['metadata']['name']}"
    return (write("patch", owned.SECRET, obs.topic, identity["metadata"]["name"], patch, what,
                  resource_version=version),)


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


def _creates(obs: Observed, more: dict[int, str]) -> tuple[Write, ...]:
    """The Secrets to make, all in the first pass (before the StatefulSet that mounts them): the
    identity (with `more` hosts' seeds), the member seed, the hosts' credential with several hosts
    and, unless its base exists, the encryption key (with retainOnDelete the host's volume becomes
    its second owner once the volume exists: `encryption_owners`)."""
    assert obs.spec is not None
    topic, name = obs.topic, obs.name
    owners = children.encryption_owners(topic, obs.spec, obs.volume)
    builders: list[tuple[str, Any]] = [
        (names.identity_secret(name), lambda t, v: children.identity_secret(t, v, more)),
        (names.member_secret(name), lambda t, v: children.member_secret(t, v, obs.fresh_seed_id))]
    if key_lost(obs) is None:
        builders.append((names.encryption_secret(name), lambda t, v: children.encryption_secret(t, v, owners)))
    if obs.host_count > 1:
        builders.append((names.hosts_secret(name), children.hosts_secret))
    # The value is in the body only: `what` is logged, the body never is.
    # Nothing they need exists before them: they go out together (with the host side's ConfigMap
    # and Service), before the StatefulSet that mounts them.
    return tuple(write("create", owned.SECRET, topic, None, build(topic, obs.fresh[made]), f"create Secret {made}",
                       joins=True)
                 for made, build in builders if obs.secrets.get(made) is None)


def _replaced(obs: Observed) -> tuple[Event, ...]:
    """The member seed made again while the hosts run on the old one: the hosts and the clients roll."""
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
    """Create the Secrets that are missing (once); the hosts' public keys, when known."""
    assert obs.spec is not None
    topic, secret = obs.topic, names.identity_secret(obs.name)
    identity = obs.secrets.get(secret)
    more, more_keys = _more_hosts(obs, secret, identity)
    creates, events = _creates(obs, more), _replaced(obs)
    lost = key_lost(obs)
    conditions = (lost,) if lost is not None else ()
    known = known_public_key(topic, obs.configmap, identity)
    if identity is None and obs.spec.paused:
        return Identity(writes=creates)  # nothing is made while paused: no key to tell of yet
    if identity is None:
        public_key = public_key_of(obs.fresh[secret])
        if known and known != public_key and obs.statefulset is not None:
            events += (Event("Warning", R.IDENTITY_ROTATED, "the identity Secret was missing and is re-created; the "
                             "host rolls onto the new key and the clients re-pin it"),)
        return Identity(writes=creates, events=events, conditions=conditions, public_keys=(public_key, *more_keys))
    if known:
        repair, told = _pin(obs, identity, known)
        return Identity(writes=(*creates, *_added_seeds(obs, identity, more), *repair), events=(*events, *told),
                        conditions=conditions, public_keys=(known, *more_keys))
    # Its own Secret of an older operator (no key on it), whose key was never recorded: replace it.
    delete = write("delete", owned.SECRET, topic, identity["metadata"]["name"], None,
                   f"delete Secret {identity['metadata']['name']} (its key was never recorded)",
                   uid=identity["metadata"].get("uid"))
    return Identity(writes=(*creates, delete), events=events, conditions=conditions, public_keys=None)


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
