"""What a node can leave behind on this machine, read into one comparable snapshot: the node's
processes, mounts, network links and namespaces, nftables/iptables rules, cgroups and the kernel
settings a kubelet, kube-proxy or CNI plugin changes. `diff(before, after)` lists every
difference; `python -m localcluster check` prints it against a saved snapshot.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

# Processes of the node's programs (by executable name), whatever their arguments.
NODE_PROGRAMS = frozenset({
    "kubelet", "kube-proxy", "containerd", "containerd-shim-runc-v2", "ctr", "runc", "coredns", "kwok",
    "kube-router", "local-path-provisioner", "docker-registry", "catatonit", "conntrack", "ipset",
})
# Kernel settings the node's components are known to change (facts note, section 6), and their kin.
SYSCTLS = (
    "vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes", "net.ipv4.ip_forward",
    "net.ipv4.conf.all.route_localnet", "net.ipv4.conf.all.forwarding", "net.ipv6.conf.all.forwarding",
    "net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables",
    "net.netfilter.nf_conntrack_max", "net.netfilter.nf_conntrack_tcp_timeout_established",
    "net.netfilter.nf_conntrack_tcp_timeout_close_wait", "net.ipv4.vs.conntrack",
    "net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.forwarding",
)
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_DEPTH = 3  # kubepods/<qos>/<pod> and their podman counterparts


def _run(*argv: str) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def read_sysctl(key: str) -> str | None:
    try:
        return Path("/proc/sys", key.replace(".", "/")).read_text().strip()
    except OSError:
        return None


def write_sysctl(key: str, value: str) -> None:
    Path("/proc/sys", key.replace(".", "/")).write_text(value)


def sysctls() -> dict[str, str]:
    return {k: v for k in SYSCTLS if (v := read_sysctl(k)) is not None}


def node_processes() -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            exe = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        exe = exe.removesuffix(" (deleted)")
        if exe == "docker-registry" and "swarm-operator/registry" not in cmd:
            continue  # another registry (a release test's own): not the node's
        if exe in NODE_PROGRAMS:
            found.append(f"{exe}: {cmd[:160]}")
    return sorted(found)


PODMAN_STORE = "/var/lib/containers/storage"  # podman mounts its store once and keeps it: not the node's


def mounts() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if not fields[4].startswith(PODMAN_STORE):
            points.append(f"{fields[4]} ({fields[fields.index('-') + 1]})")
    return sorted(points)


def links() -> list[str]:
    return sorted(line.split(":")[1].strip().split("@")[0] for line in _run("ip", "-o", "link", "show").splitlines()
                  if line.count(":") >= 2)


def netns() -> list[str]:
    return sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else []


def _rules(text: str) -> list[str]:
    """Rules without comments and packet counters (which change with any traffic)."""
    return [re.sub(r"\[\d+:\d+\]", "[-]", line) for line in text.splitlines()
            if line.strip() and not line.startswith("#")]


def nft_objects() -> list[str]:
    """nftables' tables, chains and rules, one line each and named in full (`chain ip nat OUTPUT`,
    `rule ip nat OUTPUT: [...]`), without handles and counters."""
    try:
        items = json.loads(_run("nft", "-j", "list", "ruleset") or "{}").get("nftables", [])
    except ValueError:
        return []
    lines = []
    for item in items:
        kind, body = next(iter(item.items()))
        if kind == "table":
            lines.append(f"table {body['family']} {body['name']}")
        elif kind == "chain":
            lines.append(f"chain {body['family']} {body['table']} {body['name']}")
        elif kind in ("rule", "set", "map"):
            where = f"{body['family']} {body['table']} {body.get('chain', body.get('name'))}"
            expr = re.sub(r'\{"counter": \{[^}]*\}\}', '"counter"', json.dumps(body.get("expr", body.get("type"))))
            lines.append(f"{kind} {where}: {expr}")
    return sorted(lines)


def firewall() -> dict[str, list[str]]:
    return {"nft": nft_objects(), "iptables": _rules(_run("iptables-save")),
            "ip6tables": _rules(_run("ip6tables-save")), "ipsets": sorted(_run("ipset", "list", "-n").split())}


def cgroups() -> list[str]:
    found = []
    if not CGROUP_ROOT.is_dir():
        return found
    for hierarchy in sorted(CGROUP_ROOT.iterdir()):
        if not hierarchy.is_dir() or hierarchy.is_symlink():
            continue
        base = len(hierarchy.parts)
        for dirpath, dirnames, _ in os.walk(hierarchy):
            depth = len(Path(dirpath).parts) - base
            if depth >= CGROUP_DEPTH:
                dirnames.clear()
            name = str(Path(dirpath).relative_to(CGROUP_ROOT))
            if "process_api" in name:  # the machine's own agent makes one per command it runs
                dirnames.clear()
            elif depth:
                found.append(name)
    return sorted(found)


# Paths a node makes outside its own directories (kubelet defaults, CNI's cache, containerd's defaults).
PATHS = ("/var/lib/kubelet", "/var/log/pods", "/var/log/containers", "/var/lib/containerd", "/run/containerd",
         "/var/lib/swarm-node", "/run/swarm-node", "/etc/kubernetes", "/var/lib/cni/networks", "/var/lib/cni/results",
         "/etc/cni/net.d", "/opt/cni", "/var/lib/kube-proxy")


def paths() -> list[str]:
    """Which of PATHS exist, and what the directories among them hold (one level)."""
    found = []
    for path in map(Path, PATHS):
        if path.exists():
            found.append(str(path))
            if path.is_dir():
                found += [str(child) for child in path.iterdir()]
    return sorted(found)


def snapshot() -> dict[str, Any]:
    return {"processes": node_processes(), "mounts": mounts(), "links": links(), "netns": netns(),
            "firewall": firewall(), "cgroups": cgroups(), "sysctls": sysctls(), "paths": paths()}


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Every difference, one line each: `+ what` is new after, `- what` went missing."""
    lines: list[str] = []
    for key in before.keys() | after.keys():
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) and isinstance(new, dict) and key != "sysctls":
            lines += [f"{key}.{line}" for line in diff(old, new)]
        elif key == "sysctls":
            lines += [f"sysctl {k}: {old.get(k)} -> {new.get(k)}" for k in sorted(old.keys() | new.keys())
                      if old.get(k) != new.get(k)]
        else:
            lines += [f"{key} + {item}" for item in sorted(set(new or []) - set(old or []))]
            lines += [f"{key} - {item}" for item in sorted(set(old or []) - set(new or []))]
    return sorted(lines)


def save(path: Path) -> dict[str, Any]:
    snap = snapshot()
    path.write_text(json.dumps(snap, indent=1))
    return snap
