"""What a 409 means with watch-fed caches: the object is read again; one the caches can hold goes into
them, one they cannot see (none of the operator's labels) is read by name on the topic's passes
until it is gone. The API server is the one thing stood in for (`Server.get`)."""

from __future__ import annotations

from typing import Any

from swarm_operator import names, owned
from swarm_operator.planner import Target, Write
from swarm_operator.reconciler.act import reread
from swarm_operator.reconciler.caches import Caches
from swarm_operator.reconciler.context import Memory, Wiring
from swarm_operator.reconciler.observe import read_past_caches
from unit_support import make_topic


class Server:
    """GET answers from a dict of path -> object (None: 404), and a record of the paths asked."""

    def __init__(self, objects: dict[str, dict[str, Any] | None]) -> None:
        self.objects = objects
        self.asked: list[tuple[str, bool]] = []

    async def get(self, path: str, metadata_only: bool = False) -> dict[str, Any] | None:
        self.asked.append((path, metadata_only))
        return self.objects.get(path)


def context(server: Server) -> Wiring:
    caches = Caches(None, ("apps",), lambda *_: None)  # type: ignore[arg-type]
    return Wiring(kube=server, http=None, peer_image="img", caches=caches)  # type: ignore[arg-type]


def create(kind: str, name: str) -> Write:
    return Write("create", Target(kind, "apps"), {"metadata": {"name": name}}, f"create {kind} {name}")


async def test_a_create_that_meets_an_unlabelled_object_reads_it_by_name_from_then_on() -> None:
    path = owned.CONFIGMAP.path("apps", "chat-swarm")
    foreign = {"metadata": {"name": "chat-swarm", "namespace": "apps"}, "data": {"baseKey": "ee" * 32}}
    server = Server({path: foreign})
    ctx, memory = context(server), Memory()
    topic = make_topic()
    await reread(ctx, memory, topic, create("ConfigMap", "chat-swarm"))
    assert memory.direct == {("apps", "chat"): {("ConfigMap", "chat-swarm")}}
    assert ctx.caches.get(owned.CONFIGMAP, "apps", "chat-swarm") is None  # no cache holds it
    found: dict[tuple[str, str], Any] = {}
    await read_past_caches(ctx, memory, ("apps", "chat"), found)
    assert found == {("ConfigMap", "chat-swarm"): foreign}
    server.objects[path] = None  # deleted by its owner: forgotten, the next create goes ahead
    found = {}
    await read_past_caches(ctx, memory, ("apps", "chat"), found)
    assert found == {} and memory.direct == {}


async def test_a_create_that_meets_its_own_object_puts_it_in_the_cache_as_metadata() -> None:
    path = owned.SECRET.path("apps", "chat-member")
    mine = {"metadata": {"name": "chat-member", "namespace": "apps", "resourceVersion": "5",
                         "labels": names.common_labels("chat", names.COMPONENT_HOST)}}
    server = Server({path: mine})
    ctx, memory = context(server), Memory()
    await reread(ctx, memory, make_topic(), create("Secret", "chat-member"))
    assert server.asked == [(path, True)]  # a Secret is read as metadata only
    assert ctx.caches.get(owned.SECRET, "apps", "chat-member") == mine
    assert memory.direct == {}


async def test_a_topic_whose_identity_exists_and_whose_hosts_have_no_pod_yet_is_observed() -> None:
    """The window between the first pass and the StatefulSet's first pod (every topic of a burst
    passes through it): observe used to fail there (`max()` of one number), and each such pass was
    retried with backoff."""
    from swarm_operator.reconciler.observe import observe
    from swarm_operator.validation import parse_spec

    topic = make_topic()
    topic["metadata"]["uid"] = "uid-1"
    identity = {"metadata": {"name": "chat-identity", "namespace": "apps", "resourceVersion": "3",
                             "labels": names.common_labels("chat", names.COMPONENT_HOST),
                             "annotations": {names.ANNOTATION_HOST_PUBLIC_KEY: "ab" * 32},
                             "ownerReferences": [{"kind": "SwarmTopic", "name": "chat", "uid": "uid-1",
                                                  "controller": True}]}}
    ctx = context(Server({}))
    ctx.caches.put(owned.SECRET, identity)
    spec, error = parse_spec(topic)
    assert spec is not None, error
    obs = await observe(ctx, Memory(), topic, spec)
    assert obs.host_pods == {} and obs.reports == {}


async def test_a_name_its_kinds_index_knows_free_is_not_read_before_the_first_write() -> None:
    server = Server({})
    ctx, memory = context(server), Memory()
    index = ctx.caches._names[("ConfigMap", "apps")]
    index._changed({"metadata": {"name": "other-swarm", "namespace": "apps", "resourceVersion": "40"}})
    index.version = "41"
    index.synced.set()
    checked = {("ConfigMap", "chat-swarm"), ("Secret", "chat-member")}
    found: dict[tuple[str, str], Any] = dict.fromkeys(checked)
    await read_past_caches(ctx, memory, ("apps", "chat"), found, checked, as_of="41")
    # The ConfigMap's name is free as of the topic's version; Secrets have no name index: read.
    assert server.asked == [(owned.SECRET.path("apps", "chat-member"), True)]

    server.asked.clear()
    await read_past_caches(ctx, memory, ("apps", "chat"), found, checked, as_of="42")  # the index is behind
    assert [p for p, _ in server.asked] == [owned.CONFIGMAP.path("apps", "chat-swarm"),
                                            owned.SECRET.path("apps", "chat-member")]

    server.asked.clear()
    index._changed({"metadata": {"name": "chat-swarm", "namespace": "apps", "resourceVersion": "43"}})  # foreign
    index.version = "50"
    await read_past_caches(ctx, memory, ("apps", "chat"), found, {("ConfigMap", "chat-swarm")}, as_of="42")
    assert server.asked == [(owned.CONFIGMAP.path("apps", "chat-swarm"), False)]  # taken: read, to be told


def test_a_name_index_compares_versions_only_when_it_can() -> None:
    from swarm_operator.api.informer import NameIndex

    index = NameIndex(None, "/api/v1/configmaps")  # type: ignore[arg-type]
    assert not index.seen_since("5")  # not listed yet
    index.synced.set()
    index.version = "7"
    assert index.seen_since("5") and index.seen_since("7") and not index.seen_since("8")
    assert not index.seen_since("opaque") and not index.seen_since(None)
    assert [k.kind for k in owned.watched() if k.names_watched] == [
        "ConfigMap", "Service", "StatefulSet", "PodDisruptionBudget"]  # never Secrets


def test_a_spec_is_parsed_once_per_generation_and_recorded_key() -> None:
    memory, calls = Memory(), []

    def parse() -> tuple[Any, str | None]:
        calls.append(1)
        return None, f"parse {len(calls)}"

    topic = make_topic()
    topic["metadata"].update(uid="u1", generation=1)
    assert memory.spec_of(topic, parse) == memory.spec_of(topic, parse) == (None, "parse 1")
    topic["status"] = {"baseKey": "ab" * 32}  # a key recorded: spec.baseKey is checked against it
    assert memory.spec_of(topic, parse) == (None, "parse 2")
    topic["metadata"]["generation"] = 2  # the spec changed
    assert memory.spec_of(topic, parse) == (None, "parse 3")
    memory.forget(("apps", "chat"))
    assert memory.spec_of(topic, parse) == (None, "parse 4")


async def test_host_zeros_report_is_waited_for_only_while_it_runs_unready_and_no_key_is_recorded() -> None:
    """Observe's side of `flushwait.py`: a wait on host 0 starts once its pod runs with an address
    and is not Ready while no key is recorded, and ends when the pod is Ready or the key is
    recorded (the status port here refuses: the wait retries, harmlessly, until forgotten)."""
    from swarm_operator.reconciler.flushwait import FlushWaits
    from swarm_operator.reconciler.observe import _flushed

    flushes = FlushWaits(lambda *_: None)
    wiring = Wiring(kube=None, http=None, peer_image="img", caches=None, flushes=flushes)  # type: ignore[arg-type]
    pod = {"metadata": {"name": "chat-host-0", "uid": "u0"},
           "spec": {"containers": [{"name": names.HOST_CONTAINER,
                                    "ports": [{"name": names.STATUS_PORT_NAME, "containerPort": 9}]}]},
           "status": {"phase": "Running", "podIP": "127.0.0.1", "conditions": [{"type": "Ready", "status": "False"}]}}
    key, topic = ("apps", "chat"), make_topic()
    try:
        assert _flushed(wiring, key, topic, {**pod, "status": {"phase": "Pending"}}, "ab" * 32, "chat") is None
        assert flushes.waiting() == 0  # not running yet
        assert _flushed(wiring, key, topic, pod, "ab" * 32, "chat") is None
        assert flushes.waiting() == 1
        assert _flushed(wiring, key, topic, pod, "ab" * 32, "chat") is None and flushes.waiting() == 1  # the same wait
        ready = {**pod, "status": {**pod["status"], "conditions": [{"type": "Ready", "status": "True"}]}}
        assert _flushed(wiring, key, topic, ready, "ab" * 32, "chat") is None
        assert flushes.waiting() == 0  # Ready: the report is read at the pod's Ready, as ever
        _flushed(wiring, key, topic, pod, "ab" * 32, "chat")
        recorded = make_topic(status={"baseKey": "cd" * 32})
        assert _flushed(wiring, key, recorded, pod, "ab" * 32, "chat") is None and flushes.waiting() == 0
    finally:
        await flushes.close()
