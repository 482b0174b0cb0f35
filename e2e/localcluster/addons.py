"""The cluster add-ons every cluster has, run as pods on the real node: CoreDNS as the cluster's
DNS (a Deployment behind the `kube-dns` Service at 10.0.0.10) and rancher's local-path-provisioner
behind the default StorageClass `local-path` (a volume is a directory the provisioner's helper pod
makes with mode 0777 under the node's root, so a pod writes it under any fsGroup).

Their images are built by scripts/build-node.sh (FROM scratch + the binary built from the Go
module proxy) and pulled from the local registry like every other image.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from .controlplane import BIN
from .node_config import CLUSTER_DNS, CLUSTER_DOMAIN, NODE_ROOT, versions

LOCAL_PATH_DIR = NODE_ROOT / "local-path"
HELPER_IMAGE = "localhost/swarm-base/debian:bookworm"  # scripts/build-images.sh's Debian base (a shell)
DNS_PORT = 1053  # CoreDNS runs as non-root: the Service maps 53 to it

RESTRICTED = {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
              "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}

COREFILE = f""".:{DNS_PORT} {{
    errors
    health :8080
    ready :8181
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
    loop
    reload
}}
"""


def coredns() -> list[dict[str, object]]:
    ns, name = "kube-system", "coredns"
    labels = {"k8s-app": "kube-dns"}
    image = f"localhost/swarm-node/coredns:{versions()['COREDNS_VERSION']}"
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "system:coredns"},
         "rules": [{"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"]},
                   {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "system:coredns"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:coredns"},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}]},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns},
         "data": {"Corefile": COREFILE}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns, "labels": labels},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
             "metadata": {"labels": labels},
             "spec": {"serviceAccountName": name, "dnsPolicy": "Default",
                      "priorityClassName": "system-cluster-critical",
                      "containers": [{
                          "name": name, "image": image, "args": ["-conf", "/etc/coredns/Corefile"],
                          "ports": [{"name": "dns", "containerPort": DNS_PORT, "protocol": "UDP"},
                                    {"name": "dns-tcp", "containerPort": DNS_PORT, "protocol": "TCP"}],
                          "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 1},
                          "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}, "periodSeconds": 10},
                          "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
                          "securityContext": RESTRICTED,
                          "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}]}],
                      "volumes": [{"name": "config", "configMap": {"name": name}}]}}}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "kube-dns", "namespace": ns, "labels": {**labels, "kubernetes.io/name": "CoreDNS"}},
         "spec": {"clusterIP": CLUSTER_DNS, "selector": labels, "ports": [
             {"name": "dns", "port": 53, "targetPort": DNS_PORT, "protocol": "UDP"},
             {"name": "dns-tcp", "port": 53, "targetPort": DNS_PORT, "protocol": "TCP"}]}},
    ]


def _local_path_config() -> dict[str, object]:
    helper = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "helper-pod"},
              "spec": {"containers": [{"name": "helper-pod", "image": HELPER_IMAGE}]}}
    return {
        "config.json": json.dumps({"nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES",
                                                        "paths": [str(LOCAL_PATH_DIR)]}]}),
        "setup": '#!/bin/sh\nset -eu\nmkdir -m 0777 -p "$VOL_DIR"\n',
        "teardown": '#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"\n',
        "helperPod.yaml": yaml.safe_dump(helper),
    }


def local_path() -> list[dict[str, object]]:
    ns, name, sa = "local-path-storage", "local-path-provisioner", "local-path-provisioner-service-account"
    image = f"localhost/swarm-node/local-path-provisioner:{versions()['LOCAL_PATH_VERSION']}"
    rbac = "rbac.authorization.k8s.io/v1"
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": ns}},
        {"apiVersion": rbac, "kind": "Role", "metadata": {"name": name, "namespace": ns}, "rules": [
            {"apiGroups": [""], "resources": ["pods"],
             "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"]}]},
        {"apiVersion": rbac, "kind": "RoleBinding", "metadata": {"name": name, "namespace": ns},
         "roleRef": {"apiGroup": rbac.split("/")[0], "kind": "Role", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]},
        {"apiVersion": rbac, "kind": "ClusterRole", "metadata": {"name": name}, "rules": [
            {"apiGroups": [""], "resources": ["nodes", "persistentvolumeclaims", "configmaps", "pods", "pods/log"],
             "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["persistentvolumes"],
             "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
            {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": ["get", "list", "watch"]}]},
        {"apiVersion": rbac, "kind": "ClusterRoleBinding", "metadata": {"name": name},
         "roleRef": {"apiGroup": rbac.split("/")[0], "kind": "ClusterRole", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "local-path-config", "namespace": ns},
         "data": _local_path_config()},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}}, "template": {
             "metadata": {"labels": {"app": name}},
             "spec": {"serviceAccountName": sa, "containers": [{
                 "name": name, "image": image,
                 "command": ["/local-path-provisioner", "start", "--config", "/etc/config/config.json",
                             "--helper-image", HELPER_IMAGE],
                 "env": [{"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                         {"name": "CONFIG_MOUNT_PATH", "value": "/etc/config/"}],
                 "volumeMounts": [{"name": "config", "mountPath": "/etc/config/"}]}],
                 "volumes": [{"name": "config", "configMap": {"name": "local-path-config"}}]}}}},
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
         "metadata": {"name": "local-path", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
         "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer",
         "reclaimPolicy": "Delete"},
    ]


def apply(kubeconfig: Path, objects: list[dict[str, object]]) -> None:
    text = yaml.safe_dump_all(objects)
    subprocess.run([str(BIN / "kubectl"), "--kubeconfig", str(kubeconfig), "apply", "--server-side",
                    "--force-conflicts", "-f", "-"], input=text, text=True, check=True, capture_output=True)


def install(kubeconfig: Path) -> None:
    """Apply both add-ons (their pods start in the background; `wait_ready` waits for them)."""
    apply(kubeconfig, [*coredns(), *local_path()])


def wait_ready(kubeconfig: Path, timeout: int = 120) -> None:
    for ns, deployment in (("kube-system", "coredns"), ("local-path-storage", "local-path-provisioner")):
        subprocess.run([str(BIN / "kubectl"), "--kubeconfig", str(kubeconfig), "-n", ns, "rollout", "status",
                        f"deployment/{deployment}", f"--timeout={timeout}s"],
                       check=True, capture_output=True, text=True)
