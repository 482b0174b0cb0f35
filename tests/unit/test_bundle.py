"""The backup bundle: made from a topic and its Secrets, sealed with age, opened again; a damaged
bundle, one for another key, one that does not hold together: each refused with one line."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pyrage
import pytest
from recovery_support import BASE, ENCRYPTION, HOST, MEMBER, SEED, recorded_topic, topic_secrets
from swarm_operator.cli import bundle as b
from swarm_operator.cli.recovery import BackupRefused, bundle_of
from unit_support import NOW

KEY = pyrage.x25519.Identity.generate()


def made() -> b.Bundle:
    topic = recorded_topic()
    return bundle_of(topic, topic_secrets(topic), NOW, "test")


def sealed(bundle: b.Bundle | None = None) -> bytes:
    return b.seal(b.encode(bundle or made()), b.recipients([str(KEY.to_public())]))


def refusal(data: bytes, keys: list[Any] | None = None) -> str:
    with pytest.raises(b.BundleError) as info:
        b.open_bundle(data, keys or [KEY])
    message = str(info.value)
    assert "\n" not in message, message
    return message


def test_a_bundle_round_trips_with_the_topics_credentials() -> None:
    opened = b.open_bundle(sealed(), [KEY])
    assert opened == made()
    assert (opened.baseKey, opened.hostPublicKeys, opened.topic) == (BASE, [HOST], "chat")
    assert [s.suffix for s in opened.secrets] == ["encryption", "identity", "member"]
    values = {s.suffix: s.value(k).decode() for s in opened.secrets for k in s.data}
    assert values == {"identity": SEED, "member": MEMBER, "encryption": ENCRYPTION}
    # kubectl's copy of the applied object stays behind; the user's own metadata goes with it.
    assert opened.annotations == {"owner": "alice"} and opened.labels == {"team": "chat"}


def test_the_sealed_file_holds_no_secret_in_the_clear() -> None:
    data = sealed()
    assert data.startswith(b"age-encryption.org/v1\n")
    for value in (SEED, MEMBER, ENCRYPTION):
        assert value.encode() not in data and base64.b64encode(value.encode()) not in data


def test_a_truncated_bundle_is_refused() -> None:
    data = sealed()
    for cut in (len(data) - 1, len(data) - 17, len(data) // 2):
        assert "damaged: truncated or altered" in refusal(data[:cut])
    assert "no age-encryption.org/v1 header" in refusal(data[:10])


def test_an_altered_bundle_is_refused() -> None:
    data = bytearray(sealed())
    body = data.index(b"\n---") + 60  # a byte of the encrypted payload
    data[body] ^= 0x01
    assert "damaged: truncated or altered" in refusal(bytes(data))
    header = bytearray(sealed())
    header[30] ^= 0x01  # the recipient stanza: the file key no longer unwraps
    assert "not encrypted to the given identity" in refusal(bytes(header))


def test_a_bundle_for_another_key_is_refused() -> None:
    other = pyrage.x25519.Identity.generate()
    assert "not encrypted to the given identity" in refusal(sealed(), [other])


def test_what_is_not_a_bundle_is_refused() -> None:
    to = b.recipients([str(KEY.to_public())])
    assert "not JSON" in refusal(b.seal(b"hello", to))
    assert "format" in refusal(b.seal(json.dumps({"format": "something/else"}).encode(), to))
    assert "no age-encryption.org/v1 header" in refusal(b"apiVersion: v1\nkind: Secret\n")


def _doc() -> dict[str, Any]:
    return json.loads(b.encode(made()))


@pytest.mark.parametrize(("change", "words"), [
    (lambda d: d["secrets"][1]["data"].update(seed=base64.b64encode(b"5e" * 32).decode()),
     "the identity seed signs as"),
    (lambda d: d.update(secrets=[s for s in d["secrets"] if s["suffix"] != "encryption"]), "no encryption Secret"),
    (lambda d: d["spec"].update(baseKey="6f" * 32), "is not the recorded base key"),
    (lambda d: d.update(topic="another"), "topic string"),
    (lambda d: d.update(baseKey="not hex"), "baseKey"),
    (lambda d: d["spec"].update(replicas=3), "spec.replicas"),
    (lambda d: d["secrets"][0]["data"].update(key="%%%"), "not base64"),
])
def test_a_bundle_that_does_not_hold_together_is_refused(change: Any, words: str) -> None:
    doc = _doc()
    change(doc)
    message = refusal(b.seal(json.dumps(doc).encode(), b.recipients([str(KEY.to_public())])))
    assert "does not hold together" in message and words in message, message


def test_backup_is_refused_without_a_recorded_key_or_a_secret() -> None:
    topic = recorded_topic()
    del topic["status"]["baseKey"]
    with pytest.raises(BackupRefused, match="no recorded base key"):
        bundle_of(topic, topic_secrets(topic), NOW, "test")
    topic = recorded_topic()
    secrets = topic_secrets(topic)
    secrets[2]["metadata"]["ownerReferences"][0]["uid"] = "another-topic"
    with pytest.raises(BackupRefused, match="chat-encryption missing or not owned"):
        bundle_of(topic, secrets, NOW, "test")


def test_backup_carries_every_secret_the_topic_owns_by_its_name_and_uid() -> None:
    """A Secret the HA hosts add (`<name>-hosts`) goes with it; a look-alike of another topic
    (`chat-identity-member` of topic `chat-identity`) and an unowned `chat-notes` do not."""
    topic = recorded_topic()
    secrets = topic_secrets(topic)
    hosts = json.loads(json.dumps(secrets[1]))
    hosts["metadata"]["name"] = "chat-hosts"
    look_alike = json.loads(json.dumps(secrets[1]))
    look_alike["metadata"].update(name="chat-identity-member", ownerReferences=[{"uid": "other-uid"}])
    unowned = {"metadata": {"name": "chat-notes", "uid": "u"}, "data": {}}
    bundle = bundle_of(topic, [*secrets, hosts, look_alike, unowned], NOW, "test")
    assert [s.suffix for s in bundle.secrets] == ["encryption", "hosts", "identity", "member"]


def test_recipients_and_identities_of_age_and_ssh(tmp_path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "id")], check=True)
    ssh_public = (tmp_path / "id.pub").read_text().strip()
    (tmp_path / "age.txt").write_text(f"# created: now\n# public key: {KEY.to_public()}\n{KEY}\n")
    (tmp_path / "recipients").write_text(f"# the team\n{KEY.to_public()}\n\n{ssh_public}\n")
    to = b.recipients(b.recipients_file(tmp_path / "recipients"))
    data = b.seal(b.encode(made()), to)
    for identity in ("age.txt", "id"):  # either key opens it
        assert b.open_bundle(data, b.identities(tmp_path / identity)).baseKey == BASE
    with pytest.raises(b.BundleError, match="neither an age key"):
        b.recipients(["AGE-SECRET-KEY-1XYZ"])  # a private key given as recipient
    with pytest.raises(b.BundleError, match="no AGE-SECRET-KEY-1 line"):
        b.identities(tmp_path / "recipients")
    with pytest.raises(b.BundleError, match="no recipient"):
        b.recipients([])
