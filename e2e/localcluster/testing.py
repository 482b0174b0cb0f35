"""What the test suites share of the local cluster: one control plane per pytest session, the
operator's identity (the chart's ServiceAccount and RBAC, never admin), and the audit log."""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from .controlplane import BIN, REPO, ControlPlane, audit_events

CHART = REPO / "charts" / "swarm-operator"
OPERATOR_NAMESPACE = "swarm-operator"
OPERATOR_SA = "swarm-operator"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_SA}"
PODMAN_GATEWAY = "10.88.0.1"

_shared: ControlPlane | None = None


def kubectl(kubeconfig: Path, *args: str, input: str | None = None, check: bool = True) -> str:
    proc = subprocess.run([str(BIN / "kubectl"), "--kubeconfig", str(kubeconfig), *args],
                          input=input, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, proc.args, proc.stdout, proc.stderr)
    return proc.stdout


def shared_control_plane() -> ControlPlane:
    """The session's control plane, started on first use and stopped when the process exits."""
    global _shared
    if _shared is None:
        state = Path(os.environ.get("SWARM_CLUSTER_STATE") or tempfile.mkdtemp(prefix="swarm-cluster-"))
        plane = ControlPlane(state, extra_server_ips=[PODMAN_GATEWAY])
        plane.start()
        atexit.register(plane.stop)
        kubectl(plane.kubeconfig, "apply", "--server-side", "-f", str(REPO / "crds"))
        kubectl(plane.kubeconfig, "wait", "--for=condition=Established", "--timeout=60s",
                "crd/swarmtopics.swarm-operator.dev")
        _shared = plane
    return _shared


def chart_rbac(values: dict[str, Any] | None = None) -> str:
    """The chart's ServiceAccount and RBAC objects, rendered by the real helm."""
    args = [str(BIN / "helm"), "template", "swarm-operator", str(CHART), "-n", OPERATOR_NAMESPACE,
            "--show-only", "templates/serviceaccount.yaml", "--show-only", "templates/rbac.yaml"]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as fh:
        yaml.safe_dump(values or {}, fh)
        fh.flush()
        return subprocess.run([*args, "-f", fh.name], check=True, capture_output=True,
                              text=True).stdout


def operator_kubeconfig(plane: ControlPlane) -> Path:
    """A kubeconfig holding a token of the chart's ServiceAccount, with the chart's RBAC applied."""
    target = plane.state / "operator.kubeconfig"
    if target.exists():
        return target
    kubectl(plane.kubeconfig, "create", "namespace", OPERATOR_NAMESPACE, check=False)
    kubectl(plane.kubeconfig, "apply", "-f", "-", input=chart_rbac())
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
    """Every request of `user` the API server answered 403, from its audit log."""
    return [f"{e.get('verb')} {e.get('requestURI')}" for e in audit_events(plane.audit_log)
            if e.get("user", {}).get("username") == user
            and (e.get("responseStatus") or {}).get("code") == 403]


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True)
