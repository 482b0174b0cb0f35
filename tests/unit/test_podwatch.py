"""Host pods are watched with a server-side selector and mapped to their topic through the
owned-kinds table; their events put the topic ahead of the queue."""

from __future__ import annotations

import asyncio
from typing import Any

from swarm_operator import handlers, names, owned
from swarm_operator.controller import Controller
from swarm_operator.manifests import host_statefulset
from swarm_operator.podwatch import SelectorWatch, topic_key


def host_pod(topic: str, namespace: str = "apps") -> dict[str, Any]:
    """A pod as the StatefulSet controller makes it: the template's labels, its own name."""
    labels = dict(names.common_labels(topic, names.COMPONENT_HOST))
    return {"metadata": {"name": f"{topic}-host-0", "namespace": namespace, "labels": labels},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


def test_the_host_pods_are_selected_on_the_server_and_kopf_does_not_watch_pods() -> None:
    assert owned.selected() == [owned.POD]
    assert owned.POD not in owned.watched()
    assert owned.label_selector(owned.POD) == (
        "app.kubernetes.io/component=bootstrap-host,app.kubernetes.io/managed-by=swarm-operator,"
        "swarm-operator.dev/topic")
    assert {"list", "watch"} <= set(owned.POD.verbs)
    assert SelectorWatch(None, owned.POD, print).path == "/api/v1/pods"  # type: ignore[arg-type]
    assert SelectorWatch(None, owned.POD, print, "apps").path == "/api/v1/namespaces/apps/pods"  # type: ignore[arg-type]


def test_the_selector_matches_the_host_template_labels() -> None:
    from swarm_operator.models import SwarmTopicSpec

    topic = {"metadata": {"name": "chat", "namespace": "apps", "uid": "u1"},
             "spec": {"bootstrapHost": {}, "clients": []}}
    sts = host_statefulset(topic, SwarmTopicSpec.model_validate(topic["spec"]), "img", "00" * 32)
    labels = sts["spec"]["template"]["metadata"]["labels"]
    for key, value in owned.POD.selector:
        assert key in labels and (not value or labels[key] == value)


def test_a_host_pod_maps_to_its_topic_and_others_to_nothing() -> None:
    assert topic_key(host_pod("chat")) == ("apps", "chat")
    assert topic_key({"metadata": {"name": "x", "namespace": "apps", "labels": {}}}) is None


async def test_a_host_pod_event_enqueues_its_topic_ahead_of_a_burst() -> None:
    controller = Controller(ctx=None)  # type: ignore[arg-type]  # the queue only: no reconcile runs
    handlers._controller = controller
    try:
        for n in range(100):
            controller.enqueue("apps", f"new-{n}")  # a burst of new topics
        seen: list[tuple[str, str]] = []
        watch = SelectorWatch(None, owned.POD, lambda ns, name: (seen.append((ns, name)),  # type: ignore[arg-type]
                                                                  handlers._progress(ns, name)))
        watch._emit(host_pod("chat"))  # the pod Ready event, as the watch delivers it
        assert seen == [("apps", "chat")]
        assert await asyncio.wait_for(controller.queue.get(), 1) == ("apps", "chat")
    finally:
        handlers._controller = None


class Listing:
    """What `GET /api/v1/pods?labelSelector=...` answers: the request is the one thing stood in for."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    async def request(self, method: str, path: str, params: dict[str, str]) -> dict[str, Any]:
        assert (method, params) == ("GET", {"labelSelector": owned.label_selector(owned.POD)})
        return {"metadata": {"resourceVersion": "9"}, "items": self.items}


def versioned(topic: str, uid: str, version: str) -> dict[str, Any]:
    pod = host_pod(topic)
    pod["metadata"].update(uid=uid, resourceVersion=version)
    return pod


async def test_a_relist_requeues_only_what_changed_or_went_away() -> None:
    kube = Listing()
    seen: list[tuple[str, str]] = []
    watch = SelectorWatch(kube, owned.POD, lambda ns, name: seen.append((ns, name)))  # type: ignore[arg-type]
    kube.items = [versioned(f"t{n}", f"u{n}", "1") for n in range(1000)]
    assert await watch._list() == "9" and len(seen) == 1000  # the first list: every topic
    seen.clear()
    kube.items = [versioned(f"t{n}", f"u{n}", "2" if n == 7 else "1") for n in range(1, 1000)]
    await watch._list()  # t7 changed, t0 went away; 997 unchanged pods queue nothing
    assert sorted(seen) == [("apps", "t0"), ("apps", "t7")]
