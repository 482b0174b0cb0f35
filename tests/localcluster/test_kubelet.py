"""The kubelet with the podman runtime, on the real control plane: pods as containers with their
own IPs, DNS names between pods, volumes at their real paths, PVCs, deletion, restarts, and
pods that fail the way a real node shows it."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import urllib.request
from pathlib import Path

import pytest
import yaml
from lc_images import TEST_IMAGE, image_exists
from lc_kube import Kube, container, phase, ready
from lc_node import Where
from localcluster.controlplane import REPO
from localcluster.netns import Network
from localcluster.runtime import LABEL_POD_UID, instance_id
from localcluster.runtime_podman import podman_env
from swarm_operator.config import DEFAULT_PEER_IMAGE

HTTP_SERVER = """
const fs = require('fs'); const http = require('http');
let starts = 0;
if (process.env.DATA_DIR) {
  fs.appendFileSync('/data/starts', 'x'); starts = fs.readFileSync('/data/starts', 'utf8').length;
}
http.createServer((q, r) => r.end(JSON.stringify({podIP: process.env.POD_IP, starts}))).listen(8080);
process.on('SIGTERM', () => process.exit(0));
"""


def pod_manifest(where: Where, name: str, script: str, extra: str = "", restart: str = "Always",
                 container_extra: str = "") -> str:
    lines = "\n".join("          " + line for line in script.strip().splitlines())
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  restartPolicy: {restart}
  terminationGracePeriodSeconds: 5
  nodeSelector: {{kubernetes.io/hostname: {where.node.name}}}
{extra}
  containers:
    - name: main
      image: {TEST_IMAGE}
      imagePullPolicy: Never
      terminationMessagePolicy: FallbackToLogsOnError
      command: [node, -e]
      args:
        - |
{lines}
      env:
        - {{name: POD_IP, valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}}}
        - {{name: POD_NAME, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}
        - {{name: NS, valueFrom: {{fieldRef: {{fieldPath: metadata.namespace}}}}}}
{container_extra}
"""


def http_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as rsp:
        return dict(json.loads(rsp.read()))


def test_pod_runs_with_its_own_ip_and_turns_ready(kube: Kube, where: Where) -> None:
    ns = where.ns
    probe = """      ports: [{name: http, containerPort: 8080}]
      readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}
      securityContext: {runAsNonRoot: true, runAsUser: 10001, readOnlyRootFilesystem: true,
                        allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}"""
    kube.apply(ns, pod_manifest(where, "web", HTTP_SERVER, container_extra=probe))
    pod = kube.wait_pod(ns, "web", ready, 60, "Ready")
    ip = pod["status"]["podIP"]
    assert ipaddress.ip_address(ip) in where.node.network
    assert http_json(f"http://{ip}:8080/")["podIP"] == ip  # the downward API gave the same IP
    status = container(pod)
    assert "running" in status["state"] and status["ready"] and status["restartCount"] == 0
    conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert conditions == {"PodScheduled": "True", "Initialized": "True", "ContainersReady": "True",
                          "Ready": "True", "PodReadyToStartContainers": "True"}
    assert pod["status"]["hostIP"] and pod["status"]["phase"] == "Running"


DNS_SERVER = """
const dgram = require('dgram'); const http = require('http');
const udp = dgram.createSocket('udp4');
udp.on('message', (m, from) => udp.send('pong:' + m, from.port, from.address));
udp.bind(49737);
http.createServer((q, r) => r.end('hello from ' + process.env.POD_NAME)).listen(8080);
"""

DNS_CLIENT = """
const dgram = require('dgram'); const http = require('http'); const ns = process.env.NS;
const sock = dgram.createSocket('udp4');
const ping = setInterval(() => sock.send('ping', 49737, `srv-0.srv.${ns}.svc`), 300);
setTimeout(() => { console.error('no answer'); process.exit(3); }, 30000);
sock.on('message', (m) => {
  if (String(m) !== 'pong:ping') return;
  clearInterval(ping); sock.close();
  http.get(`http://srv.${ns}.svc.cluster.local:8080/`, (r) => {
    let body = ''; r.on('data', (d) => { body += d; });
    r.on('end', () => { console.log(body); process.exit(body === 'hello from srv-0' ? 0 : 2); });
  }).on('error', (e) => { console.error(e.message); process.exit(4); });
});
"""


def test_pods_reach_each_other_by_dns_name_over_udp_and_http(kube: Kube, where: Where) -> None:
    ns = where.ns
    service = """
apiVersion: v1
kind: Service
metadata: {name: srv}
spec:
  clusterIP: None
  selector: {app: srv}
  ports: [{name: dht, port: 49737, protocol: UDP}, {name: http, port: 8080}]
"""
    server = pod_manifest(where, "srv-0", DNS_SERVER, extra="  hostname: srv-0\n  subdomain: srv",
                          container_extra="      readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}")
    kube.apply(ns, service + "---" + server.replace("app: srv-0", "app: srv"))
    kube.wait_pod(ns, "srv-0", ready, 60, "Ready")
    kube.apply(ns, pod_manifest(where, "client", DNS_CLIENT, restart="Never"))
    pod = kube.wait_pod(ns, "client", lambda p: phase(p) in ("Succeeded", "Failed"), 90, "to finish")
    assert phase(pod) == "Succeeded", json.dumps(container(pod), indent=1)


VOLUME_CHECK = """
const fs = require('fs'); const https = require('https');
const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
const fail = (what) => { console.error('wrong: ' + what); process.exit(1); };
if (fs.readFileSync('/etc/cfg/greeting', 'utf8') !== 'hello') fail('configmap');
if (fs.readFileSync('/etc/sec/password', 'utf8') !== 's3cret') fail('secret');
if (fs.readFileSync('/etc/info/name', 'utf8') !== process.env.POD_NAME) fail('downward API');
if (fs.readFileSync(sa + '/namespace', 'utf8') !== process.env.NS) fail('namespace');
fs.writeFileSync('/scratch/x', 'y');
const req = https.request({host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT,
  method: 'POST', path: '/apis/authentication.k8s.io/v1/selfsubjectreviews', ca: fs.readFileSync(sa + '/ca.crt'),
  headers: {Authorization: 'Bearer ' + fs.readFileSync(sa + '/token', 'utf8'), 'Content-Type': 'application/json'}},
  (r) => { let b = ''; r.on('data', (d) => { b += d; }); r.on('end', () => {
    const info = JSON.parse(b).status.userInfo; console.log(JSON.stringify(info));
    if (info.username !== `system:serviceaccount:${process.env.NS}:default`) fail('token user');
    if (info.extra['authentication.kubernetes.io/pod-name'][0] !== process.env.POD_NAME) fail('bound pod');
    process.exit(0); }); });
req.on('error', (e) => fail(e.message));
req.end(JSON.stringify({apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview'}));
"""


def test_configmap_secret_downward_and_token_volumes_at_their_real_paths(kube: Kube, where: Where) -> None:
    ns = where.ns
    kube.kubectl("create", "configmap", "cfg", "-n", ns, "--from-literal=greeting=hello")
    kube.kubectl("create", "secret", "generic", "sec", "-n", ns, "--from-literal=password=s3cret")
    volumes = """  securityContext: {runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001}
  volumes:
    - {name: cfg, configMap: {name: cfg}}
    - {name: sec, secret: {secretName: sec, defaultMode: 0440}}
    - {name: info, downwardAPI: {items: [{path: name, fieldRef: {fieldPath: metadata.name}}]}}
    - {name: scratch, emptyDir: {}}"""
    mounts = """      securityContext: {readOnlyRootFilesystem: true}
      volumeMounts:
        - {name: cfg, mountPath: /etc/cfg}
        - {name: sec, mountPath: /etc/sec, readOnly: true}
        - {name: info, mountPath: /etc/info}
        - {name: scratch, mountPath: /scratch}"""
    kube.apply(ns, pod_manifest(where, "vols", VOLUME_CHECK, extra=volumes, restart="Never", container_extra=mounts))
    pod = kube.wait_pod(ns, "vols", lambda p: phase(p) in ("Succeeded", "Failed"), 90, "to finish")
    assert phase(pod) == "Succeeded", json.dumps(container(pod), indent=1)


def test_claim_data_outlives_the_pod(kube: Kube, where: Where) -> None:
    ns = where.ns
    lines = "\n".join("              " + line for line in HTTP_SERVER.strip().splitlines())
    kube.apply(ns, f"""
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: keep}}
spec:
  serviceName: keep
  replicas: 1
  selector: {{matchLabels: {{app: keep}}}}
  template:
    metadata: {{labels: {{app: keep}}}}
    spec:
      securityContext: {{runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001}}
      terminationGracePeriodSeconds: 5
      nodeSelector: {{kubernetes.io/hostname: {where.node.name}}}
      containers:
        - name: main
          image: {TEST_IMAGE}
          command: [node, -e]
          args:
            - |
{lines}
          env:
            - {{name: POD_IP, valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}}}
            - {{name: DATA_DIR, value: /data}}
          readinessProbe: {{httpGet: {{path: /, port: 8080}}, periodSeconds: 1}}
          volumeMounts: [{{name: data, mountPath: /data}}]
  volumeClaimTemplates:
    - metadata: {{name: data}}
      spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Gi}}}}}}
""")
    first = kube.wait_pod(ns, "keep-0", ready, 90, "Ready")
    assert http_json(f"http://{first['status']['podIP']}:8080/")["starts"] == 1
    kube.kubectl("delete", "pod", "keep-0", "-n", ns, "--wait=true", "--timeout=60s")
    second = kube.wait_pod(ns, "keep-0", lambda p: ready(p) and p["metadata"]["uid"] != first["metadata"]["uid"],
                           90, "re-created and Ready")
    assert http_json(f"http://{second['status']['podIP']}:8080/")["starts"] == 2


TERM_MARKER = """
const fs = require('fs');
process.on('SIGTERM', () => {
  fs.writeFileSync('/out/' + process.env.POD_NAME, 'TERM');
  if (process.env.POD_NAME === 'polite') setTimeout(() => process.exit(0), 300);
});
setInterval(() => {}, 1000);
"""


def waiting_reason(pod: dict[str, object]) -> str:
    return str(container(pod).get("state", {}).get("waiting", {}).get("reason", ""))  # type: ignore[arg-type]


def leftovers(where: Where, uid: str) -> list[str]:
    """What still runs of the pod with this uid: podman containers, or processes in its namespace."""
    if where.node.runtime == "podman":
        command = ["podman", "ps", "-aq", "--filter", f"label={LABEL_POD_UID}={uid}"]
    else:
        command = ["ip", "netns", "pids", Network(instance_id(where.node.state)).name(uid)]
    done = subprocess.run(command, env=podman_env(), capture_output=True, text=True, check=False)
    return done.stdout.split()


def test_graceful_deletion_sigterm_then_grace_then_gone(kube: Kube, where: Where, tmp_path: Path) -> None:
    ns = where.ns
    tmp_path.chmod(0o777)
    out = f"  volumes: [{{name: out, hostPath: {{path: {tmp_path}, type: Directory}}}}]"
    mount = "      volumeMounts: [{name: out, mountPath: /out}]"
    for name in ("polite", "stubborn"):  # stubborn ignores SIGTERM: SIGKILL after its 5s grace
        kube.apply(ns, pod_manifest(where, name, TERM_MARKER, extra=out, container_extra=mount))
    pods = {name: kube.wait_pod(ns, name, lambda p: container(p).get("started"), 60, "running")
            for name in ("polite", "stubborn")}
    kube.kubectl("delete", "pod", "polite", "stubborn", "-n", ns, "--wait=false")
    kube.wait(lambda: (tmp_path / "stubborn").exists(), 60, "SIGTERM to reach the stubborn container")
    stubborn = kube.pod(ns, "stubborn")  # within its grace period: still there, still running
    assert stubborn is not None and stubborn["metadata"].get("deletionTimestamp")
    uid = pods["stubborn"]["metadata"]["uid"]
    assert leftovers(where, uid)
    for name in ("polite", "stubborn"):
        kube.wait(lambda name=name: kube.pod(ns, name) is None, 60, f"{name} to be gone")
        assert (tmp_path / name).read_text() == "TERM"
    assert not leftovers(where, uid)


def test_restarts_follow_the_restart_policy(kube: Kube, where: Where) -> None:
    ns = where.ns
    kube.apply(ns, pod_manifest(where, "always", "process.exit(3)"))
    kube.apply(ns, pod_manifest(where, "onfailure", "process.exit(0)", restart="OnFailure"))
    kube.apply(ns, pod_manifest(where, "never", "process.exit(1)", restart="Never"))
    always = kube.wait_pod(ns, "always", lambda p: container(p).get("restartCount", 0) >= 2
                           and waiting_reason(p) == "CrashLoopBackOff", 60, "two restarts, then back-off")
    assert container(always)["lastState"]["terminated"]["exitCode"] == 3
    assert not ready(always) and not container(always)["ready"]
    onfailure = kube.wait_pod(ns, "onfailure", lambda p: phase(p) == "Succeeded", 60, "Succeeded")
    assert container(onfailure)["restartCount"] == 0
    never = kube.wait_pod(ns, "never", lambda p: phase(p) == "Failed", 60, "Failed")
    assert container(never)["state"]["terminated"]["exitCode"] == 1 and container(never)["restartCount"] == 0


def test_failing_liveness_probe_restarts_the_container(kube: Kube, where: Where) -> None:
    ns = where.ns
    script = ("require('fs').writeFileSync('/tmp/healthy', '');"
              "setTimeout(() => require('fs').rmSync('/tmp/healthy'), 2000); setInterval(() => {}, 1000);")
    probe = "      livenessProbe: {exec: {command: [cat, /tmp/healthy]}, periodSeconds: 1, failureThreshold: 2}"
    kube.apply(ns, pod_manifest(where, "live", script, container_extra=probe))
    pod = kube.wait_pod(ns, "live", lambda p: container(p).get("restartCount", 0) >= 1, 60, "a restart")
    assert container(pod)["lastState"]["terminated"]["exitCode"] != 0


def test_images_that_cannot_run_fail_visibly(kube: Kube, where: Where) -> None:
    ns = where.ns
    kube.apply(ns, pod_manifest(where, "nobin", "").replace("command: [node, -e]", "command: [/app/bin/server]"))
    missing_module = "command: [node, /app/bin/main.js]"
    kube.apply(ns, pod_manifest(where, "nomodule", "").replace("command: [node, -e]", missing_module))
    kube.apply(ns, pod_manifest(where, "rofs", "require('fs').writeFileSync('/state', 'x')", restart="Never",
                                container_extra="      securityContext: {readOnlyRootFilesystem: true}"))
    kube.apply(ns, pod_manifest(where, "asroot", "", container_extra="      securityContext: {runAsNonRoot: true}"))

    def last_or_current(pod: dict[str, object]) -> dict[str, object]:
        status = container(pod)  # type: ignore[arg-type]
        return dict(status.get("lastState", {}).get("terminated") or status.get("state", {}).get("terminated") or {})

    nobin = kube.wait_pod(ns, "nobin", lambda p: last_or_current(p).get("reason") == "StartError"
                          and waiting_reason(p) == "CrashLoopBackOff", 60, "StartError, then back-off")
    assert "no such file or directory" in str(last_or_current(nobin)["message"])
    nomodule = kube.wait_pod(ns, "nomodule", lambda p: last_or_current(p).get("exitCode") == 1
                             and waiting_reason(p) == "CrashLoopBackOff", 60, "exit 1, then back-off")
    assert "Cannot find module" in str(last_or_current(nomodule).get("message"))
    rofs = kube.wait_pod(ns, "rofs", lambda p: phase(p) == "Failed", 60, "Failed")
    assert "read-only file system" in str(last_or_current(rofs)["message"]).lower()
    asroot = kube.wait_pod(ns, "asroot", lambda p: waiting_reason(p) == "CreateContainerConfigError", 60,
                           "CreateContainerConfigError")
    assert "runAsNonRoot" in asroot["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
    for pod in (nobin, nomodule, rofs, asroot):
        assert not ready(pod)


def test_absent_image_waits_in_err_image_never_pull(kube: Kube, where: Where) -> None:
    if where.node.runtime != "podman":
        # The process runtime has no images (the machine's own file system stands in for all):
        # the same pod runs, whatever its image says.
        script = "setInterval(() => {}, 9e3);"
        kube.apply(where.ns, pod_manifest(where, "noimage", script).replace(TEST_IMAGE, "localhost/absent:1"))
        pod = kube.wait_pod(where.ns, "noimage", lambda p: container(p).get("started"), 60, "running")
        assert phase(pod) == "Running"
        return
    kube.apply(where.ns, pod_manifest(where, "noimage", "").replace(TEST_IMAGE, "localhost/absent:1"))
    pod = kube.wait_pod(where.ns, "noimage", lambda p: waiting_reason(p) == "ErrImageNeverPull", 60,
                        "ErrImageNeverPull")
    assert "not present with pull policy of Never" in container(pod)["state"]["waiting"]["message"]
    assert not ready(pod) and phase(pod) == "Pending"


def test_kubectl_logs_reach_the_container_output(kube: Kube, where: Where) -> None:
    script = "console.log('first line'); console.log('hello from ' + process.env.POD_NAME); setInterval(() => {}, 9e3);"
    kube.apply(where.ns, pod_manifest(where, "talker", script))
    kube.wait_pod(where.ns, "talker", lambda p: container(p).get("started"), 60, "running")
    logs = kube.wait(lambda: kube.kubectl("logs", "-n", where.ns, "talker", check=False), 30, "logs")
    assert logs == "first line\nhello from talker\n"
    assert kube.kubectl("logs", "-n", where.ns, "talker", "--tail=1") == "hello from talker\n"


PEER_IMAGE = DEFAULT_PEER_IMAGE  # the tag examples/dht.yaml names: this version's


def test_the_example_dht_runs_from_the_swarm_peer_image(kube: Kube, where: Where) -> None:
    """examples/dht.yaml as a user applies it (read-only root, UID 10001, readiness on /readyz)."""
    if where.node.runtime == "podman" and not image_exists(PEER_IMAGE):
        pytest.skip(f"{PEER_IMAGE} is not built on this machine (scripts/build-images.sh)")
    docs = list(yaml.safe_load_all((REPO / "examples" / "dht.yaml").read_text()))
    for doc in docs:
        doc["metadata"].pop("namespace", None)  # the example's own namespace: each test has its own
        if doc["kind"] == "StatefulSet":
            assert doc["spec"]["template"]["spec"]["containers"][0]["image"] == PEER_IMAGE
            doc["spec"]["template"]["spec"]["nodeSelector"] = {"kubernetes.io/hostname": where.node.name}
    kube.apply(where.ns, yaml.safe_dump_all(docs))
    pod = kube.wait_pod(where.ns, "swarm-dht-0", ready, 120, "Ready")
    status = http_json(f"http://{pod['status']['podIP']}:8080/status")
    assert pod["status"]["podIP"] in json.dumps(status)  # the DHT node bound the pod's own address


def test_init_containers_run_first_and_in_order(kube: Kube, where: Where) -> None:
    mount = "volumeMounts: [{name: work, mountPath: /work}]"
    steps = "".join(f'    - {{name: {n}, image: {TEST_IMAGE}, command: [sh, -c, "echo {n} >> /work/order"], {mount}}}\n'
                    for n in ("one", "two"))
    init = f"  volumes: [{{name: work, emptyDir: {{}}}}]\n  initContainers:\n{steps.rstrip()}"
    check = "process.exit(require('fs').readFileSync('/work/order', 'utf8') === 'one\\ntwo\\n' ? 0 : 1)"
    kube.apply(where.ns, pod_manifest(where, "inits", check, extra=init, restart="Never",
                                      container_extra=f"      {mount}"))
    pod = kube.wait_pod(where.ns, "inits", lambda p: phase(p) in ("Succeeded", "Failed"), 60, "to finish")
    assert phase(pod) == "Succeeded", json.dumps(pod["status"], indent=1)
    inits = pod["status"]["initContainerStatuses"]
    assert [s["state"]["terminated"]["exitCode"] for s in inits] == [0, 0]
    assert {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Initialized"] == "True"
