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
