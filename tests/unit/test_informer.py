"""The watch-fed caches: server-side selectors from the owned-kinds table, a store by name and an
index by topic, relists that announce only what changed, writes that do not wake the operator,
and host pods that jump the queue."""

from __future__ import annotations

import asyncio
from typing import Any

from swarm_operator import names, owned
from swarm_operator.api.informer import Informer
from swarm_operator.api.workqueue import WorkQueue
from swarm_operator.children import Inputs, host_statefulset
from swarm_operator.reconciler.caches import Caches, in_scope
from swarm_operator.reconciler.controller import Controller


def host_pod(topic: str, namespace: str = "apps", uid: str = "u", version: str = "1") -> dict[str, Any]:
    """A pod as the StatefulSet controller makes it: the template's labels, its own name."""
    labels = dict(names.common_labels(topic, names.COMPONENT_HOST))
    return {"metadata": {"name": f"{topic}-host-0", "namespace": namespace, "labels": labels, "uid": uid,
                         "resourceVersion": version, "managedFields": [{"manager": "kubelet"}]},
            "spec": {"containers": [{"name": "swarm-peer", "image": "x", "env": [{"name": "A", "value": "b"}],
                                     "ports": [{"name": "status", "containerPort": 8080}]}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}], "podIP": "10.0.0.9",
                       "containerStatuses": [{"name": "swarm-peer", "ready": True}]}}


class Listing:
    """What `GET <collection>?labelSelector=...` answers: the request is the one thing stood in for."""

    def __init__(self, selector: str) -> None:
        self.selector = selector
        self.items: list[dict[str, Any]] = []
        self.accept: list[str] = []

    async def request(self, method: str, path: str, params: dict[str, str], accept: str) -> dict[str, Any]:
        """Pages of at most `limit` items, the snapshot's version on each, as the API server does."""
        start = int(params.pop("continue", "0"))
        limit = int(params.pop("limit"))
        assert (method, params) == ("GET", {"labelSelector": self.selector} if self.selector else {})
        self.accept.append(accept)
        self.pages = getattr(self, "pages", 0) + 1
        more = start + limit < len(self.items)
        meta = {"resourceVersion": "9", **({"continue": str(start + limit)} if more else {})}
        return {"metadata": meta, "items": self.items[start:start + limit]}


def pod_informer(kube: Any, seen: list[tuple[str, str]]) -> Informer:
    return Informer(kube, "/api/v1/pods", topic_of=lambda o: owned.topic_of(owned.POD, o),
                    on_change=lambda ns, t, _obj: seen.append((ns, t)), selector=owned.label_selector(owned.POD),
                    trim=owned.POD.trim)


def test_every_child_kind_is_selected_on_the_server_and_secrets_are_metadata_only() -> None:
    kinds = {k.kind: k for k in owned.watched()}
    assert set(kinds) == {k.kind for k in owned.children()} | {"SwarmTopic", "Pod", "PersistentVolumeClaim"}
    for kind in kinds.values():
        assert {"list", "watch"} <= set(kind.verbs), kind
        assert kind is owned.TOPIC or owned.label_selector(kind), kind  # children: never the whole cluster
    assert owned.label_selector(owned.POD) == (
        "app.kubernetes.io/component=bootstrap-host,app.kubernetes.io/managed-by=swarm-operator,"
        "swarm-operator.dev/topic")
    assert owned.SECRET.metadata_only and owned.PVC.metadata_only
    assert [k.kind for k in owned.watched() if k.progress] == ["Deployment", "Pod"]
    assert owned.POD.path(None) == "/api/v1/pods"
    assert owned.POD.path("apps") == "/api/v1/namespaces/apps/pods"


def test_the_selectors_match_what_the_operator_makes() -> None:
    from swarm_operator.models import SwarmTopicSpec

    topic = {"metadata": {"name": "chat", "namespace": "apps", "uid": "u1"},
             "spec": {"bootstrapHost": {}, "clients": []}}
    sts = host_statefulset(Inputs(topic, SwarmTopicSpec.model_validate(topic["spec"]), "img", "00" * 32))
    assert in_scope(owned.STATEFULSET, sts)
    assert in_scope(owned.POD, {"metadata": {"labels": sts["spec"]["template"]["metadata"]["labels"]}})
    claim = sts["spec"]["volumeClaimTemplates"][0]
    assert in_scope(owned.PVC, claim)
    assert not in_scope(owned.CONFIGMAP, {"metadata": {"labels": {names.LABEL_TOPIC: "chat"}}})


async def test_the_store_keeps_what_the_planner_reads_indexed_by_topic() -> None:
    kube = Listing(owned.label_selector(owned.POD))
    seen: list[tuple[str, str]] = []
    informer = pod_informer(kube, seen)
    kube.items = [host_pod("chat"), host_pod("news", "other")]
    assert await informer._list() == "9"
    assert sorted(seen) == [("apps", "chat"), ("other", "news")]
    pod = informer.get("apps", "chat-host-0")
    assert pod is not None and "managedFields" not in pod["metadata"]
    assert pod["spec"]["containers"] == [{"name": "swarm-peer", "ports": [{"name": "status", "containerPort": 8080}]}]
    assert pod["status"]["podIP"] == "10.0.0.9"
    assert pod["status"]["containerStatuses"] == [{"name": "swarm-peer", "restartCount": 0}]
    assert [p["metadata"]["name"] for p in informer.of_topic("apps", "chat")] == ["chat-host-0"]
    assert informer.of_topic("apps", "news") == []


async def test_a_relist_announces_only_what_changed_or_went_away() -> None:
    kube = Listing(owned.label_selector(owned.POD))
    seen: list[tuple[str, str]] = []
    informer = pod_informer(kube, seen)
    kube.items = [host_pod(f"t{n}", uid=f"u{n}") for n in range(1000)]
    await informer._list()
    assert len(seen) == 1000  # the first list: every topic
    assert kube.pages == 2  # in pages of 500
    seen.clear()
    kube.items = [host_pod(f"t{n}", uid=f"u{n}", version="2" if n in (7, 8) else "1") for n in range(1, 1000)]
    kube.items[6]["status"]["podIP"] = "10.0.0.77"  # t7 changed; t8 only in what the cache does not keep
    await informer._list()  # t7 changed, t0 went away; 997 unchanged pods announce nothing
    assert sorted(seen) == [("apps", "t0"), ("apps", "t7")]
    assert informer.get("apps", "t0-host-0") is None and len(informer) == 999


async def test_the_operators_own_write_does_not_wake_it_but_a_later_change_does() -> None:
    kube = Listing(owned.label_selector(owned.POD))
    seen: list[tuple[str, str]] = []
    informer = pod_informer(kube, seen)
    await informer._list()
    informer.put(host_pod("chat", version="5"))  # a write's answer
    assert seen == []

    changed = host_pod("chat", version="7")
    changed["status"]["conditions"][0]["status"] = "False"

    async def events(version: str) -> Any:
        for event in ({"type": "MODIFIED", "object": host_pod("chat", version="5")},  # the same write
                      {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "6"}}},
                      {"type": "MODIFIED", "object": changed},  # someone else's
                      {"type": "DELETED", "object": host_pod("chat", version="8")}):
            yield event

    informer._watch = events  # type: ignore[method-assign]
    assert await informer._follow("5") == "8"
    assert seen == [("apps", "chat"), ("apps", "chat")]
    assert informer.get("apps", "chat-host-0") is None


async def test_the_watch_event_of_a_write_in_flight_wakes_nobody_but_anothers_change_does() -> None:
    seen: list[tuple[str, str]] = []
    informer = pod_informer(Listing(""), seen)
    informer.expect("apps", "chat-host-0")  # a write is sent; its watch event comes before its answer
    informer._changed(host_pod("chat", version="5"))
    assert seen == [] and informer.get("apps", "chat-host-0") is not None  # stored, held
    informer.settle("apps", "chat-host-0", host_pod("chat", version="5"))  # the answer: that same version
    assert seen == []

    informer.expect("apps", "chat-host-0")
    changed = host_pod("chat", version="6")
    changed["status"]["conditions"][0]["status"] = "False"
    informer._changed(changed)  # someone else's change while ours is in flight
    informer._changed(host_pod("chat", version="7"))  # then ours
    informer.settle("apps", "chat-host-0", host_pod("chat", version="7"))
    assert seen == [("apps", "chat")]  # announced once the write settled

    informer.expect("apps", "chat-host-0")
    informer._changed(changed | {"metadata": {**changed["metadata"], "resourceVersion": "8"}})
    informer.settle("apps", "chat-host-0", None)  # the write failed: what was seen is announced
    assert seen == [("apps", "chat")] * 2


async def test_an_error_event_lists_again() -> None:
    informer = pod_informer(Listing(""), [])

    async def events(version: str) -> Any:
        yield {"type": "ERROR", "object": {"code": 410, "message": "too old resource version"}}

    informer._watch = events  # type: ignore[method-assign]
    assert await informer._follow("5") is None


async def test_a_host_pod_change_puts_its_topic_ahead_of_a_burst() -> None:
    controller = Controller(None)  # type: ignore[arg-type]
    queue: WorkQueue[tuple[str, str]] = controller.queue
    caches = Caches(None, (), controller.announce)  # type: ignore[arg-type]
    for n in range(100):
        caches._informers[("SwarmTopic", None)]._changed(
            {"metadata": {"name": f"new-{n}", "namespace": "apps", "resourceVersion": "1"}})
    caches._informers[("Pod", None)]._changed(host_pod("chat"))  # the pod Ready event
    assert await asyncio.wait_for(queue.get(), 1) == ("apps", "chat")
    assert await asyncio.wait_for(queue.get(), 1) == ("apps", "new-0")


def test_only_a_ready_host_pods_change_is_progress() -> None:
    said: list[tuple[str, str, bool]] = []
    caches = Caches(None, (), lambda ns, t, progress: said.append((ns, t, progress)))  # type: ignore[arg-type]
    pods = caches._informers[("Pod", None)]
    starting = host_pod("chat", version="1")
    starting["status"] = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]}
    pods._changed(starting)  # created, scheduled: an ordinary change (coalesced by the controller)
    pods._changed(host_pod("chat", version="2"))  # Ready: its key may be read
    pods._deleted(("apps", "chat-host-0"))  # gone: an ordinary change
    assert said == [("apps", "chat", False), ("apps", "chat", True), ("apps", "chat", False)]


def test_a_client_deployment_is_progress_once_every_replica_is_ready() -> None:
    said: list[tuple[str, str, bool]] = []
    caches = Caches(None, (), lambda ns, t, progress: said.append((ns, t, progress)))  # type: ignore[arg-type]
    deployments = caches._informers[("Deployment", None)]
    labels = dict(names.common_labels("chat", names.COMPONENT_CLIENT))
    for version, ready in enumerate((1, 2, 3), 1):
        deployments._changed({"metadata": {"name": "chat-kv", "namespace": "apps", "resourceVersion": str(version),
                                           "labels": labels}, "spec": {"replicas": 3},
                              "status": {"readyReplicas": ready}})
    assert said == [("apps", "chat", False), ("apps", "chat", False), ("apps", "chat", True)]


def test_a_host_volume_bound_is_no_change_of_it() -> None:
    said: list[tuple[str, str, bool]] = []
    caches = Caches(None, (), lambda ns, t, progress: said.append((ns, t, progress)))  # type: ignore[arg-type]
    volumes = caches._informers[("PersistentVolumeClaim", None)]
    labels = dict(names.common_labels("chat", names.COMPONENT_HOST))
    claim = {"metadata": {"name": "data-chat-host-0", "namespace": "apps", "uid": "v1", "resourceVersion": "1",
                          "labels": labels, "finalizers": ["kubernetes.io/pvc-protection"]}}
    volumes._changed(claim)
    bound = {"metadata": {**claim["metadata"], "resourceVersion": "2",
                          "annotations": {"pv.kubernetes.io/bind-completed": "yes"}}}
    volumes._changed(bound)  # the binder's annotations: stored, not announced
    assert said == [("apps", "chat", False)]
    assert caches.get(owned.PVC, "apps", "data-chat-host-0") == {"metadata": {
        "name": "data-chat-host-0", "namespace": "apps", "uid": "v1", "labels": labels, "resourceVersion": "2"}}


async def test_metadata_only_kinds_keep_no_data_even_from_a_writes_answer() -> None:
    caches = Caches(None, ("apps",), lambda *_: None)  # type: ignore[arg-type]
    secret = {"metadata": {"name": "chat-member", "namespace": "apps", "resourceVersion": "3",
                           "labels": names.common_labels("chat", names.COMPONENT_HOST)},
              "data": {"invite-seed": "c2VjcmV0"}}
    caches.put(owned.SECRET, secret)
    assert caches.get(owned.SECRET, "apps", "chat-member") == {"metadata": secret["metadata"]}
    caches.put(owned.SECRET, {"metadata": {"name": "foreign", "namespace": "apps"}, "data": {}})
    assert caches.get(owned.SECRET, "apps", "foreign") is None  # not in the cache's scope


def test_a_change_of_what_the_cache_does_not_keep_is_stored_and_not_announced() -> None:
    seen: list[tuple[str, str]] = []
    informer = pod_informer(Listing(""), seen)
    informer._changed(host_pod("chat", version="1"))
    assert seen == [("apps", "chat")]
    update = host_pod("chat", version="2")  # the kubelet's status update: a field the trim drops
    update["status"]["containerStatuses"][0]["ready"] = False
    update["status"]["qosClass"] = "BestEffort"
    informer._changed(update)
    assert seen == [("apps", "chat")]  # no pass for it...
    stored = informer.get("apps", "chat-host-0")
    assert stored is not None and stored["metadata"]["resourceVersion"] == "2"  # ...but the version is current
    ready = host_pod("chat", version="3")
    ready["status"]["podIP"] = "10.0.0.10"  # what the planner reads
    informer._changed(ready)
    assert seen == [("apps", "chat"), ("apps", "chat")]


def test_a_host_pods_scheduling_is_stored_and_wakes_nobody_but_its_start_does() -> None:
    """Between its creation and its Ready, a host pod is scheduled, its sandbox made, its containers
    started: only what the planner acts on (phase, address, readiness, restarts, the scheduler's
    complaint) wakes its topic; the rest is stored."""
    said: list[tuple[str, str, bool]] = []
    caches = Caches(None, (), lambda ns, t, progress: said.append((ns, t, progress)))  # type: ignore[arg-type]
    pods = caches._informers[("Pod", None)]
    created = host_pod("chat", version="1")
    created["status"] = {"phase": "Pending"}
    pods._changed(created)
    scheduled = host_pod("chat", version="2")
    scheduled["status"] = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"},
                                                                {"type": "Initialized", "status": "True"}]}
    pods._changed(scheduled)
    assert said == [("apps", "chat", False)]  # created; its being scheduled is no pass of its own
    stored = caches.get(owned.POD, "apps", "chat-host-0")
    assert stored is not None and stored["status"]["conditions"][0]["type"] == "PodScheduled"
    started = host_pod("chat", version="3")
    started["status"] = {"phase": "Running", "podIP": "10.0.0.9", "startTime": "2026-12-06T00:00:00Z",
                         "conditions": [{"type": "PodScheduled", "status": "True"},
                                        {"type": "Ready", "status": "False"}]}
    pods._changed(started)
    pods._changed(host_pod("chat", version="4"))  # Ready
    assert said == [("apps", "chat", False), ("apps", "chat", False), ("apps", "chat", True)]


def test_the_schedulers_complaint_about_a_host_pod_wakes_its_topic() -> None:
    """A host the scheduler cannot place: its reason is the `HostPending` message, kept current."""
    said: list[tuple[str, str, bool]] = []
    caches = Caches(None, (), lambda ns, t, progress: said.append((ns, t, progress)))  # type: ignore[arg-type]
    pods = caches._informers[("Pod", None)]
    for version, message in enumerate(("pod has unbound immediate PersistentVolumeClaims", "Insufficient cpu"), 1):
        pending = host_pod("chat", version=str(version))
        pending["status"] = {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}]}
        pods._changed(pending)
    assert said == [("apps", "chat", False), ("apps", "chat", False)]
