"""A topic whose Secrets exist before its host does (as `swarm-operator restore` leaves it: the
identity Secret made by the user, no StatefulSet, no host pod yet) is observed and planned: the
operator goes on to make the host (observe failed on `max()` of no host pod, for ever)."""

from __future__ import annotations

import copy

from swarm_operator import children, owned
from swarm_operator.planner import plan
from swarm_operator.reconciler.context import Memory
from swarm_operator.reconciler.observe import observe
from swarm_operator.validation import parse_spec
from test_reconcile_reads import Server, context
from unit_support import make_topic


async def test_restored_secrets_without_a_host_pod_are_observed_and_the_host_is_made() -> None:
    ctx = context(Server({}))
    topic = make_topic()
    spec, _ = parse_spec(topic)
    assert spec is not None
    for secret in (children.identity_secret(topic, "1a" * 32), children.member_secret(topic, "2b" * 32),
                   children.encryption_secret(topic, "3c" * 32)):
        meta = copy.deepcopy(secret["metadata"])
        meta.update(uid=f"{meta['name']}-uid", resourceVersion="1")
        ctx.caches.put(owned.SECRET, {"metadata": meta})
    obs = await observe(ctx, Memory(), topic, spec)
    assert obs.host_pods == {} and set(obs.secrets) == {"chat-identity", "chat-member", "chat-encryption"}
    made = [(w.op, w.target.kind) for w in plan(obs).writes]
    assert ("create", "StatefulSet") in made and ("create", "Secret") not in made
