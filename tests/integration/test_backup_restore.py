"""`swarm-operator backup` and `restore` as a user runs them (the admin's kubeconfig, the CLI as a
process), against the real API server with the operator running: a topic's namespace is lost and the
topic comes back in another one on the same base, host identity and Secrets; the bundle opens with
Debian's `age`; damaged bundles and bundles for another topic are refused with one line, nothing
created; the opt-in backup check warns until a backup is made. The restored topic starts its host in
restore mode (the ConfigMap's `restore`, read as SWARM_RESTORE) until the host reported, then never again.

The test plays the kubelet (the host pod's status) and the host (a fake host signing with the
topic's identity seed), as the rest of tests/integration does."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakehost import FakeHost, host_pod_status
from integration_support import Api, Operator, example_topic, wait_for
from localcluster.controlplane import BIN, ControlPlane
from swarm_operator import names
from swarm_operator.identity import public_key_of

# Each test its own base key: a topic another test left behind is never "the same base".
LOST_KEY, COPY_KEY, AGE_KEY, FILL_KEY, UNDO_KEY = ("a1" * 32, "a2" * 32, "a3" * 32, "a4" * 32, "a5" * 32)
OTHER = "e7" * 32
LOST, FOUND = "lost-ns", "found-ns"


def cli(plane: ControlPlane, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "swarm_operator", *args, "--kubeconfig", str(plane.kubeconfig)],
                          capture_output=True, text=True, timeout=180)
    if check and proc.returncode != 0:
        raise AssertionError(f"swarm-operator {args[0]}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def age_key(tmp_path: Path) -> tuple[Path, str]:
    """A key made by Debian's age-keygen: the identity file and its public key."""
    key = tmp_path / "key.txt"
    subprocess.run([str(BIN / "age-keygen"), "-o", str(key)], check=True, capture_output=True)
    public = next(line.split(": ", 1)[1] for line in key.read_text().splitlines() if "public key:" in line)
    return key, public


def topic_path(ns: str, name: str = "") -> str:
    return f"/apis/{names.API_VERSION}/namespaces/{ns}/swarmtopics" + (f"/{name}" if name else "")


def secret_data(api: Api, ns: str, name: str) -> dict[str, str]:
    secret = api.get(f"/api/v1/namespaces/{ns}/secrets/{name}")
    assert secret is not None, f"no Secret {ns}/{name}"
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


def condition(api: Api, ns: str, name: str, ctype: str) -> dict[str, Any] | None:
    topic = api.get(topic_path(ns, name)) or {}
    return next((c for c in (topic.get("status") or {}).get("conditions", []) if c["type"] == ctype), None)


def wait_condition(api: Api, ns: str, name: str, ctype: str, status: str, reason: str | None = None,
                   timeout: float = 30) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        cond = condition(api, ns, name, ctype)
        return cond if cond and cond["status"] == status and reason in (None, cond["reason"]) else None
    return wait_for(f"{ns}/{name} {ctype}={status}/{reason}", probe, timeout)


def serve_host(api: Api, ns: str, name: str, host: FakeHost) -> None:
    """Play the kubelet: the host pod the StatefulSet controller made runs Ready on the fake host's IP."""
    pod = f"/api/v1/namespaces/{ns}/pods/{name}-host-0"
    wait_for(f"the host pod {ns}/{name}-host-0", lambda: api.get(pod), 30)
    api.merge(f"{pod}/status", {"status": host_pod_status(host.ip, True)})


RESTORE_ENV = {"name": "SWARM_RESTORE", "valueFrom": {"configMapKeyRef": {"name": "chat-swarm", "key": "restore",
                                                                            "optional": True}}}


def restore_mode(api: Api, ns: str) -> tuple[str | None, dict[str, Any] | None]:
    """The ConfigMap's `restore` key, and the host container's SWARM_RESTORE entry."""
    cm = api.get(f"/api/v1/namespaces/{ns}/configmaps/chat-swarm") or {}
    sts = api.get(f"/apis/apps/v1/namespaces/{ns}/statefulsets/chat-host") or {}
    containers = (((sts.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or [{}]
    env = next((e for e in containers[0].get("env") or [] if e["name"] == "SWARM_RESTORE"), None)
    return (cm.get("data") or {}).get("restore"), env


def make_namespace(api: Api, ns: str) -> None:
    if api.get(f"/api/v1/namespaces/{ns}") is None:
        api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})


def delete_namespace(api: Api, ns: str, wait: bool) -> None:
    if api.get(f"/api/v1/namespaces/{ns}") is not None:
        api.delete(f"/api/v1/namespaces/{ns}")
    if wait:
        wait_for(f"namespace {ns} gone", lambda: api.get(f"/api/v1/namespaces/{ns}") is None or None, 90)


@pytest.fixture
def namespaces(api: Api) -> Iterator[None]:
    """The lost and the found namespace, removed after the test (whatever it left)."""
    for ns in (LOST, FOUND):
        delete_namespace(api, ns, wait=True)
    yield
    for ns in (LOST, FOUND):
        delete_namespace(api, ns, wait=False)
    for ns in (LOST, FOUND):
        delete_namespace(api, ns, wait=True)


@pytest.fixture
def checking_operator(operator_kubeconfig_path: Path, api: Api, tmp_path: Path) -> Iterator[Operator]:
    """The operator with the opt-in backup check on."""
    op = Operator(str(operator_kubeconfig_path), tmp_path / "operator.log", "--metrics-port", "0",
                  "--liveness-port", "0", "--backup-check")
    op.start()
    try:
        yield op
    finally:
        op.stop()
        print(op.log()[-4000:])


def bootstrap(api: Api, ns: str, base_key: str, name: str = "chat") -> tuple[FakeHost, str]:
    """A topic without clients (so it can be Ready with no kubelet) whose host recorded `base_key`."""
    topic = example_topic(name, clients=0)
    topic["metadata"]["namespace"] = ns
    api.create(topic_path(ns), topic)
    seed = wait_for("the identity seed", lambda: secret_data(api, ns, f"{name}-identity").get("seed")
                    if api.get(f"/api/v1/namespaces/{ns}/secrets/{name}-identity") else None, 60)
    host = FakeHost(seed, name, base_key).__enter__()
    serve_host(api, ns, name, host)
    wait_condition(api, ns, name, "Ready", "True", timeout=60)
    return host, seed


def test_a_lost_namespace_comes_back_on_the_same_base_identity_and_secrets(
        api: Api, api_server: ControlPlane, checking_operator: Operator, namespaces: None, tmp_path: Path) -> None:
    make_namespace(api, LOST)
    base = LOST_KEY
    host, seed = bootstrap(api, LOST, base)
    try:
        assert restore_mode(api, LOST) == (None, None)  # a topic never restored: neither key nor reference
        original = {s: secret_data(api, LOST, f"chat-{s}") for s in ("identity", "member", "encryption")}
        never = wait_condition(api, LOST, "chat", "CredentialsBackedUp", "False", "NeverBackedUp")
        assert "swarm-operator backup lost-ns/chat" in never["message"]
        assert condition(api, LOST, "chat", "Ready")["status"] == "True"  # a reminder, not a failure
        key, public = age_key(tmp_path)
        bundle = tmp_path / "chat.age"
        line = cli(api_server, "backup", f"{LOST}/chat", "--recipient", public, "-o", str(bundle)).stdout
        assert f"base {base[:12]}, 3 Secrets" in line and "sha256" in line, line
        for data in original.values():  # the file holds no credential in the clear
            assert all(value.encode() not in bundle.read_bytes() for value in data.values())
        wait_condition(api, LOST, "chat", "CredentialsBackedUp", "True", "BackedUp")
        warnings = [e for e in api.items(f"/api/v1/namespaces/{LOST}/events") if e["reason"] == "NeverBackedUp"]
        assert len(warnings) == 1 and warnings[0]["type"] == "Warning"
    finally:
        host.__exit__()

    delete_namespace(api, LOST, wait=True)  # the namespace and everything in it, lost
    started = time.monotonic()
    restore = subprocess.Popen([sys.executable, "-m", "swarm_operator", "restore", str(bundle), "--identity", str(key),
                                "-n", FOUND, "--create-namespace", "--wait", "--timeout", "60",
                                "--kubeconfig", str(api_server.kubeconfig)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    restored_seed = wait_for("the restored identity", lambda: secret_data(api, FOUND, "chat-identity").get("seed")
                             if api.get(f"/api/v1/namespaces/{FOUND}/secrets/chat-identity") else None, 120)
    assert restored_seed == seed
    # Restore mode: the ConfigMap says restore before the host pod exists, the pod reads it.
    wait_for("the restored topic's StatefulSet", lambda: api.get(f"/apis/apps/v1/namespaces/{FOUND}/statefulsets/"
                                                                   "chat-host"), 60)
    assert restore_mode(api, FOUND) == ("true", RESTORE_ENV)
    generation = api.get(f"/apis/apps/v1/namespaces/{FOUND}/statefulsets/chat-host")["metadata"]["generation"]
    with FakeHost(restored_seed, "chat", base) as new_host:
        new_host.seat = {"restored": True, "restore": {"restored": True, "why": None}}  # took its key back
        serve_host(api, FOUND, "chat", new_host)
        out, err = restore.communicate(timeout=90)
        # Every host reported: the key says "false", the reference stays, no host restarts, one event.
        wait_for("restore mode off", lambda: restore_mode(api, FOUND)[0] == "false" or None, 30)
    assert restore_mode(api, FOUND) == ("false", RESTORE_ENV)
    assert api.get(f"/apis/apps/v1/namespaces/{FOUND}/statefulsets/chat-host")["metadata"]["generation"] == generation
    finished = (api.get(topic_path(FOUND, "chat")) or {})["status"]["restore"]
    assert finished["restoredHosts"] == [0] and finished["finishedAt"] and finished["source"].startswith(f"{LOST}/chat")
    events = [e for e in api.items(f"/api/v1/namespaces/{FOUND}/events") if e["reason"] == "RestoreFinished"]
    assert len(events) == 1 and "host 0 took back its writer key" in events[0]["message"], events
    assert restore.returncode == 0, f"{out}\n{err}"
    print(f"\n{out.strip()}\nrestore to Ready: {time.monotonic() - started:.1f} s (the test's kubelet included)")
    assert f"restored SwarmTopic {FOUND}/chat on base {base[:12]}" in out and f"{FOUND}/chat Ready on base" in out, out
    topic = api.get(topic_path(FOUND, "chat"))
    assert topic is not None
    status, spec = topic["status"], topic["spec"]
    assert (status["baseKey"], status["hostPublicKey"]) == (base, public_key_of(seed))
    assert (spec["baseKey"], spec["topic"], spec["paused"]) == (base, "chat", False)
    for suffix, data in original.items():  # the operator kept them: its own, not a NameConflict
        assert secret_data(api, FOUND, f"chat-{suffix}") == data, suffix
        secret = api.get(f"/api/v1/namespaces/{FOUND}/secrets/chat-{suffix}")
        assert secret is not None
        controller = [r for r in secret["metadata"]["ownerReferences"] if r.get("controller")]
        assert [r["uid"] for r in controller] == [topic["metadata"]["uid"]], suffix
    assert condition(api, FOUND, "chat", "CredentialsBackedUp")["reason"] == "BackedUp"


def test_the_bundle_opens_with_debians_age(api: Api, api_server: ControlPlane, operator: Operator,
                                            tmp_path: Path) -> None:
    host, seed = bootstrap(api, "apps", AGE_KEY)
    try:
        key, public = age_key(tmp_path)
        bundle = tmp_path / "chat.age"
        cli(api_server, "backup", "apps/chat", "-r", public, "-o", str(bundle))
    finally:
        host.__exit__()
    opened = subprocess.run([str(BIN / "age"), "--decrypt", "-i", str(key), str(bundle)], capture_output=True,
                            check=True)
    doc = json.loads(opened.stdout)
    assert doc["format"] == "swarm-operator.dev/backup/v1" and doc["baseKey"] == AGE_KEY
    identity = next(s for s in doc["secrets"] if s["suffix"] == "identity")
    assert base64.b64decode(identity["data"]["seed"]).decode() == seed
    assert doc["hostPublicKeys"] == [public_key_of(seed)]


def _children(api: Api, ns: str) -> dict[str, Any]:
    """Every SwarmTopic (its uid, spec generation and annotations: the operator writes its status
    meanwhile) and Secret (its uid and data) of the namespace."""
    out: dict[str, Any] = {f"SwarmTopic/{t['metadata']['name']}": (t["metadata"]["uid"], t["metadata"]["generation"],
                                                                    t["metadata"].get("annotations"))
                           for t in api.items(topic_path(ns))}
    out.update({f"Secret/{s['metadata']['name']}": (s["metadata"]["uid"], s.get("data"))
                for s in api.items(f"/api/v1/namespaces/{ns}/secrets")})
    return out


def test_damaged_or_foreign_bundles_are_refused_with_one_line_and_nothing_created(
        api: Api, api_server: ControlPlane, operator: Operator, tmp_path: Path) -> None:
    host, _ = bootstrap(api, "apps", COPY_KEY)
    try:
        key, public = age_key(tmp_path)
        good = tmp_path / "chat.age"
        cli(api_server, "backup", "apps/chat", "-r", public, "-o", str(good))
    finally:
        host.__exit__()
    other = example_topic("other", clients=0, baseKey=OTHER)  # a topic of another base
    api.create(topic_path("apps"), other)
    wait_for("the other topic's Secrets", lambda: api.get("/api/v1/namespaces/apps/secrets/other-encryption"), 30)
    data = good.read_bytes()
    tampered = bytearray(data)
    tampered[data.index(b"\n---") + 60] ^= 0x01
    (tmp_path / "stranger").mkdir()
    stranger, _ = age_key(tmp_path / "stranger")
    cases = {
        "truncated": (data[: len(data) - 20], key, ["--name", "copy"], "damaged: truncated or altered"),
        "tampered": (bytes(tampered), key, ["--name", "copy"], "damaged: truncated or altered"),
        "another key": (data, stranger, ["--name", "copy"], "not encrypted to the given identity"),
        "another base": (data, key, ["--name", "other"], f"SwarmTopic apps/other exists on base {OTHER}"),
        "the same base twice": (data, key, ["-n", "apps", "--name", "copy"],
                                "already the base of SwarmTopic apps/chat"),
    }
    before = _children(api, "apps")
    for what, (content, identity, target, words) in cases.items():
        bundle = tmp_path / f"{what}.age"
        bundle.write_bytes(content)
        proc = cli(api_server, "restore", str(bundle), "--identity", str(identity), *target, check=False)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], \
            f"{what}: {proc.stderr}"
        assert proc.stdout == "", what
    time.sleep(1.0)  # anything created would have been seen by now
    assert _children(api, "apps") == before
    assert api.get(topic_path("apps", "copy")) is None


def test_a_deleted_secret_is_put_back_into_its_live_topic(api: Api, api_server: ControlPlane, operator: Operator,
                                                          tmp_path: Path) -> None:
    """The restore into a topic of the same base restores only what is missing (the runbook for a
    deleted encryption Secret: pause, restore, resume)."""
    host, _ = bootstrap(api, "apps", FILL_KEY)
    try:
        key, public = age_key(tmp_path)
        bundle = tmp_path / "chat.age"
        cli(api_server, "backup", "apps/chat", "-r", public, "-o", str(bundle))
        before = secret_data(api, "apps", "chat-encryption")
        api.merge(topic_path("apps", "chat"), {"spec": {"paused": True}})
        wait_for("Paused", lambda: (api.get(topic_path("apps", "chat")) or {}).get("status", {}).get("phase")
                 == "Paused" or None)
        api.delete("/api/v1/namespaces/apps/secrets/chat-encryption")
        out = cli(api_server, "restore", str(bundle), "--identity", str(key)).stdout
        assert "its missing Secrets" in out and "Secrets created: chat-encryption" in out, out
        assert "kept chat-identity, chat-member" in out, out
        assert secret_data(api, "apps", "chat-encryption") == before
        assert api.get(topic_path("apps", "chat"))["spec"]["paused"] is True  # left as it was
    finally:
        host.__exit__()


def _user_kubeconfig(plane: ControlPlane, tmp_path: Path, user: str, role: dict[str, Any] | None) -> Path:
    """A ServiceAccount `user` of `apps` bound there to `role` (rules of a Role of its own), or to the
    built-in `edit` ClusterRole when None; its kubeconfig."""
    from localcluster.testing import kubectl

    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role" if role else "ClusterRole",
           "name": user if role else "edit"}
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": user, "namespace": "apps"}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": user, "namespace": "apps"}, "roleRef": ref,
         "subjects": [{"kind": "ServiceAccount", "name": user, "namespace": "apps"}]}]
    if role:
        objects.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                        "metadata": {"name": user, "namespace": "apps"}, "rules": role["rules"]})
    kubectl(plane.kubeconfig, "apply", "-f", "-", input="\n---\n".join(json.dumps(o) for o in objects))
    token = kubectl(plane.kubeconfig, "create", "token", user, "-n", "apps", "--duration=1h").strip()
    path = tmp_path / f"{user}.kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": user,
        "clusters": [{"name": "local", "cluster": {"server": plane.server,
                                                    "certificate-authority": str(plane.pki.ca_crt)}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": "local", "user": user}}]}))
    return path


# May create and delete SwarmTopics and read Secrets, but not create them: a restore that gets half way.
HALF_WAY = {"rules": [{"apiGroups": [names.GROUP], "resources": ["swarmtopics"],
                       "verbs": ["get", "list", "create", "patch", "delete"]},
                      {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}


def _restore_as(kubeconfig: Path, bundle: Path, key: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "swarm_operator", "restore", str(bundle), "-i", str(key),
                           "--kubeconfig", str(kubeconfig)], capture_output=True, text=True, timeout=120)


def test_a_restore_that_fails_half_way_is_undone_and_an_editor_restores(
        api: Api, api_server: ControlPlane, operator: Operator, tmp_path: Path) -> None:
    """A user who may not create Secrets gets the topic created, then undone; a user with the
    namespace's built-in `edit` role (the chart aggregates the SwarmTopic rules into it) restores."""
    host, _ = bootstrap(api, "apps", UNDO_KEY)
    try:
        key, public = age_key(tmp_path)
        bundle = tmp_path / "chat.age"
        cli(api_server, "backup", "apps/chat", "-r", public, "-o", str(bundle))
        seed = secret_data(api, "apps", "chat-identity")["seed"]
    finally:
        host.__exit__()
    api.delete(topic_path("apps", "chat"))
    api.delete("/api/v1/namespaces/apps/persistentvolumeclaims/data-chat-host-0")  # the key kept with it goes too
    wait_for("the topic and its Secrets gone", lambda: (not any(
        api.get(f"/api/v1/namespaces/apps/secrets/chat-{s}") for s in ("identity", "member", "encryption"))
        and api.get(topic_path("apps", "chat")) is None) or None, 60)
    proc = _restore_as(_user_kubeconfig(api_server, tmp_path, "halfway", HALF_WAY), bundle, key)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1 and last.startswith("error: restoring apps/chat failed: 403"), proc.stderr
    assert last.endswith("undone, nothing left"), last
    wait_for("the created topic deleted", lambda: api.get(topic_path("apps", "chat")) is None or None, 30)
    assert [s["metadata"]["name"] for s in api.items("/api/v1/namespaces/apps/secrets")
            if s["metadata"]["name"].startswith("chat-")] == []

    proc = _restore_as(_user_kubeconfig(api_server, tmp_path, "editor", None), bundle, key)
    assert proc.returncode == 0 and "restored SwarmTopic apps/chat" in proc.stdout, proc.stderr
    assert secret_data(api, "apps", "chat-identity")["seed"] == seed
    uid = api.topic("apps", "chat")["metadata"]["uid"]
    for suffix in ("identity", "member", "encryption"):
        secret = api.get(f"/api/v1/namespaces/apps/secrets/chat-{suffix}")
        assert secret is not None and [r["uid"] for r in secret["metadata"]["ownerReferences"]
                                       if r.get("controller")] == [uid], suffix
