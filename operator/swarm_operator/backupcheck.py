"""The backup check (opt-in, `swarm-operator run --backup-check`): a planner step, pure.

A topic's credentials (its Secrets: the encryption key, the membership seed, the host identity)
live only in its namespace; without a copy, a lost namespace loses the base for good. With the
check on, every topic with a recorded base key carries the condition `CredentialsBackedUp`:

- `False`, `NeverBackedUp`: the topic carries no backup record;
- `False`, `BackupOutdated`: one of its Secrets is not the one backed up (made after the backup:
  a re-created identity, a replaced member seed, a Secret added by a newer operator);
- `True`, `BackedUp`: its last backup holds every Secret it has now.

The record is what `swarm-operator backup` (and `restore`) writes on the topic: the annotations
`backup-time`, `backup-sha256` (of the bundle file) and `backup-secrets` (`name=uid`, ...). The
operator compares those uids with the Secrets' metadata it already watches: it never reads Secret
data for this. The condition never holds `Ready` back; going `False` posts one Warning event named
by its reason. The record is a reminder, not a proof: whoever may annotate the topic may write one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import conditions as c
from . import names
from .recovery import parse_backup_secrets
from .steps import controlled_by

if TYPE_CHECKING:
    from .plan import Observed, Plan


def condition(obs: Observed) -> c.Cond | None:
    """The condition for this pass; None while there is nothing to back up (no key recorded yet)."""
    topic = obs.topic
    meta = topic["metadata"]
    if not (topic.get("status") or {}).get("baseKey"):
        return None
    current = {m["metadata"]["name"]: m["metadata"].get("uid") for m in obs.secrets.values()
               if m is not None and controlled_by(m, topic)}
    if not current:
        return None
    annotations = meta.get("annotations") or {}
    at = annotations.get(names.ANNOTATION_BACKUP_TIME)
    where = f"{meta['namespace']}/{meta['name']}"
    if not at:
        return c.Cond(c.CREDENTIALS_BACKED_UP, False, "NeverBackedUp",
                      f"the topic's credentials (Secrets {', '.join(sorted(current))}) have never been backed up: "
                      f"a lost namespace would lose the base; run swarm-operator backup {where} --recipient KEY "
                      "-o FILE")
    held = parse_backup_secrets(annotations.get(names.ANNOTATION_BACKUP_SECRETS))
    changed = sorted(n for n, uid in current.items() if held.get(n) != uid)
    if changed:
        return c.Cond(c.CREDENTIALS_BACKED_UP, False, "BackupOutdated",
                      f"Secret {', '.join(changed)} is not the one in the last backup ({at}): back it up again "
                      f"(swarm-operator backup {where} ...)")
    digest = annotations.get(names.ANNOTATION_BACKUP_SHA256, "")
    return c.Cond(c.CREDENTIALS_BACKED_UP, True, "BackedUp",
                  f"backed up at {at}" + (f" (bundle sha256 {digest[:16]}...)" if digest else ""))


def check(obs: Observed, out: Plan, conds: list[c.Cond]) -> None:
    """Add the condition (when the check is on), and one Warning event when it turns False or its
    reason changes."""
    if not obs.backup_check:
        return
    cond = condition(obs)
    if cond is None:
        return
    conds.append(cond)
    old = c.find((obs.topic.get("status") or {}).get("conditions") or [], c.CREDENTIALS_BACKED_UP) or {}
    if cond.status is False and (old.get("status"), old.get("reason")) != ("False", cond.reason):
        from .plan import Event

        out.events.append(Event("Warning", cond.reason, cond.message))
