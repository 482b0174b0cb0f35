"""Every manifest the operator emits is valid for Kubernetes 1.35 (strict) and honours the contracts."""

from __future__ import annotations

import kubernetes_validate
import pytest
from swarm_operator import children as builders
from swarm_operator import names
from swarm_operator.children import Inputs
from swarm_operator.models import SwarmTopicSpec
from swarm_operator.reconciler.events import event_body
from unit_support import make_topic, qos_class

K8S = "1.35.0"
PUB = "ab" * 32
KEY = "cd" * 32


def children(topic):
    spec = SwarmTopicSpec.model_validate(topic["spec"])
    return [
        builders.identity_secret(topic, "01" * 32),
        builders.member_secret(topic, "02" * 32, "0123456789abcdef"),
        builders.encryption_secret(topic, "03" * 32),
        builders.swarm_configmap(Inputs(topic, spec, "img", PUB, KEY)),
        builders.host_service(Inputs(topic, spec, "img", PUB)),
        builders.host_statefulset(Inputs(topic, spec, "ghcr.io/swarm-operator/swarm-peer:0.1.0", PUB)),
        *[builders.client_deployment(Inputs(topic, spec, "img", PUB), g, g.replicas) for g in spec.clients],
        event_body(topic, "Warning", "InvalidSpec", "spec.clients.0.replicas: too small"),
    ]


@pytest.mark.parametrize("index", range(8))
def test_every_child_is_valid_kubernetes_1_35_strict(index: int) -> None:
    topic = make_topic()
    topic["spec"]["bootstrapHost"]["template"] = {"metadata": {"labels": {"team": "a"}},
                                                  "spec": {"tolerations": [{"operator": "Exists"}]}}
    topic["spec"]["bootstrapHost"]["storage"]["storageClassName"] = "fast"
    objs = children(topic)
    assert len(objs) == 8
    kubernetes_validate.validate(objs[index], K8S, strict=True)


def _env(container):
    return {e["name"]: e for e in container["env"]}


def test_host_statefulset_follows_the_host_contract() -> None:
    topic = make_topic()
    spec = SwarmTopicSpec.model_validate(topic["spec"])
    sts = builders.host_statefulset(Inputs(topic, spec, "img", PUB))
    pod = sts["spec"]["template"]
    container = pod["spec"]["containers"][0]
    env = _env(container)
    assert sts["spec"]["replicas"] == 1
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "status"}
    assert env["SWARM_TOPIC"]["value"] == "chat"
    assert env["SWARM_DATA_DIR"]["value"] == "/data"
    assert env["SWARM_IDENTITY_SEED_FILE"]["value"] == "/var/run/swarm/identity/seed"
    assert env["SWARM_DHT_BOOTSTRAP"]["value"] == "swarm-dht-0.swarm-dht.default.svc:49737"
    assert env["SWARM_DHT_HOST"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    # The key reaches the host from the ConfigMap, optional: no restart when it is recorded.
    assert env["SWARM_BASE_KEY"]["valueFrom"]["configMapKeyRef"] == {
        "name": "chat-swarm", "key": "baseKey", "optional": True}
    assert pod["metadata"]["annotations"][builders.ANNOTATION_HOST_PUBLIC_KEY] == PUB
    assert sts["metadata"]["ownerReferences"][0]["uid"] == topic["metadata"]["uid"]
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == names.DATA_VOLUME


def test_retain_on_delete_false_lets_the_volume_go_with_the_topic() -> None:
    topic = make_topic()
    topic["spec"]["bootstrapHost"]["storage"]["retainOnDelete"] = False
    spec = SwarmTopicSpec.model_validate(topic["spec"])
    sts = builders.host_statefulset(Inputs(topic, spec, "img", PUB))
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Delete"


def test_client_env_overrides_the_template_and_pins_the_host() -> None:
    topic = make_topic()
    topic["spec"]["clients"][0]["template"]["spec"]["containers"][0]["env"].append(
        {"name": "SWARM_BASE_KEY", "value": "ee" * 32})
    topic["spec"]["clients"][0]["template"]["spec"]["initContainers"] = [{"name": "init", "image": "busybox"}]
    spec = SwarmTopicSpec.model_validate(topic["spec"])
    dep = builders.client_deployment(Inputs(topic, spec, "img", PUB), spec.clients[0], 5)
    pod_spec = dep["spec"]["template"]["spec"]
    for container in pod_spec["containers"] + pod_spec["initContainers"]:
        env = _env(container)
        assert env["SWARM_REQUIRE_BOOTSTRAP"]["value"] == "true"
        assert env["SWARM_BASE_KEY"]["valueFrom"]["configMapKeyRef"]["optional"] is False
        assert env["SWARM_HOST_PUBLIC_KEY"]["valueFrom"]["configMapKeyRef"]["key"] == "hostPublicKey"
        assert [e["name"] for e in container["env"]].count("SWARM_BASE_KEY") == 1
    assert _env(pod_spec["containers"][0])["SWARM_DATA_DIR"]["value"] == "/data"  # the user's own env kept
    assert dep["spec"]["selector"]["matchLabels"] == {"swarm-operator.dev/topic": "chat",
                                                       "swarm-operator.dev/client": "kv"}
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert all(labels[k] == v for k, v in dep["spec"]["selector"]["matchLabels"].items())


def test_spec_hash_is_stable_and_sensitive() -> None:
    topic = make_topic()
    spec = SwarmTopicSpec.model_validate(topic["spec"])
    a = builders.client_deployment(Inputs(topic, spec, "img", PUB), spec.clients[0], 5)
    b = builders.client_deployment(Inputs(topic, spec, "img", PUB), spec.clients[0], 5)
    c = builders.client_deployment(Inputs(topic, spec, "img", PUB), spec.clients[0], 6)
    key = names.ANNOTATION_SPEC_HASH
    assert a["metadata"]["annotations"][key] == b["metadata"]["annotations"][key]
    assert a["metadata"]["annotations"][key] != c["metadata"]["annotations"][key]


def test_configmap_has_the_key_only_once_known() -> None:
    topic = make_topic()
    spec = SwarmTopicSpec.model_validate(topic["spec"])
    assert "baseKey" not in builders.swarm_configmap(Inputs(topic, spec, "img", PUB, None))["data"]
    assert builders.swarm_configmap(Inputs(topic, spec, "img", PUB, KEY))["data"]["baseKey"] == KEY


def _mounts(container):
    return {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}


def _secret_volumes(pod_spec):
    return {v["name"]: v["secret"]["secretName"] for v in pod_spec.get("volumes", []) if "secret" in v}


def test_host_gets_all_three_secrets_as_files_and_the_policy() -> None:
    topic = make_topic()
    spec = SwarmTopicSpec.model_validate(topic["spec"])
    pod_spec = builders.host_statefulset(Inputs(topic, spec, "img", PUB))["spec"]["template"]["spec"]
    container = pod_spec["containers"][0]
    env = _env(container)
    assert env["SWARM_MEMBER_SEED_FILE"]["value"] == "/var/run/swarm/member/invite-seed"
    assert env["SWARM_ENCRYPTION_KEY_FILE"]["value"] == "/var/run/swarm/encryption/key"
    assert env["SWARM_WRITERS_POLICY"]["value"] == "Clients"
    volumes = _secret_volumes(pod_spec)
    mounts = _mounts(container)
    assert volumes[mounts["/var/run/swarm/identity"]] == "chat-identity"
    assert volumes[mounts["/var/run/swarm/member"]] == "chat-member"
    assert volumes[mounts["/var/run/swarm/encryption"]] == "chat-encryption"
    # No Secret value is ever in an env value.
    assert all("valueFrom" in e or len(e["value"]) < 64 for e in container["env"])


@pytest.mark.parametrize(("policy", "member"), [("Clients", True), ("HostOnly", False), ("Open", True)])
def test_clients_get_the_member_secret_per_policy_and_never_the_identity(policy: str, member: bool) -> None:
    topic = make_topic()
    topic["spec"]["writers"] = {"policy": policy}
    spec = SwarmTopicSpec.model_validate(topic["spec"])
    dep = builders.client_deployment(Inputs(topic, spec, "img", PUB), spec.clients[0], 5)
    pod_spec = dep["spec"]["template"]["spec"]
    volumes = _secret_volumes(pod_spec)
    assert "chat-identity" not in volumes.values()
    assert ("chat-member" in volumes.values()) is member
    assert "chat-encryption" in volumes.values()
    # Readable by whatever non-root user the template runs as (no fsGroup needed).
    assert {v["secret"]["defaultMode"] for v in pod_spec["volumes"] if "secret" in v} == {0o444}
    for container in pod_spec["containers"]:
        env = _env(container)
        assert env["SWARM_WRITERS_POLICY"]["value"] == policy
        assert ("SWARM_MEMBER_SEED_FILE" in env) is member
        assert env["SWARM_ENCRYPTION_KEY_FILE"]["value"] == "/var/run/swarm/encryption/key"
        assert "/var/run/swarm/encryption" in _mounts(container)
    kubernetes_validate.validate(dep, K8S, strict=True)


def test_clients_without_a_security_context_get_the_restricted_profile() -> None:
    topic = make_topic()
    template = topic["spec"]["clients"][0]["template"]["spec"]
    del template["securityContext"]
    del template["containers"][0]["securityContext"]
    spec = SwarmTopicSpec.model_validate(topic["spec"])
    pod_spec = builders.client_deployment(Inputs(topic, spec, "img", PUB), spec.clients[0], 5)["spec"]["template"][
        "spec"]
    assert pod_spec["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert pod_spec["containers"][0]["securityContext"] == {"allowPrivilegeEscalation": False,
                                                            "capabilities": {"drop": ["ALL"]}}
    # A template that sets its own keeps it.
    kept = SwarmTopicSpec.model_validate(make_topic()["spec"])
    own = builders.client_deployment(Inputs(topic, kept, "img", PUB), kept.clients[0], 5)["spec"]["template"]["spec"]
    assert own["securityContext"]["runAsUser"] == 10001


def test_unset_replicas_leave_the_field_to_others() -> None:
    topic = make_topic()
    del topic["spec"]["clients"][0]["replicas"]
    spec = SwarmTopicSpec.model_validate(topic["spec"])
    assert spec.clients[0].replicas is None and spec.clients[0].start_replicas() == 1
    dep = builders.client_deployment(Inputs(topic, spec, "img", PUB), spec.clients[0], spec.clients[0].replicas)
    assert "replicas" not in dep["spec"]


def test_the_writer_idle_time_reaches_the_host_only() -> None:
    from swarm_operator.children.deployment import client_env
    from swarm_operator.children.statefulset import host_env
    from swarm_operator.validation import parse_spec
    from unit_support import make_topic

    topic = make_topic()
    topic["spec"]["writers"] = {"policy": "Clients", "idleSeconds": 120}
    spec = parse_spec(topic)[0]
    assert spec is not None
    env = {e["name"]: e.get("value") for e in host_env("chat", spec)}
    assert env["SWARM_WRITER_IDLE_MS"] == "120000"
    assert "SWARM_WRITER_IDLE_MS" not in {e["name"] for e in client_env("chat", spec)}
    topic["spec"]["writers"] = {"policy": "Clients"}
    assert "SWARM_WRITER_IDLE_MS" not in {e["name"] for e in host_env("chat", parse_spec(topic)[0])}
    topic["spec"]["writers"] = {"idleSeconds": 0}
    assert parse_spec(topic)[0] is None


def _host_pod_spec(topic):
    spec = SwarmTopicSpec.model_validate(topic["spec"])
    return builders.host_statefulset(Inputs(topic, spec, "img", PUB))["spec"]["template"]["spec"]


def test_the_qos_helper_computes_like_the_kubelet() -> None:
    def pod(*resources):
        return {"containers": [{"name": f"c{i}", "resources": r} for i, r in enumerate(resources)]}
    assert qos_class(pod({})) == "BestEffort"
    assert qos_class(pod({"limits": {"ephemeral-storage": "1Gi"}})) == "BestEffort"  # not a QoS resource
    assert qos_class(pod({"requests": {"cpu": "10m"}})) == "Burstable"
    assert qos_class(pod({"limits": {"cpu": "1", "memory": "1Gi"}})) == "Guaranteed"  # requests default to limits
    assert qos_class(pod({"limits": {"cpu": "1", "memory": "1Gi"}}, {})) == "Burstable"
    assert qos_class(pod({"requests": {"cpu": "500m"}, "limits": {"cpu": "1", "memory": "1Gi"}})) == "Burstable"


@pytest.mark.parametrize("resources", [
    {},  # the default: requests and a memory limit
    {"limits": {"ephemeral-storage": "1Gi"}},  # names neither cpu nor memory
    {"claims": [{"name": "gpu"}]},
])
def test_a_host_with_no_cpu_or_memory_resources_gets_the_defaults_and_is_burstable(resources) -> None:
    """On the old code the host container took spec.bootstrapHost.resources as it was: {} made the host
    (which holds the base) BestEffort, the first pod evicted under memory pressure."""
    from swarm_operator.config import HOST_RESOURCES

    topic = make_topic()
    topic["spec"]["bootstrapHost"]["resources"] = resources
    pod_spec = _host_pod_spec(topic)
    got = pod_spec["containers"][0]["resources"]
    assert got["requests"] == {**resources.get("requests", {}), **HOST_RESOURCES["requests"]}
    assert got["limits"] == {**resources.get("limits", {}), **HOST_RESOURCES["limits"]}
    assert qos_class(pod_spec) == "Burstable"


@pytest.mark.parametrize(("resources", "qos"), [
    ({"limits": {"memory": "100Mi"}}, "Burstable"),  # below the default request: no default request added
    ({"requests": {"memory": "1Gi"}}, "Burstable"),  # no default limit under the user's request either
    ({"requests": {"cpu": "10m"}}, "Burstable"),
    ({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}, "Guaranteed"),
])
def test_what_the_spec_names_of_cpu_or_memory_is_kept_whole(resources, qos) -> None:
    """Per resource, all the user's or all the default: a default request never exceeds the user's limit."""
    from swarm_operator.config import HOST_RESOURCES

    topic = make_topic()
    topic["spec"]["bootstrapHost"]["resources"] = resources
    pod_spec = _host_pod_spec(topic)
    got = pod_spec["containers"][0]["resources"]
    for resource in ("cpu", "memory"):
        named = any(resource in resources.get(part, {}) for part in ("requests", "limits"))
        for part in ("requests", "limits"):
            expected = (resources.get(part, {}) if named else HOST_RESOURCES.get(part, {})).get(resource)
            assert got.get(part, {}).get(resource) == expected, (resource, part)
    assert qos_class(pod_spec) == qos
    kubernetes_validate.validate(builders.host_statefulset(
        Inputs(topic, SwarmTopicSpec.model_validate(topic["spec"]), "img", PUB)), K8S, strict=True)


def test_peer_pods_mount_no_service_account_token_unless_a_client_template_asks() -> None:
    """The peers never call the API server (on the old code both pods mounted the token)."""
    topic = make_topic()
    # A host template cannot ask for one: the host holds the base, the operator's fields win.
    topic["spec"]["bootstrapHost"]["template"] = {"spec": {"automountServiceAccountToken": True}}
    assert _host_pod_spec(topic)["automountServiceAccountToken"] is False
    spec = SwarmTopicSpec.model_validate(topic["spec"])
    client = builders.client_deployment(Inputs(topic, spec, "img", PUB), spec.clients[0], 1)
    assert client["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    topic["spec"]["clients"][0]["template"]["spec"]["automountServiceAccountToken"] = True
    spec = SwarmTopicSpec.model_validate(topic["spec"])
    asking = builders.client_deployment(Inputs(topic, spec, "img", PUB), spec.clients[0], 1)
    assert asking["spec"]["template"]["spec"]["automountServiceAccountToken"] is True
