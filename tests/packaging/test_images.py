"""The images, really built and run: scripts/build-images.sh builds both with podman from their
Dockerfiles (on look-alike bases made from Debian's packages, cached), and the containers run under
the security contexts Kubernetes would give them: the chart's for the operator, the operator's pod
templates' for swarm-peer (runAsUser, readOnlyRootFilesystem, drop ALL, no privilege escalation).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from localcluster.testing import (
    OPERATOR_NAMESPACE,
    OPERATOR_SA,
    OPERATOR_USER,
    PODMAN_GATEWAY,
    audit_events,
    kubectl,
    shared_control_plane,
)
from packaging_support import CHART, REPO, tool
from swarm_operator import names
from swarm_operator.children import pods as manifests
from swarm_operator.config import DEFAULT_PEER_IMAGE

pytestmark = [
    pytest.mark.skipif(shutil.which("podman") is None,
                       reason="podman is not installed (scripts/setup-podman.sh installs it)"),
    pytest.mark.timeout(1200),  # a cold build (debootstrap, PyPI, npm) takes minutes
]
BUILD = REPO / "scripts" / "build-images.sh"
ENV = {**os.environ, "CONTAINERS_CONF": os.environ.get(
    "CONTAINERS_CONF", str(REPO / "scripts" / "containers" / "containers.conf"))}
T = TypeVar("T")


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, env=ENV, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"podman {' '.join(args[:3])}: exit {proc.returncode}\n{proc.stderr}")
    return proc


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
            if last:
                return last
        except (OSError, urllib.error.URLError) as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as rsp:
            return rsp.status, rsp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


# -- building --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    """tag -> Dockerfile of every image the script builds; builds them (cached) and prints sizes."""
    proc = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True, env=ENV, timeout=1500)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    listing = subprocess.run(["bash", str(BUILD), "--list"], capture_output=True, text=True, env=ENV,
                             check=True).stdout
    print(listing)
    table = {}
    for line in listing.splitlines()[1:]:
        tag, dockerfile, _context, *size = line.split()
        assert size and size[0] != "no", f"{tag} was not built"
        table[tag] = dockerfile
    return table


def _chart_values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def _app_version() -> str:
    return str(yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"])


def operator_tag() -> str:
    return f"{_chart_values()['image']['repository']}:{_app_version()}"


def peer_tag() -> str:
    return f"{_chart_values()['peerImage']['repository']}:{_app_version()}"


def test_the_images_are_tagged_as_the_chart_and_the_operator_name_them(images: dict[str, str]) -> None:
    assert images.get(operator_tag()) == "images/operator/Dockerfile", images
    assert images.get(peer_tag()) == "images/swarm-peer/Dockerfile", images
    assert DEFAULT_PEER_IMAGE == peer_tag()  # a topic without bootstrapHost.image runs this build
    for tag in images:  # each carries the hash it was built from: the next run skips it
        label = podman("image", "inspect", "--format", '{{index .Labels "io.swarm-operator.build-hash"}}',
                       tag).stdout.strip()
        assert re.fullmatch(r"[0-9a-f]{64}", label), (tag, label)


def test_a_second_run_builds_nothing(images: dict[str, str]) -> None:
    before = {tag: podman("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip() for tag in images}
    proc = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "STEP " not in proc.stdout and "debootstrap" not in proc.stdout, proc.stdout
    after = {tag: podman("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip() for tag in images}
    assert after == before


def test_the_build_time_ca_settings_stay_out_of_the_images(images: dict[str, str]) -> None:
    # The CA bundle and npmrc are mounted for the RUN steps only (over /usr/local/etc, which stays
    # empty, and over the base's own CA bundle): no build-time setting is left behind.
    for tag in images:
        left = podman("run", "--rm", "--entrypoint", "/bin/sh", tag, "-c",
                      "ls -A /usr/local/etc; ls /etc/pip.conf /root/.npmrc 2>/dev/null; true").stdout
        assert left.strip() == "", (tag, left)


# -- running under a Kubernetes security context -----------------------------------------------

POD_KEYS = {"runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup", "seccompProfile"}
CONTAINER_KEYS = {"runAsNonRoot", "runAsUser", "runAsGroup", "seccompProfile", "allowPrivilegeEscalation",
                  "readOnlyRootFilesystem", "capabilities", "privileged"}


def security_args(image: str, pod: dict[str, Any], container: dict[str, Any]) -> list[str]:
    """The podman flags of what a kubelet does with these securityContexts; a setting this does not
    know fails the test rather than being silently ignored."""
    assert not set(pod) - POD_KEYS and not set(container) - CONTAINER_KEYS, (pod, container)
    merged = {**pod, **container}
    user = merged.get("runAsUser")
    if user is None:
        user = podman("image", "inspect", "--format", "{{.Config.User}}", image).stdout.strip().split(":")[0]
    if merged.get("runAsNonRoot"):  # the kubelet refuses to start a root (or non-numeric) user
        assert str(user).isdigit() and int(user) != 0, f"{image}: runAsNonRoot with user {user!r}"
    args = ["--user", f"{user}:{merged['runAsGroup']}" if "runAsGroup" in merged else str(user),
            "--passwd=false"]  # as containerd and CRI-O: no /etc/passwd entry made up for the UID
    if "fsGroup" in pod:
        args += ["--group-add", str(pod["fsGroup"])]
    if merged.get("readOnlyRootFilesystem"):
        args += ["--read-only", "--read-only-tmpfs=false"]  # a kubelet adds no writable /tmp
    for cap in (merged.get("capabilities") or {}).get("drop", []):
        args += ["--cap-drop", cap]
    for cap in (merged.get("capabilities") or {}).get("add", []):
        args += ["--cap-add", cap]
    if merged.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    assert not merged.get("privileged")
    seccomp = (merged.get("seccompProfile") or {}).get("type", "RuntimeDefault")
    assert seccomp in ("RuntimeDefault", "Unconfined"), seccomp  # RuntimeDefault: podman's own profile
    if seccomp == "Unconfined":
        args += ["--security-opt", "seccomp=unconfined"]
    return args


class Containers:
    """Containers a test starts, removed when it ends."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.prefix = f"swarm-img-test-{uuid.uuid4().hex[:8]}"

    def run(self, *args: str) -> str:
        name = f"{self.prefix}-{len(self.ids)}"
        cid = podman("run", "-d", "--name", name, *args).stdout.strip()
        self.ids.append(cid)
        return cid

    def ip(self, cid: str) -> str:
        return podman("inspect", "--format", "{{.NetworkSettings.IPAddress}}", cid).stdout.strip()

    def logs(self, cid: str) -> str:
        proc = podman("logs", cid, check=False)
        return proc.stdout + proc.stderr

    def remove(self) -> None:
        for cid in reversed(self.ids):
            podman("rm", "-f", "-t", "2", cid, check=False)


@pytest.fixture
def containers() -> Iterator[Containers]:
    box = Containers()
    yield box
    box.remove()


def chart_operator_container(tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The operator's pod spec and container as `helm template` renders the chart's defaults."""
    out = subprocess.run([tool("helm"), "template", "swarm-operator", str(CHART), "-n", "swarm-operator"],
                         capture_output=True, text=True, check=True).stdout
    (deployment,) = [d for d in yaml.safe_load_all(out) if d and d.get("kind") == "Deployment"]
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    return spec, container


UNREACHABLE_KUBECONFIG = {
    "apiVersion": "v1", "kind": "Config", "current-context": "c",
    "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:9", "insecure-skip-tls-verify": True}}],
    "users": [{"name": "u", "user": {"token": "not-a-token"}}],
    "contexts": [{"name": "c", "context": {"cluster": "none", "user": "u"}}],
}


# The chart's user, and an arbitrary UID the image's /etc/passwd does not list (OpenShift's
# restricted SCC assigns such UIDs; a user may set runAsUser): kopf then cannot guess its identity
# from the passwd database (it crashed at start-up until the operator gave it one).
@pytest.mark.parametrize("uid", [None, 1000770000], ids=["chart-user", "arbitrary-uid"])
def test_the_operator_runs_as_10001_on_a_read_only_root_and_answers_its_liveness_endpoint(
        images: dict[str, str], containers: Containers, tmp_path: Path, uid: int | None) -> None:
    image = operator_tag()
    spec, container = chart_operator_container(tmp_path)
    assert container["image"] == image
    if uid is not None:
        spec["securityContext"]["runAsUser"] = container["securityContext"]["runAsUser"] = uid
    # Without any cluster configuration the operator retries its start-up every 60 s and serves no
    # liveness; with an API server it cannot reach it starts, serves /healthz and retries the API.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(UNREACHABLE_KUBECONFIG))
    kubeconfig.chmod(0o644)
    cid = containers.run(*security_args(image, spec["securityContext"], container["securityContext"]),
                         "-v", f"{kubeconfig}:/etc/kube/config:ro", "-e", "KUBECONFIG=/etc/kube/config",
                         image, *container["args"])
    ip = containers.ip(cid)
    port = next(p["containerPort"] for p in container["ports"] if p["name"] == "liveness")
    path = container["livenessProbe"]["httpGet"]["path"]
    status, body = wait_for(f"{path} on port {port}", lambda: (s := http_get(f"http://{ip}:{port}{path}"))[0] == 200
                            and s, timeout=60)
    assert json.loads(body) is not None
    metrics_port = next(p["containerPort"] for p in container["ports"] if p["name"] == "metrics")
    status, text = http_get(f"http://{ip}:{metrics_port}/metrics")
    assert status == 200 and "swarm_operator" in text
    assert podman("exec", cid, "id", "-u").stdout.strip() == str(uid or 10001)
    write = podman("exec", cid, "sh", "-c", "touch /probe || touch /tmp/probe", check=False)
    assert write.returncode != 0 and "Read-only file system" in write.stderr, write
    assert podman("inspect", "--format", "{{.State.Running}}", cid).stdout.strip() == "true", containers.logs(cid)


def peer_security_args() -> list[str]:
    """The securityContexts the operator puts into every bootstrap host's pod template."""
    return security_args(peer_tag(), manifests.POD_SECURITY_CONTEXT, manifests.CONTAINER_SECURITY_CONTEXT)


def test_swarm_peer_help_runs_as_non_root(images: dict[str, str]) -> None:
    proc = podman("run", "--rm", *peer_security_args(), peer_tag(), "--help", check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: swarm-peer host|client|dht-bootstrap"), proc
    ident = podman("run", "--rm", *peer_security_args(), "--entrypoint", "id", peer_tag(), "-u").stdout.strip()
    assert ident == "10001"


def test_a_bootstrap_host_announces_from_the_peer_image_on_a_read_only_root(
        images: dict[str, str], containers: Containers, tmp_path: Path) -> None:
    """A private DHT node and a bootstrap host, each in its own container on podman's bridge, under
    the host pod's security context; the host's data on a volume the fsGroup may write, its seed
    from a read-only Secret-like mount: /readyz turns 200 and /status carries the signed base key."""
    image, fs_group = peer_tag(), manifests.POD_SECURITY_CONTEXT["fsGroup"]
    pod_ip = 'exec env SWARM_DHT_HOST="$(hostname -i)"'  # the downward API's status.podIP
    dht = containers.run(*peer_security_args(), "--entrypoint", "/bin/sh", image, "-c",
                         'exec swarm-peer dht-bootstrap --host "$(hostname -i)"')
    data, secret = tmp_path / "data", tmp_path / "identity"
    data.mkdir()
    data.chmod(0o2775)  # group-writable, setgid: a volume under fsGroup
    secret.mkdir()
    (secret / names.IDENTITY_SEED_KEY).write_text(os.urandom(32).hex())
    (secret / names.IDENTITY_SEED_KEY).chmod(0o440)  # the Secret volume's defaultMode
    for path in (data, secret, secret / names.IDENTITY_SEED_KEY):
        os.chown(path, 0, fs_group)  # what fsGroup does to the pod's volumes
    env = {names.ENV_TOPIC: "img-test", names.ENV_DATA_DIR: names.DATA_MOUNT_PATH,
           names.ENV_IDENTITY_SEED_FILE: f"{names.IDENTITY_MOUNT_PATH}/{names.IDENTITY_SEED_KEY}",
           names.ENV_DHT_BOOTSTRAP: f"{containers.ip(dht)}:49737",
           names.ENV_STATUS_PORT: str(names.DEFAULT_STATUS_PORT)}
    host = containers.run(*peer_security_args(), *[a for k, v in env.items() for a in ("-e", f"{k}={v}")],
                          "-v", f"{data}:{names.DATA_MOUNT_PATH}",
                          "-v", f"{secret}:{names.IDENTITY_MOUNT_PATH}:ro",
                          "--entrypoint", "/bin/sh", image, "-c", f"{pod_ip} swarm-peer host")
    ip = containers.ip(host)

    def ready() -> bool:
        state = podman("inspect", "--format", "{{.State.Running}}", host).stdout.strip()
        assert state == "true", f"the host container exited:\n{containers.logs(host)[-3000:]}"
        return http_get(f"http://{ip}:{names.DEFAULT_STATUS_PORT}/readyz")[0] == 200

    wait_for("the host's /readyz", ready, timeout=90)
    status, body = http_get(f"http://{ip}:{names.DEFAULT_STATUS_PORT}/status")
    payload = json.loads(json.loads(body)["payload"])
    assert status == 200 and payload["role"] == "host" and re.fullmatch(r"[0-9a-f]{64}", payload["baseKey"])
    assert any(data.iterdir()), "the host wrote nothing to its data volume"


def service_account_volume(directory: Path, token: str, ca: bytes, namespace: str) -> Path:
    """What the kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount."""
    directory.mkdir()
    for name, content in (("token", token.encode()), ("ca.crt", ca), ("namespace", namespace.encode())):
        (directory / name).write_bytes(content)
        (directory / name).chmod(0o444)
    return directory


def container_env(container: dict[str, Any], pod_name: str, namespace: str) -> list[str]:
    args = []
    fields = {"metadata.name": pod_name, "metadata.namespace": namespace}  # the downward API
    for entry in container.get("env", []):
        ref = (entry.get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath")
        assert "value" in entry or ref in fields, f"translate env {entry}"
        args += ["-e", f"{entry['name']}={entry['value'] if 'value' in entry else fields[ref]}"]
    return args


def test_the_operator_image_runs_in_cluster_as_the_charts_service_account(
        images: dict[str, str], containers: Containers, tmp_path: Path) -> None:
    """The user path of the chart's Deployment: the operator image in a container with the chart's
    args, env and securityContext, configured in-cluster (service-account token, KUBERNETES_SERVICE_*)
    against the real API server, as the ServiceAccount the chart installed, under the chart's RBAC."""
    subprocess.run(["bash", str(REPO / "scripts" / "build-control-plane.sh")], check=True,
                   capture_output=True, timeout=3600)  # cached: links the binaries into .tools/bin
    plane = shared_control_plane()
    token = kubectl(plane.kubeconfig, "create", "token", OPERATOR_SA, "-n", OPERATOR_NAMESPACE).strip()
    sa = service_account_volume(tmp_path / "sa", token, plane.pki.ca_crt.read_bytes(), OPERATOR_NAMESPACE)
    spec, container = chart_operator_container(tmp_path)
    cid = containers.run(*security_args(operator_tag(), spec["securityContext"], container["securityContext"]),
                         *container_env(container, "swarm-operator-0", OPERATOR_NAMESPACE),
                         "-v", f"{sa}:/var/run/secrets/kubernetes.io/serviceaccount:ro",
                         "-e", f"KUBERNETES_SERVICE_HOST={PODMAN_GATEWAY}",
                         "-e", f"KUBERNETES_SERVICE_PORT={plane.ports.apiserver}",
                         operator_tag(), *container["args"])
    ip = containers.ip(cid)
    port = next(p["containerPort"] for p in container["ports"] if p["name"] == "liveness")
    wait_for("/healthz", lambda: http_get(f"http://{ip}:{port}/healthz")[0] == 200, timeout=60)

    def from_the_container() -> list[dict[str, Any]]:
        return [e for e in audit_events(plane.audit_log) if ip in e.get("sourceIPs", [])]

    def watching() -> list[dict[str, Any]]:
        return [e for e in from_the_container() if e.get("verb") == "watch"
                and e.get("objectRef", {}).get("resource") == "swarmtopics"]

    wait_for("the operator's watch on swarmtopics", watching, timeout=60)
    users = {e["user"]["username"] for e in from_the_container()}
    assert users == {OPERATOR_USER}, users
    refused = [f"{e.get('verb')} {e.get('requestURI')}" for e in from_the_container()
               if (e.get("responseStatus") or {}).get("code") == 403]
    assert not refused, refused
    assert "swarm-operator started" in containers.logs(cid)
    # It reconciles: a topic gets its bootstrap host, from the peer image the chart names.
    namespace = f"img-{uuid.uuid4().hex[:6]}"
    kubectl(plane.kubeconfig, "create", "namespace", namespace)
    topic = {"apiVersion": f"{names.GROUP}/{names.VERSION}", "kind": "SwarmTopic",
             "metadata": {"name": "chat", "namespace": namespace},
             "spec": {"topic": "chat", "dht": {"bootstrap": ["swarm-dht-0.swarm-dht:49737"]}}}
    try:
        kubectl(plane.kubeconfig, "apply", "-f", "-", input=json.dumps(topic))
        found = wait_for("the host StatefulSet", lambda: kubectl(
            plane.kubeconfig, "get", "statefulset", "-n", namespace, names.host_statefulset("chat"),
            "-o", "json", check=False), timeout=60)
        (host,) = json.loads(found)["spec"]["template"]["spec"]["containers"]
        assert host["image"] == peer_tag()
    finally:
        kubectl(plane.kubeconfig, "delete", "namespace", namespace, "--wait=false", check=False)
