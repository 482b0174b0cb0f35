"""The restore's decisions (pure): what it creates, what it keeps, and when the bundle is for
another topic (refused before anything is written)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from recovery_support import BASE, HOST, recorded_topic, topic_secrets
from swarm_operator import names
from swarm_operator.cli.recovery import Live, RestoreRefused, bundle_of, plan_restore
from swarm_operator.names import ANNOTATION_HOST_PUBLIC_KEY
from unit_support import NOW

BUNDLE = bundle_of(recorded_topic(), topic_secrets(recorded_topic()), NOW, "test")
OTHER_BASE = "9e" * 32


def empty(name: str = "chat", topic: dict[str, Any] | None = None, **kw: Any) -> Live:
    """The target as it is before a restore: the namespace there, none of the Secrets."""
    return Live(namespace_exists=True, topic=topic, secrets=dict.fromkeys(
        names.topic_secret(name, s.suffix) for s in BUNDLE.secrets), **kw)


def refused(live: Live, name: str = "chat", **kw: Any) -> str:
    with pytest.raises(RestoreRefused) as info:
        plan_restore(BUNDLE, "apps", name, live, **kw)
    return str(info.value)


def test_a_lost_topic_comes_back_paused_on_its_base_with_its_secrets() -> None:
    plan = plan_restore(BUNDLE, "apps-new", "chat", empty())
    assert plan.topic is not None and plan.resume and not plan.create_namespace and plan.kept == []
    spec = plan.topic["spec"]
    assert (spec["baseKey"], spec["topic"], spec["paused"]) == (BASE, "chat", True)
    assert plan.topic["apiVersion"] == names.API_VERSION
    assert plan.topic["metadata"]["annotations"]["owner"] == "alice"
    assert plan.topic["metadata"]["annotations"][names.ANNOTATION_RESTORED_FROM].startswith("apps/chat ")
    assert plan.secret_names == ["chat-encryption", "chat-identity", "chat-member"]
    identity = plan.secrets[1]
    assert identity["metadata"]["annotations"][ANNOTATION_HOST_PUBLIC_KEY] == HOST
    assert identity["data"] == BUNDLE.secret("identity").data and identity["metadata"]["namespace"] == "apps-new"


def test_under_another_name_the_topic_string_and_keys_stay_and_the_labels_follow() -> None:
    plan = plan_restore(BUNDLE, "apps", "chat2", empty(name="chat2"))
    assert plan.topic is not None and plan.topic["metadata"]["name"] == "chat2"
    assert plan.topic["spec"]["topic"] == "chat"  # outside members still find it by the topic string
    assert plan.secret_names == ["chat2-encryption", "chat2-identity", "chat2-member"]
    labels = plan.secrets[0]["metadata"]["labels"]
    assert labels[names.LABEL_TOPIC] == "chat2" and labels[names.LABEL_INSTANCE] == "chat2"


def test_a_paused_bundle_or_paused_flag_leaves_it_paused() -> None:
    assert not plan_restore(BUNDLE, "apps", "chat", empty(), keep_paused=True).resume
    paused = BUNDLE.model_copy(update={"spec": {**BUNDLE.spec, "paused": True}})
    assert not plan_restore(paused, "apps", "chat", empty()).resume


def test_a_missing_namespace_is_refused_unless_asked_to_create_it() -> None:
    live = Live(namespace_exists=False, topic=None, secrets={})
    assert "does not exist" in refused(live)
    assert plan_restore(BUNDLE, "apps", "chat", live, create_namespace=True).create_namespace


def _existing(base: str | None, adopted: str | None = None) -> dict[str, Any]:
    topic = recorded_topic()
    topic["metadata"]["uid"] = "live-uid"
    topic["status"] = {"baseKey": base} if base else {}
    if adopted:
        topic["spec"]["baseKey"] = adopted
    return topic


def test_a_target_of_another_base_is_another_topic() -> None:
    assert "exists on base " + OTHER_BASE in refused(empty(topic=_existing(OTHER_BASE)))
    assert "exists on base " + OTHER_BASE in refused(empty(topic=_existing(None, adopted=OTHER_BASE)))
    assert "with no base key" in refused(empty(topic=_existing(None)))
    deleting = _existing(BASE)
    deleting["metadata"]["deletionTimestamp"] = "2026-11-24T12:00:00Z"
    assert "being deleted" in refused(empty(topic=deleting))


def test_a_second_topic_of_the_same_base_in_the_cluster_is_refused() -> None:
    assert "already the base of SwarmTopic other/chat" in refused(empty(same_base=["other/chat"]))


def _live_secret(suffix: str, owner_uid: str | None, data: dict[str, str] | None = None) -> dict[str, Any]:
    secret = copy.deepcopy(next(s for s in topic_secrets(recorded_topic()) if s["metadata"]["name"].endswith(suffix)))
    secret["metadata"]["ownerReferences"] = [{"uid": owner_uid, "kind": "SwarmTopic"}] if owner_uid else []
    if data is not None:
        secret["data"] = data
    return secret


def test_into_a_topic_of_the_same_base_only_the_missing_secrets_are_restored() -> None:
    live = empty(topic=_existing(BASE))
    live.secrets["chat-identity"] = _live_secret("identity", "live-uid")
    live.secrets["chat-member"] = _live_secret("member", "live-uid")
    plan = plan_restore(BUNDLE, "apps", "chat", live)
    assert plan.topic is None and not plan.resume  # the existing topic stays as it is
    assert plan.secret_names == ["chat-encryption"] and plan.kept == ["chat-identity", "chat-member"]


def test_a_secret_with_other_data_or_another_owner_is_refused() -> None:
    live = empty(topic=_existing(BASE))
    live.secrets["chat-encryption"] = _live_secret("encryption", "live-uid", {"key": "c2VjcmV0"})
    assert "chat-encryption exists with other data" in refused(live)
    live = empty()
    live.secrets["chat-member"] = _live_secret("member", "someone-else")
    assert "chat-member exists and is not a retained volume's" in refused(live)


def test_the_encryption_key_kept_by_the_retained_volume_is_left_for_the_operator_to_adopt() -> None:
    kept = _live_secret("encryption", None)
    kept["metadata"]["ownerReferences"] = [{"kind": "PersistentVolumeClaim", "uid": "pvc-uid"}]
    live = empty(volume_uid="pvc-uid")
    live.secrets["chat-encryption"] = kept
    plan = plan_restore(BUNDLE, "apps", "chat", live)
    assert plan.kept == ["chat-encryption"] and plan.secret_names == ["chat-identity", "chat-member"]
    live.volume_uid = "another-pvc"
    assert "is not a retained volume's" in refused(live)
    kept["metadata"]["ownerReferences"][0]["name"] = "data-chat-host-0"
    live.volume_uid, live.volume_readable = None, False  # a user who may not read PVCs: matched by name
    assert plan_restore(BUNDLE, "apps", "chat", live).kept == ["chat-encryption"]
    kept["metadata"]["ownerReferences"][0]["name"] = "data-other-host-0"
    assert "is not a retained volume's" in refused(live)
