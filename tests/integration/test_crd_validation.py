"""Issue 9's invalid inputs, refused by the real API server from the generated CRD (patterns,
maxLength, CEL on the name) before the operator sees them."""

from __future__ import annotations

from typing import Any

import pytest
from integration_support import Api, example_topic

NS = "apps"


def _refusal(api: Api, topic: dict[str, Any]) -> str:
    with pytest.raises(AssertionError) as info:
        api.create(api.topic_path(NS), topic)
    return str(info.value)


@pytest.mark.parametrize(("name", "field"), [("1chat", "metadata.name"), ("chat.v1", "metadata.name"),
                                             ("a" * 41, "metadata.name")])
def test_names_that_cannot_make_children_are_refused(api: Api, name: str, field: str) -> None:
    message = _refusal(api, example_topic(name))
    assert " 422 " in message and field in message, message
    assert "DNS-1035" in message or "40 characters" in message, message


@pytest.mark.parametrize(("change", "field"), [
    (lambda s: s["dht"].update(bootstrap=["dht:0"]), "spec.dht.bootstrap[0]"),
    (lambda s: s["dht"].update(bootstrap=["dht:99999"]), "spec.dht.bootstrap[0]"),
    (lambda s: s.update(topic="   "), "spec.topic"),
    (lambda s: s.update(topic="chat\u0000room"), "spec.topic"),
    (lambda s: s["bootstrapHost"]["storage"].update(size="0"), "spec.bootstrapHost.storage.size"),
    (lambda s: s["bootstrapHost"].update(image="x" * 10000), "spec.bootstrapHost.image"),
    (lambda s: s.update(writers={"policy": "Everyone"}), "spec.writers.policy"),
])
def test_inputs_that_would_crash_the_host_are_refused(api: Api, change: Any, field: str) -> None:
    topic = example_topic("chat")
    change(topic["spec"])
    message = _refusal(api, topic)
    assert " 422 " in message and field in message, message
    assert api.get(api.topic_path(NS, "chat")) is None
