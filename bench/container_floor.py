"""The cold start's container floor: the same swarm-peer image the operator's pods run, started by
hand with podman in the right order, one container per peer, no Kubernetes (what a pod costs).

A DHT bootstrap node (started once, as the cluster's private DHT is there before every apply);
then per run: the host, its `/readyz` awaited (the announce flushed, what the pods' readiness probe
asks), the base key and the host's public key read from its `/status`, then the N clients at once
with them, until every client's `/readyz` answers 200. Each container gets the env the operator
gives its pod (`host_env` / `client_env` of the operator's own builders, with `status.podIP` and the
ConfigMap's keys resolved here), the Secret files at the same paths, the same user, read-only root
and dropped capabilities. The containers sit on a podman bridge network of their own (fixed
addresses, so `SWARM_DHT_HOST` is known before the start, as the pod IP is to the kubelet), which
this process reaches directly. Everything it makes carries the label `io.swarm-operator.bench=<id>`
and is removed by `close()` (also after a failure or Ctrl-C); after a `kill -9`:
`podman rm -f --filter label=io.swarm-operator.bench` and `podman network rm swarm-bench-<pid>`.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from e2e_support import wait_for
from swarm_operator import names
from swarm_operator.children.deployment import client_env
from swarm_operator.children.pods import PEER_UID, clients_are_members, replace_named
from swarm_operator.children.statefulset import host_env
from swarm_operator.config import DEFAULT_PEER_IMAGE
from swarm_operator.identity import new_seed
from swarm_operator.models import SwarmTopicSpec

REPO = Path(__file__).resolve().parent.parent
LABEL = "io.swarm-operator.bench"
DHT_PORT = 49737
STATUS_PORT = names.DEFAULT_STATUS_PORT
# The pods' container securityContext (children/pods.py), as podman flags.
SECURITY = ["--user", f"{PEER_UID}:{PEER_UID}", "--read-only", "--cap-drop", "all",
            "--security-opt", "no-new-privileges"]
# The floor's network: a /16 of these (the first that no route and no podman network overlaps), so
# that no address is ever given twice in a process run, as the node's host-local IPAM hands out pod
# IPs one after the other (a new peer on a dead one's address meets the DHT's stale records of it).
SUBNETS = [ipaddress.IPv4Network(f"10.{second}.0.0/16") for second in range(90, 100)]


def resolve_env(env: list[dict[str, Any]], pod_ip: str, configmap: Mapping[str, str]) -> dict[str, str]:
    """A pod's env list as the kubelet resolves it: plain values, `status.podIP`, the ConfigMap's
    keys (an optional one that is missing is left out, a required one is an error)."""
    out: dict[str, str] = {}
    for entry in env:
        if "value" in entry:
            out[entry["name"]] = str(entry["value"])
            continue
        source = entry.get("valueFrom") or {}
        if source.get("fieldRef", {}).get("fieldPath") == "status.podIP":
            out[entry["name"]] = pod_ip
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            if ref["key"] in configmap:
                out[entry["name"]] = configmap[ref["key"]]
            elif not ref.get("optional"):
                raise ValueError(f"{entry['name']}: the ConfigMap has no {ref['key']}")
        else:
            raise ValueError(f"{entry['name']}: the floor cannot resolve {source}")
    return out


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": os.environ.get(
        "CONTAINERS_CONF", str(REPO / "scripts" / "containers" / "containers.conf"))}


def podman(*args: str, timeout: float = 120) -> str:
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, env=podman_env())
    if proc.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args[:2])} failed: {proc.stderr.strip()[-1000:]}")
    return proc.stdout


def peer_ready(base: str, timeout: float = 2.0) -> bool:
    """Whether the swarm-peer at `base` (http://HOST:PORT) answers its `/readyz` (what its pod's
    readiness probe asks)."""
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=timeout) as rsp:
            return rsp.status == 200
    except OSError:
        return False


def peer_json(base: str, path: str) -> Any:
    with urllib.request.urlopen(f"{base}{path}", timeout=2) as rsp:
        return json.loads(rsp.read())


def http_ready(ip: str) -> bool:
    return peer_ready(f"http://{ip}:{STATUS_PORT}", timeout=1.0)


def http_json(ip: str, path: str) -> Any:
    return peer_json(f"http://{ip}:{STATUS_PORT}", path)


def secret_dir(path: Path, files: dict[str, str]) -> Path:
    """A Secret volume's files, world-readable (the pods' are 0440 to their fsGroup or 0444)."""
    path.mkdir(parents=True)
    for key, value in files.items():
        (path / key).write_text(value)
        (path / key).chmod(0o444)
    return path


def data_dir(path: Path) -> Path:
    """A writable /data for uid 10001 (the host's PVC, a client's emptyDir)."""
    path.mkdir(parents=True)
    os.chown(path, PEER_UID, PEER_UID)
    return path


class ContainerFloor:
    """The floor's network and DHT node live as long as it; `cold_start` runs one topic."""

    def __init__(self, work: Path, image: str = DEFAULT_PEER_IMAGE, extra_bootstrap: tuple[str, ...] = ()) -> None:
        self.work, self.image, self.extra_bootstrap = work, image, extra_bootstrap
        self.id = f"swarm-bench-{os.getpid()}"
        self.network: str | None = None
        podman("image", "exists", image)
        subnet = self.create_network()
        self.addresses: Iterator[str] = (str(a) for a in subnet.hosts() if int(a) % 256 not in (0, 1, 255))
        self.dht_ip = next(self.addresses)
        try:
            self.run_container("dht", self.dht_ip, ["dht-bootstrap", "--host", self.dht_ip, "--port",
                                                    str(DHT_PORT)], {}, [])
            wait_for("the floor's DHT node", lambda: http_ready(self.dht_ip), timeout=60, interval=0.05)
        except BaseException:  # Ctrl-C included: the caller never gets the floor to close
            self.close()
            raise

    def create_network(self) -> ipaddress.IPv4Network:
        """A podman bridge network of the floor's own on the first free subnet of SUBNETS."""
        routes = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True, check=True).stdout
        routed = [ipaddress.ip_network(line.split()[0]) for line in routes.splitlines()
                  if line and line.split()[0][0].isdigit()]
        for subnet in SUBNETS:
            if any(subnet.overlaps(r) for r in routed):
                continue
            try:  # podman refuses a subnet one of its networks has: try the next
                podman("network", "create", "--subnet", str(subnet), "--label", f"{LABEL}={self.id}", self.id)
            except RuntimeError:
                continue
            self.network = self.id
            return subnet
        raise RuntimeError(f"no free subnet for the container floor among {SUBNETS[0]}..{SUBNETS[-1]}")

    def run_args(self, name: str, ip: str, args: list[str], env: dict[str, str],
                 mounts: list[tuple[Path, str, bool]]) -> list[str]:
        """The `podman run` command line of one peer."""
        cmd = ["run", "-d", "--name", f"{self.id}-{name}", "--label", f"{LABEL}={self.id}",
               "--network", self.id, "--ip", ip, *SECURITY]
        for source, target, read_only in mounts:
            cmd += ["-v", f"{source}:{target}{':ro' if read_only else ''}"]
        for key, value in env.items():
            cmd += ["-e", f"{key}={value}"]
        return [*cmd, self.image, *args]

    def run_container(self, name: str, ip: str, args: list[str], env: dict[str, str],
                      mounts: list[tuple[Path, str, bool]]) -> None:
        podman(*self.run_args(name, ip, args, env, mounts))

    def cold_start(self, run: int, clients: int, manifest: dict[str, Any]) -> tuple[float, set[str], dict[str, float]]:
        """One topic from nothing to N ready clients: (seconds, the clients' base keys, phases)."""
        name = f"r{run}-{clients}"
        spec = SwarmTopicSpec.model_validate(
            {**manifest["spec"], "dht": {"bootstrap": [f"{self.dht_ip}:{DHT_PORT}", *self.extra_bootstrap]}})
        run_dir = self.work / name
        secrets = self.secrets(run_dir)
        host_ip, client_ips = next(self.addresses), [next(self.addresses) for _ in range(clients)]
        phases: dict[str, float] = {}
        started = time.monotonic()
        try:
            self.start_host(name, host_ip, spec, run_dir, secrets)
            phases["podman run (host)"] = time.monotonic() - started
            wait_for("the floor host Ready", lambda: http_ready(host_ip), timeout=120, interval=0.05)
            phases["host Ready"] = time.monotonic() - started
            envelope = http_json(host_ip, "/status")
            configmap = {names.CM_BASE_KEY: json.loads(envelope["payload"])["baseKey"],
                         names.CM_HOST_PUBLIC_KEY: envelope["publicKey"]}
            self.start_clients(name, client_ips, spec, manifest, run_dir, secrets, configmap)
            phases["podman run (clients)"] = time.monotonic() - started
            wait_for("the floor clients Ready", lambda: all(http_ready(ip) for ip in client_ips),
                     timeout=300, interval=0.05)
            seconds = time.monotonic() - started
            keys = {http_json(ip, "/status")["baseKey"] for ip in client_ips}
        finally:
            self.remove(f"{self.id}-{name}-")
            shutil.rmtree(run_dir, ignore_errors=True)
        return seconds, keys, phases

    def secrets(self, run_dir: Path) -> dict[str, Path]:
        """The topic's three Secrets (as the operator makes them: fresh seeds) as mountable dirs."""
        return {
            names.IDENTITY_MOUNT_PATH: secret_dir(run_dir / "identity", {names.IDENTITY_SEED_KEY: new_seed()}),
            names.MEMBER_MOUNT_PATH: secret_dir(run_dir / "member", {names.MEMBER_SEED_KEY: new_seed()}),
            names.ENCRYPTION_MOUNT_PATH: secret_dir(run_dir / "encryption", {names.ENCRYPTION_KEY_KEY: new_seed()}),
        }

    def start_host(self, name: str, ip: str, spec: SwarmTopicSpec, run_dir: Path,
                   secrets: dict[str, Path]) -> None:
        env = resolve_env(host_env(name, spec), ip, {})
        mounts = [(data_dir(run_dir / "host-data"), names.DATA_MOUNT_PATH, False),
                  *((path, target, True) for target, path in secrets.items())]
        self.run_container(f"{name}-host", ip, ["host"], env, mounts)

    def start_clients(self, name: str, ips: list[str], spec: SwarmTopicSpec, manifest: dict[str, Any],
                      run_dir: Path, secrets: dict[str, Path], configmap: dict[str, str]) -> None:
        """All N `podman run`s at once (as a shell would with `&`), each with its pod's env."""
        container = manifest["spec"]["clients"][0]["template"]["spec"]["containers"][0]
        env_list = replace_named(container.get("env", []), client_env(name, spec))
        mounted = [names.ENCRYPTION_MOUNT_PATH, *([names.MEMBER_MOUNT_PATH] if clients_are_members(spec) else [])]
        procs = []
        for i, ip in enumerate(ips):
            mounts = [(data_dir(run_dir / f"client-{i}"), names.DATA_MOUNT_PATH, False),
                      *((secrets[target], target, True) for target in mounted)]
            cmd = self.run_args(f"{name}-client-{i}", ip, container.get("args", ["client"]),
                                resolve_env(env_list, ip, configmap), mounts)
            procs.append(subprocess.Popen(["podman", *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                          env=podman_env()))
        failed = [p.stderr.read().decode() for p in procs if p.wait() != 0 and p.stderr]
        if failed:
            raise RuntimeError(f"podman run of {len(failed)} clients failed: {failed[0][-1000:]}")

    def remove(self, prefix: str) -> None:
        """Remove (SIGKILL, no grace: stopping is not measured) this floor's containers whose name
        starts with `prefix`."""
        listing = podman("ps", "-a", "--filter", f"label={LABEL}={self.id}", "--format", "{{.Names}}")
        doomed = [n for n in listing.split() if n.startswith(prefix)]
        if doomed:
            podman("rm", "-f", "-t", "0", *doomed)

    def close(self) -> None:
        """Every container and the network this floor made."""
        if self.network is None:
            return
        try:
            self.remove(self.id)
        finally:
            podman("network", "rm", "-f", self.network)
            self.network = None
