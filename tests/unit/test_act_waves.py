"""Acting on a plan whose writes go out together (reconciler/act.py): a wave's answers are all kept,
a refusal in it ends the pass with the status saying so and nothing after the wave sent, a 409 in
it reads its object again and is raised, and so is the 403 of an API server still learning a CRD's
new version (no Forbidden status for it). The API server is the one thing stood in for (`Server`)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from swarm_operator import owned
from swarm_operator.api.errors import ApiConflict, ApiForbidden, ApiInvalid
from swarm_operator.planner import plan
from swarm_operator.reconciler.act import act
from swarm_operator.reconciler.caches import Caches
from swarm_operator.reconciler.context import Memory, Wiring
from swarm_operator.validation import parse_spec
from unit_support import NOW, make_topic, more_seeds, observed_of

IMAGE = "ghcr.io/swarm-operator/swarm-peer:0.1.0"


class Server:
    """Answers writes as the API server would (the body back, with a version), but for the paths
    given a refusal; records what was asked, and how many requests were in flight at most."""

    def __init__(self, refuse: dict[str, Exception]) -> None:
        self.refuse = refuse
        self.asked: list[tuple[str, str]] = []
        self.in_flight = self.most = 0

    async def _answer(self, verb: str, path: str, body: Any) -> dict[str, Any]:
        self.asked.append((verb, path))
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        if path in self.refuse:
            raise self.refuse[path]
        return {**body, "metadata": {**body["metadata"], "resourceVersion": "5", "uid": "u"}}

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._answer("create", path, body)

    async def merge_patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.asked.append(("patch", path))
        return {"metadata": {"name": "chat", "namespace": "apps", "resourceVersion": "6"}, **body}

    async def get(self, path: str, metadata_only: bool = False) -> dict[str, Any] | None:
        self.asked.append(("get", path))
        return None


def first_pass() -> tuple[dict[str, Any], Any]:
    topic = make_topic()
    topic["metadata"]["uid"] = "5e1f0c1e-1111-4222-8333-944455556666"
    fresh = {"chat-identity": "01" * 32, "chat-member": "02" * 32, "chat-encryption": "03" * 32,
             "chat-hosts": "04" * 32, **more_seeds()}
    obs = observed_of(topic=topic, spec=parse_spec(topic)[0], spec_error=None, now=NOW, peer_image=IMAGE,
                      fresh=fresh)
    return topic, plan(obs)


def wiring(server: Server) -> Wiring:
    caches = Caches(None, ("apps",), lambda *_: None)  # type: ignore[arg-type]
    return Wiring(kube=server, http=None, peer_image=IMAGE, caches=caches)  # type: ignore[arg-type]


async def test_a_first_pass_sends_its_first_writes_at_once_and_the_statefulset_after() -> None:
    server = Server({})
    topic, the_plan = first_pass()
    ctx = wiring(server)
    _, refused = await act(ctx, Memory(), topic, the_plan)
    assert refused is None
    creates = [path.rsplit("/", 1)[1] for verb, path in server.asked if verb == "create"]
    assert creates[-1] == "statefulsets"
    assert sorted(creates[:-1]) == ["configmaps", "secrets", "secrets", "secrets", "services"]
    assert server.most == 5  # the three Secrets, the ConfigMap and the Service in flight together
    assert ctx.caches.get(owned.SERVICE, "apps", "chat-host") is not None  # every answer kept


async def test_a_refusal_in_a_wave_keeps_the_others_answers_and_sends_nothing_after() -> None:
    service = owned.SERVICE.path("apps")
    server = Server({service: ApiInvalid(422, "Invalid", "spec.ports: port in use")})
    topic, the_plan = first_pass()
    ctx = wiring(server)
    after, refused = await act(ctx, Memory(), topic, the_plan)
    assert refused is not None and refused.reason == "ApiRejected" and "port in use" in refused.message
    assert not any(path.endswith("/statefulsets") for _, path in server.asked)  # nothing after the wave
    assert ctx.caches.get(owned.CONFIGMAP, "apps", "chat-swarm") is not None  # the others' answers kept
    assert sorted(w.target.kind for w in after.writes) == ["ConfigMap", "Secret", "Secret", "Secret"]  # what happened
    assert after.status["reason"] == "ApiRejected"
    assert server.asked[-1] == ("patch", owned.TOPIC.path("apps", "chat", "status"))  # the status says why


async def test_a_conflict_in_a_wave_reads_its_object_again_and_is_raised() -> None:
    configmaps = owned.CONFIGMAP.path("apps")
    server = Server({configmaps: ApiConflict(409, "AlreadyExists", "configmaps \"chat-swarm\" already exists")})
    topic, the_plan = first_pass()
    with pytest.raises(ApiConflict):
        await act(wiring(server), Memory(), topic, the_plan)
    assert ("get", owned.CONFIGMAP.path("apps", "chat-swarm")) in server.asked  # read again: whose is it?
    assert not any(path.endswith("/statefulsets") for _, path in server.asked)


async def test_a_403_of_the_server_catching_up_with_a_new_crd_version_is_retried_not_reported() -> None:
    """Right after the CRD upgrade from 0.1.0 (v1beta1 added), OwnerReferencesPermissionEnforcement
    answers 403 for every child whose owner is a v1beta1 SwarmTopic until its discovery refreshes:
    raised for the controller's backoff, with no Forbidden condition (the RBAC is right). Another 403
    is still a refusal the status reports."""
    lag = ("configmaps \"chat-swarm\" is forbidden: cannot set blockOwnerDeletion in this case because cannot "
           "find RESTMapping for APIVersion swarm-operator.dev/v1beta1 Kind SwarmTopic: no matches for kind")
    configmaps = owned.CONFIGMAP.path("apps")
    server = Server({configmaps: ApiForbidden(403, "Forbidden", lag)})
    topic, the_plan = first_pass()
    with pytest.raises(ApiForbidden):
        await act(wiring(server), Memory(), topic, the_plan)
    assert not any(verb == "patch" for verb, _ in server.asked)  # no status written
    assert not any(path.endswith("/statefulsets") for _, path in server.asked)

    rbac = 'configmaps is forbidden: User "system:serviceaccount:ops:swarm-operator" cannot create resource'
    server = Server({configmaps: ApiForbidden(403, "Forbidden", rbac)})
    topic, the_plan = first_pass()
    after, refused = await act(wiring(server), Memory(), topic, the_plan)
    assert refused is not None and refused.reason == "Forbidden" and after.status["reason"] == "Forbidden"
