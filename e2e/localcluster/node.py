"""The local cluster's real node: containerd v2 + runc, the kubelet and kube-proxy built from
source, on a bridge of its own (docs/localcluster.md; shared notes, real-node-facts.md).

One node per machine: `start()` takes a lock (`/run/swarm-node.lock`), removes what a killed run
left (`teardown`), records the kernel settings, then brings up the bridge, containerd, the kubelet
(Ready) and kube-proxy. `stop()` deletes the pods through the API (so CNI DEL and the kubelet's
own clean-up run), stops the components and tears everything down.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .controlplane import BIN, ControlPlane
from .node_config import BRIDGE, NODE_IP, POD_SUBNET, NodeLayout, write_all
from .procs import Component, wait_until
from .teardown import remember, teardown

LOCK = Path("/run/swarm-node.lock")


class NodeBusy(RuntimeError):
    pass


def node_binaries() -> dict[str, Path]:
    names = ("kubelet", "kube-proxy", "containerd", "containerd-shim-runc-v2", "ctr")
    return {name: BIN / name for name in names}


class Node:
    """`Node(plane, registry_address).start()`; `stop()` undoes it all."""

    def __init__(self, plane: ControlPlane, registry: str, logs: Path, max_pods: int = 110) -> None:
        self.plane = plane
        self.layout = NodeLayout(name=plane.node_name, registry=registry, max_pods=max_pods)
        self.logs = logs
        self.components: list[Component] = []
        self._lock: int | None = None
        self.timings: dict[str, float] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        missing = [str(p) for p in node_binaries().values() if not p.exists()]
        if missing:
            raise FileNotFoundError(f"node binaries missing ({', '.join(missing)}): run scripts/build-node.sh")
        self._take_lock()
        started = time.monotonic()
        done = teardown(self.layout, BIN / "kube-proxy")
        if done:
            print(f"localcluster: removed a previous node's leftovers: {'; '.join(done)}", file=sys.stderr, flush=True)
        remember(self.layout)
        self._bridge()
        files = write_all(self.layout, self.plane.pki.ca_crt, self.plane.proxy_kubeconfig())
        self._containerd(files["containerd"])
        self._mark("containerd", started)
        self._kubelet(files["kubelet"])
        self._mark("kubelet Ready", started)
        self._kube_proxy(files["kube-proxy"])
        self._mark("kube-proxy", started)

    def stop(self) -> list[str]:
        """Pods go through the API first (so the kubelet stops them and CNI DEL frees their
        addresses), then the components, then `teardown`. Returns what the teardown did."""
        try:
            if self.kubelet_alive():
                self._drain()
        except (OSError, urllib.error.URLError) as exc:  # no API server any more: the teardown still runs
            print(f"localcluster: could not drain the node through the API ({exc})", file=sys.stderr, flush=True)
        finally:
            self._remove_containers()
            for component in reversed(self.components):
                component.stop(grace=15)
            self.components.clear()
            done = teardown(self.layout, BIN / "kube-proxy")
            self._release_lock()
        return done

    def kubelet_alive(self) -> bool:
        return any(c.name == "kubelet" and c.alive() for c in self.components)

    def _mark(self, what: str, started: float) -> None:
        self.timings[what] = round(time.monotonic() - started, 2)

    # -- one node per machine ------------------------------------------------------------------

    def _take_lock(self) -> None:
        fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode().strip()
            os.close(fd)
            raise NodeBusy(f"another local cluster node runs on this machine (pid {holder or '?'}, {LOCK}):"
                           " stop it first (python -m localcluster down)") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock = fd

    def _release_lock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    # -- components ----------------------------------------------------------------------------

    def _bridge(self) -> None:
        """The pods' bridge exists before the kubelet, so `--node-ip` is an address of this machine."""
        prefix = POD_SUBNET.split("/")[1]
        for argv in (["ip", "link", "add", BRIDGE, "type", "bridge"],
                     ["ip", "addr", "add", f"{NODE_IP}/{prefix}", "dev", BRIDGE],
                     ["ip", "link", "set", BRIDGE, "up"]):
            subprocess.run(argv, check=True, capture_output=True)

    def _start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Component:
        component = Component(name, argv, self.logs, env=env)
        component.start()
        self.components.append(component)
        return component

    def _containerd(self, config: Path) -> None:
        # The shim and runc are found on PATH; the tools' directory first (the shim we built).
        env = {**os.environ, "PATH": f"{BIN}:/usr/sbin:/usr/bin:/sbin:/bin"}
        proc = self._start("containerd", [str(BIN / "containerd"), "--config", str(config)], env=env)
        wait_until("containerd", lambda: self.ctr("version").returncode == 0, 30, proc)

    def ctr(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "ctr"), "--address", str(self.layout.containerd_socket), *args],
                              capture_output=True, text=True, timeout=timeout)

    def _kubelet(self, config: Path) -> None:
        proc = self._start("kubelet", [
            str(BIN / "kubelet"), f"--config={config}", f"--kubeconfig={self.plane.node_kubeconfig()}",
            f"--hostname-override={self.layout.name}", f"--node-ip={NODE_IP}",
            f"--root-dir={self.layout.kubelet_root}", f"--cert-dir={self.layout.kubelet_root / 'pki'}", "--v=1",
        ])
        wait_until(f"the Node {self.layout.name} Ready", self._node_ready, 60, proc)

    def _node_ready(self) -> bool:
        node = self.plane.get(f"/api/v1/nodes/{self.layout.name}")
        return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))

    def _kube_proxy(self, config: Path) -> None:
        proc = self._start("kube-proxy", [str(BIN / "kube-proxy"), f"--config={config}", "--v=1"])
        wait_until("kube-proxy healthy", lambda: _http_ok("http://127.0.0.1:10256/healthz"), 30, proc)

    # -- draining ------------------------------------------------------------------------------

    def _drain(self, timeout: float = 60.0) -> None:
        """Delete every pod bound to this node (grace 0) and wait until containerd runs no task (the
        kubelet stopped every sandbox, so CNI DEL released the pods' addresses)."""
        cordon = {"spec": {"unschedulable": True}}  # so no controller's replacement lands here meanwhile
        self.plane.request("PATCH", f"/api/v1/nodes/{self.layout.name}", cordon, "application/merge-patch+json")
        pods: dict[str, Any] = self.plane.get(f"/api/v1/pods?fieldSelector=spec.nodeName%3D{self.layout.name}")
        for pod in pods.get("items", []):
            meta = pod["metadata"]
            self.plane.delete(f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}", grace=0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tasks = self.ctr("-n", "k8s.io", "tasks", "ls").stdout.splitlines()[1:]
            if not any("RUNNING" in line.split() for line in tasks):
                return
            time.sleep(0.5)

    def forget_stale(self, served: dict[str, str | None]) -> list[str]:
        """Drop containerd's records of the images in `served` (ref -> the registry's manifest
        digest) that do not match the registry: containerd keeps its images between sessions, so
        under `IfNotPresent` a tag it already has would keep the digest of an earlier build. The
        kubelet then pulls them again as on any node (only changed layers are downloaded), and the
        pod's imageID names the registry's digest. Returns the refs dropped."""
        records = {}
        for line in self.ctr("-n", "k8s.io", "images", "ls").stdout.splitlines()[1:]:
            fields = line.split()
            if len(fields) >= 3:
                records[fields[0]] = fields[2]
        stale = [ref for ref, digest in served.items() if ref in records and (
            records[ref] != digest or f"{ref.rsplit(':', 1)[0]}@{digest}" not in records)]
        for ref in stale:
            self.ctr("-n", "k8s.io", "images", "rm", ref)
        return stale

    def _remove_containers(self) -> None:
        """containerd keeps its images between sessions, never its containers (sandboxes included)."""
        if not any(c.name == "containerd" and c.alive() for c in self.components):
            return
        for task in self.ctr("-n", "k8s.io", "tasks", "ls", "-q").stdout.split():
            self.ctr("-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", task)
            self.ctr("-n", "k8s.io", "tasks", "rm", "-f", task)
        containers = self.ctr("-n", "k8s.io", "containers", "ls", "-q").stdout.split()
        if containers:
            self.ctr("-n", "k8s.io", "containers", "rm", *containers)

    def describe(self) -> dict[str, str]:
        """kubelet and containerd versions as the Node reports them (e.g. for the demo's summary);
        kube-proxy's from its binary (the Node's `kubeProxyVersion` is deprecated and left empty)."""
        info = self.plane.get(f"/api/v1/nodes/{self.layout.name}")["status"]["nodeInfo"]
        said = subprocess.run([str(BIN / "kube-proxy"), "--version"], capture_output=True, text=True,
                              check=False).stdout.split()  # "Kubernetes v1.35.4"
        return {"name": self.layout.name, "kubelet": info["kubeletVersion"],
                "containerRuntime": info["containerRuntimeVersion"],
                "kubeProxy": info.get("kubeProxyVersion") or (said[-1] if said else ""),
                "os": info["osImage"], "kernel": info["kernelVersion"]}


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as rsp:
        return rsp.status == 200


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1)
