"""The backup check (opt-in, `swarm-operator run --backup-check`), and the backup record it reads.

A topic's credentials (its Secrets: the encryption key, the membership seed, the hosts' identities
and credential) live only in its namespace; without a copy, a lost namespace loses the base for
good. `swarm-operator backup` (and `restore`) write a record on the topic (`record`): the
annotations `backup-time`, `backup-sha256` (of the bundle file) and `backup-secrets` (`name=uid`,
...). With the check on, every topic with a recorded base key carries `CredentialsBackedUp`:

- `False`, `NeverBackedUp`: the topic carries no backup record;
- `False`, `BackupOutdated`: one of its Secrets is not the one backed up (made after the backup:
  a re-created identity, a replaced member seed, the hosts' Secret of a scale-up);
- `True`, `BackedUp`: its last backup holds every Secret it has now.

The operator compares the record's uids with the Secrets' metadata it already watches: it never
reads Secret data for this. The condition never holds `Ready` back; going `False` (or changing its
reason) posts one Warning event. The record is a reminder, not a proof: whoever may annotate the
topic may write one.
"""

from __future__ import annotations

from .. import conditions as c
from .. import names
from ..objects import controlled_by
from ..reasons import R
from .types import Decision, Event, Observed


def record(at: str, sha256: str, secrets: dict[str, str]) -> dict[str, str]:
    """The annotations of a backup: when, the bundle file's sha256, its Secrets (`name=uid`)."""
    return {names.ANNOTATION_BACKUP_TIME: at, names.ANNOTATION_BACKUP_SHA256: sha256,
            names.ANNOTATION_BACKUP_SECRETS: ",".join(f"{n}={u}" for n, u in sorted(secrets.items()))}


def recorded_secrets(text: str | None) -> dict[str, str]:
    """The `backup-secrets` annotation read back: Secret name -> uid."""
    out = {}
    for item in (text or "").split(","):
        name, sep, uid = item.strip().partition("=")
        if sep and name and uid:
            out[name] = uid
    return out


def condition(obs: Observed) -> c.Cond | None:
    """The condition for this pass; None while there is nothing to back up (no key recorded yet)."""
    if not obs.recorded_key:
        return None
    current = {m["metadata"]["name"]: m["metadata"].get("uid") for m in obs.secrets.values()
               if controlled_by(m, obs.topic)}
    if not current:
        return None
    meta = obs.topic["metadata"]
    annotations = meta.get("annotations") or {}
    at = annotations.get(names.ANNOTATION_BACKUP_TIME)
    where = f"{meta['namespace']}/{meta['name']}"
    if not at:
        return c.Cond(c.CREDENTIALS_BACKED_UP, False, R.NEVER_BACKED_UP,
                      f"the topic's credentials (Secrets {', '.join(sorted(current))}) have never been backed up: "
                      f"a lost namespace would lose the base; run swarm-operator backup {where} --recipient KEY "
                      "-o FILE")
    held = recorded_secrets(annotations.get(names.ANNOTATION_BACKUP_SECRETS))
    changed = sorted(n for n, uid in current.items() if held.get(n) != uid)
    if changed:
        return c.Cond(c.CREDENTIALS_BACKED_UP, False, R.BACKUP_OUTDATED,
                      f"Secret {', '.join(changed)} is not the one in the last backup ({at}): back it up again "
                      f"(swarm-operator backup {where} ...)")
    digest = annotations.get(names.ANNOTATION_BACKUP_SHA256, "")
    return c.Cond(c.CREDENTIALS_BACKED_UP, True, R.BACKED_UP,
                  f"backed up at {at}" + (f" (bundle sha256 {digest[:16]}...)" if digest else ""))


def check(obs: Observed) -> Decision:
    """The condition (when the check is on), and one Warning event when it turns False or its
    reason changes."""
    cond = condition(obs) if obs.backup_check else None
    if cond is None:
        return Decision()
    old = c.find((obs.topic.get("status") or {}).get("conditions") or [], c.CREDENTIALS_BACKED_UP) or {}
    turned = cond.status is False and (old.get("status"), old.get("reason")) != ("False", cond.reason)
    events = (Event("Warning", cond.reason, cond.message),) if turned else ()
    return Decision(conditions=(cond,), events=events)
