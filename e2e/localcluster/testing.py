"""What the test suites share of the local cluster: one control plane per pytest session, the
operator's identity (the chart's ServiceAccount and RBAC, never admin), and the audit log."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from .controlplane import BIN, REPO, ControlPlane, audit_events
from .node_config import NODE_IP
from .teardown import mount_points

# podman's bridge: a container podman runs (packaging tests) reaches the API server there
PODMAN_GATEWAY = "10.88.0.1"

CHART = REPO / "charts" / "swarm-operator"
OPERATOR_NAMESPACE = "swarm-operator"
OPERATOR_SA = "swarm-operator"
RELEASE = "swarm-operator"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_SA}"

_shared: ControlPlane | None = None


def kubectl(kubeconfig: Path, *args: str, input: str | None = None, check: bool = True) -> str:
    proc = subprocess.run([str(BIN / "kubectl"), "--kubeconfig", str(kubeconfig), *args],
                          input=input, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, proc.args, proc.stdout, proc.stderr)
    return proc.stdout


def shared_control_plane(controller_qps: int | None = None, hostpath_provisioner: bool = False) -> ControlPlane:
    """The session's control plane, started on first use and stopped when the process exits."""
    global _shared
    if _shared is None:
        given = os.environ.get("SWARM_CLUSTER_STATE")
        state = Path(given or tempfile.mkdtemp(prefix="swarm-cluster-"))
        plane = ControlPlane(state, extra_server_ips=[NODE_IP, PODMAN_GATEWAY], controller_qps=controller_qps,
                             hostpath_provisioner=hostpath_provisioner)
        plane.start()
        atexit.register(_stop, plane, remove=not given and not os.environ.get("SWARM_KEEP_STATE"))
        install_chart(plane)
        _shared = plane
    return _shared


def install_chart(plane: ControlPlane) -> None:
    """The chart's release with no operator replica: the CRD, the ServiceAccount and its RBAC."""
    helm(plane, "install", RELEASE, str(CHART), "-n", OPERATOR_NAMESPACE, "--create-namespace",
         "--set", "replicaCount=0", "--wait")
    kubectl(plane.kubeconfig, "wait", "--for=condition=Established", "--timeout=60s",
            "crd/swarmtopics.swarm-operator.dev")


def _stop(plane: ControlPlane, remove: bool) -> None:
    """Stop the session's control plane; its state (etcd, logs, audit log) goes with it unless
    SWARM_KEEP_STATE is set or the caller chose the directory (SWARM_CLUSTER_STATE)."""
    plane.stop()
    if remove:
        shutil.rmtree(plane.state, ignore_errors=True)


def remove_state(state: Path) -> None:
    """A stopped node's state directory (its logs, pods' volumes and sandboxes: hundreds of MB a
    run) goes with it, as the control plane's does, unless SWARM_KEEP_STATE is set; never while
    anything is still mounted under it (a volume's bind mount would take its source along)."""
    if os.environ.get("SWARM_KEEP_STATE"):
        return
    inside = str(state.resolve()).rstrip("/") + "/"
    mounted = [p for p in mount_points() if p.startswith(inside)]
    if mounted:
        print(f"localcluster: {state} kept: still mounted under it: {', '.join(mounted[:5])}", flush=True)
        return
    shutil.rmtree(state, ignore_errors=True)


def helm(plane: ControlPlane, *args: str) -> str:
    """The real helm against the local cluster, as the admin."""
    proc = subprocess.run([str(BIN / "helm"), "--kubeconfig", str(plane.kubeconfig), *args],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"helm {' '.join(args[:2])} failed: {proc.stderr.strip()}")
    return proc.stdout


def operator_kubeconfig(plane: ControlPlane) -> Path:
    """A kubeconfig holding a token of the ServiceAccount the chart's release installed, under
    the release's RBAC: the operator run as a process has exactly the rights of the real pod."""
    target = plane.state / "operator.kubeconfig"
    if target.exists():
        return target
    token = kubectl(plane.kubeconfig, "create", "token", OPERATOR_SA, "-n", OPERATOR_NAMESPACE,
                    "--duration=48h").strip()
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "operator",
        "clusters": [{"name": "local", "cluster": {"server": plane.server,
                                                    "certificate-authority": str(plane.pki.ca_crt)}}],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "local", "user": "operator"}}],
    }
    target.write_text(yaml.safe_dump(doc))
    return target


def forbidden_answers(plane: ControlPlane, user: str = OPERATOR_USER) -> list[str]:
    """Every request of `user` the authorizer (RBAC) denied, from the API server's audit log.

    Admission also answers 403 (NamespaceLifecycle: "unable to create new content in namespace ...
    because it is being terminated"), but those requests were authorized: the audit annotation
    `authorization.k8s.io/decision` tells the two apart."""
    return [f"{e.get('verb')} {e.get('requestURI')}" for e in audit_events(plane.audit_log)
            if e.get("user", {}).get("username") == user
            and (e.get("annotations") or {}).get("authorization.k8s.io/decision") == "forbid"]


def admission_refusals(plane: ControlPlane, user: str = OPERATOR_USER) -> list[str]:
    """403s of `user` that were authorized but refused by admission (for the record)."""
    return [f"{e.get('verb')} {e.get('requestURI')}" for e in audit_events(plane.audit_log)
            if e.get("user", {}).get("username") == user
            and (e.get("responseStatus") or {}).get("code") == 403
            and (e.get("annotations") or {}).get("authorization.k8s.io/decision") == "allow"]


Right = tuple[str, str, str]  # (API group, resource[/subresource], verb)
# Every authenticated user may ask who it is (system:basic-user): not the chart's to grant.
EVERYONES = {("authentication.k8s.io", "selfsubjectreviews", "create")}


def rights_requested(plane: ControlPlane, user: str = OPERATOR_USER, since: float = 0.0) -> set[Right]:
    """What `user` asked the API server for (resource requests, from the audit log, received at or
    after `since`, a Unix time), as RBAC rights."""
    from datetime import datetime

    out = set()
    for event in audit_events(plane.audit_log):
        ref = event.get("objectRef") or {}
        if event.get("user", {}).get("username") != user or not ref.get("resource"):
            continue
        received = datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00")).timestamp()
        if received >= since:
            resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
            out.add((ref.get("apiGroup") or "", resource, event["verb"]))
    return out - EVERYONES


def rights_granted(plane: ControlPlane, namespace: str = OPERATOR_NAMESPACE, account: str = OPERATOR_SA) -> set[Right]:
    """What the RBAC bound to a ServiceAccount grants, anywhere (the roles as the API server has them)."""
    subject = {"kind": "ServiceAccount", "name": account, "namespace": namespace}
    bindings = json.loads(kubectl(plane.kubeconfig, "get", "clusterrolebindings,rolebindings", "-A", "-o", "json"))
    out = set()
    for binding in bindings["items"]:
        if subject not in [{k: s.get(k) for k in ("kind", "name", "namespace")} for s in binding.get("subjects") or []]:
            continue
        ref = binding["roleRef"]
        where = ["-n", binding["metadata"]["namespace"]] if ref["kind"] == "Role" else []
        role = json.loads(kubectl(plane.kubeconfig, "get", ref["kind"].lower(), ref["name"], *where, "-o", "json"))
        out |= {(group, resource, verb) for rule in role.get("rules") or [] for group in rule.get("apiGroups") or []
                for resource in rule.get("resources") or [] for verb in rule.get("verbs") or []}
    return out


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True)


def set_operator_replicas(plane: ControlPlane, replicas: int, reconcile_interval: float = 1.0) -> None:
    """Scale the chart's operator Deployment by `helm upgrade` (as a user would), waiting for it."""
    helm(plane, "upgrade", RELEASE, str(CHART), "-n", OPERATOR_NAMESPACE, "--reuse-values",
         "--set", f"replicaCount={replicas}", "--set-json", f"reconcileInterval={json.dumps(reconcile_interval)}",
         "--wait", "--timeout", "180s")


def ensure_dht(plane: ControlPlane, timeout: int = 120) -> None:
    """The private DHT of examples/dht.yaml, Ready in the default namespace."""
    from .procs import wait_until

    kubectl(plane.kubeconfig, "apply", "-f", str(REPO / "examples" / "dht.yaml"))

    def ready() -> bool:
        pod = plane.get("/api/v1/namespaces/default/pods/swarm-dht-0")
        return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))
    wait_until("the private DHT node (swarm-dht-0) Ready", ready, timeout)
