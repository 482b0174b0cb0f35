"""The configuration files of the local cluster's real node, rendered from one `NodeLayout`:
containerd's config.toml and registry mirrors, the CNI network, the KubeletConfiguration and the
KubeProxyConfiguration. Pure functions (no I/O but `write_all`); the mandatory settings of this
machine kind (shared notes, real-node-facts.md) are marked MANDATORY.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .controlplane import REPO

NODE_ROOT = Path("/var/lib/swarm-node")  # kubelet and CNI state, configs: one node per machine
CACHE = Path(os.environ.get("SWARM_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
             / "swarm-operator")
# containerd's root (content store, unpacked snapshots, metadata) is a cache like podman's store:
# kept between sessions, so a node pulls only images that changed (a cold pull of the peer image
# costs ~20 s). Containers never outlive a session: `Node.stop` removes them.
CONTAINERD_ROOT = CACHE / "containerd"
NODE_RUN = Path("/run/swarm-node")  # sockets
BRIDGE = "cni-swarm0"
POD_SUBNET = "10.244.0.0/24"
NODE_IP = "10.244.0.1"  # the bridge's address: the node's InternalIP, and where pods reach the host
CLUSTER_CIDR = "10.244.0.0/16"
CLUSTER_DNS = "10.0.0.10"  # in the control plane's Service range (10.0.0.0/24)
CLUSTER_DOMAIN = "cluster.local"
CNI_NETWORK = "swarm-pod-network"
CNI_BIN = Path("/usr/lib/cni")  # Debian's containernetworking-plugins
RUNC = "/usr/sbin/runc"  # Debian's runc
# Image names the node pulls through the local registry (containerd's hosts.toml per name).
MIRRORED = ("ghcr.io", "registry.k8s.io", "docker.io", "localhost")


def versions() -> dict[str, str]:
    """scripts/node-versions.env: the versions the set-up built (one source for bash and Python)."""
    pairs = {}
    for line in (REPO / "scripts" / "node-versions.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            pairs[key.strip()] = value.strip()
    return pairs


def pause_image() -> str:
    return f"localhost/swarm-node/pause:{versions()['PAUSE_TAG']}"


@dataclass(frozen=True)
class NodeLayout:
    """Where the node keeps everything, so that a teardown finds it again (even after a kill)."""

    name: str = "swarm-node"
    root: Path = NODE_ROOT
    run: Path = NODE_RUN
    registry: str = "127.0.0.1:5000"
    max_pods: int = 110
    containerd_root: Path = CONTAINERD_ROOT
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def containerd_state(self) -> Path:
        return self.run / "containerd"

    @property
    def containerd_socket(self) -> Path:
        return self.run / "containerd" / "containerd.sock"

    @property
    def shim_sockets(self) -> Path:
        return self.run / "s"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def cni_conf_dir(self) -> Path:
        return self.config_dir / "net.d"  # MANDATORY: not /etc/cni/net.d (podman's network is there)

    @property
    def cni_data_dir(self) -> Path:
        return self.root / "cni" / "networks"

    @property
    def mirrors_dir(self) -> Path:
        return self.config_dir / "certs.d"


def containerd_toml(layout: NodeLayout) -> str:
    cri_runtime = '[plugins."io.containerd.cri.v1.runtime"]'
    runc = '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]'
    images = '[plugins."io.containerd.cri.v1.images"]'
    return f"""version = 3
root = "{layout.containerd_root}"
state = "{layout.containerd_state}"

[grpc]
  address = "{layout.containerd_socket}"

[plugins."io.containerd.shim.v1.manager"]
  socket_dir = "{layout.shim_sockets}"

{cri_runtime}
  # MANDATORY here: no CAP_SYS_RESOURCE, so a sandbox's oom_score_adj below containerd's own fails in runc.
  restrict_oom_score_adj = true
  # The pods' network namespaces under containerd's state dir (ours), not in /run/netns (shared
  # with podman and `ip netns`): a teardown then finds and unmounts every one of them.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    {runc}
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "{RUNC}"
        Root = "{layout.run / 'runc'}"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["{CNI_BIN}"]
    conf_dir = "{layout.cni_conf_dir}"
    max_conf_num = 1

{images}
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "{pause_image()}"
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "{layout.mirrors_dir}"
"""


def hosts_toml(registry: str, upstream: str) -> str:
    """A mirror for `upstream` (ghcr.io, ...): every pull of `upstream/REPO:TAG` goes to the local
    registry as `REPO:TAG`, and nothing goes upstream (the `server` is the local registry too)."""
    return f"""server = "http://{registry}"

[host."http://{registry}"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
"""


def cni_conflist(layout: NodeLayout) -> dict[str, object]:
    return {
        "cniVersion": "1.0.0", "name": CNI_NETWORK,
        "plugins": [
            {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False, "hairpinMode": True,
             "ipam": {"type": "host-local", "dataDir": str(layout.cni_data_dir),
                      "ranges": [[{"subnet": POD_SUBNET, "gateway": NODE_IP}]],
                      "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(layout: NodeLayout, ca_crt: Path) -> dict[str, object]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
        "failCgroupV1": False,  # MANDATORY: these machines have hybrid cgroups (v1 controllers)
        "cgroupDriver": "cgroupfs",  # no systemd
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "failSwapOn": False,
        "address": NODE_IP,  # the kubelet's API (logs, exec, port-forward) on the pod bridge only
        "port": 10250,
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(ca_crt)}},
        "authorization": {"mode": "Webhook"},
        "clusterDomain": CLUSTER_DOMAIN, "clusterDNS": [CLUSTER_DNS],
        "readOnlyPort": 0, "healthzBindAddress": "127.0.0.1", "healthzPort": 10248,
        "rotateCertificates": False, "serverTLSBootstrap": False,
        "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                         "nodefs.inodesFree": "1%"},
        "maxPods": layout.max_pods,
        "serializeImagePulls": False,
        "resolvConf": "/etc/resolv.conf",
        "nodeStatusReportFrequency": "10s",
        "shutdownGracePeriod": "0s",
        "localStorageCapacityIsolation": True,
    }


def kube_proxy_config(layout: NodeLayout, kubeconfig: Path) -> dict[str, object]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
        "mode": "iptables", "clusterCIDR": CLUSTER_CIDR, "hostnameOverride": layout.name,
        "bindAddress": NODE_IP, "metricsBindAddress": "127.0.0.1:10249", "healthzBindAddress": "127.0.0.1:10256",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        # Leave the conntrack sysctls alone (a teardown then has fewer kernel settings to restore).
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }


def write_all(layout: NodeLayout, ca_crt: Path, proxy_kubeconfig: Path) -> dict[str, Path]:
    """Write every config file under `layout.config_dir`; returns them by name."""
    conf = layout.config_dir
    shutil.rmtree(conf, ignore_errors=True)
    layout.cni_conf_dir.mkdir(parents=True)
    files = {
        "containerd": conf / "containerd.toml",
        "cni": layout.cni_conf_dir / "10-swarm.conflist",
        "kubelet": conf / "kubelet.yaml",
        "kube-proxy": conf / "kube-proxy.yaml",
    }
    files["containerd"].write_text(containerd_toml(layout))
    files["cni"].write_text(json.dumps(cni_conflist(layout), indent=1))
    files["kubelet"].write_text(json.dumps(kubelet_config(layout, ca_crt), indent=1))
    files["kube-proxy"].write_text(json.dumps(kube_proxy_config(layout, proxy_kubeconfig), indent=1))
    for upstream in MIRRORED:
        (layout.mirrors_dir / upstream).mkdir(parents=True)
        (layout.mirrors_dir / upstream / "hosts.toml").write_text(hosts_toml(layout.registry, upstream))
    return files
