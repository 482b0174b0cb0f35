"""Removes everything the local cluster's node made on this machine and restores the kernel
settings it changed: after a clean stop, and at the next start after a killed run (so it only
trusts what it finds: the node's fixed directories and names, and the record `remember` wrote
before the node's first change).

Order (shared notes, real-node-facts.md section 7): kube-proxy's own cleanup; the node's processes
(kubelet, kube-proxy, containerd, its shims, every process in a kubepods cgroup); mounts under the
node's directories (the pods' network namespaces among them); the bridge; the firewall chains and tables the node
added; the kubepods cgroups; the kernel settings; the node's directories.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

from . import machine
from .node_config import BRIDGE, CNI_NETWORK, NodeLayout

RECORD = "before.json"
# Directories the kubelet and containerd make outside the node's own (the kubelet's pod logs, its
# device-plugin socket dir; containerd's default state dir); removed only when they did not exist before.
MADE_DIRS = ("/var/log/pods", "/var/log/containers", "/var/lib/kubelet", "/run/containerd")
CNI_RESULTS = Path("/var/lib/cni/results")


def remember(layout: NodeLayout) -> None:
    """Record what a teardown must restore, once (a record left by a killed run is kept: it holds
    the values from before that run)."""
    layout.root.mkdir(parents=True, exist_ok=True)
    record = layout.root / RECORD
    if record.exists():
        return
    state = {"sysctls": machine.sysctls(), "nft": _nft_structure(),
             "dirs": [d for d in MADE_DIRS if os.path.exists(d)],
             "cni_results": sorted(p.name for p in CNI_RESULTS.glob("*"))}
    record.write_text(json.dumps(state, indent=1))


def teardown(layout: NodeLayout, kube_proxy: Path | None = None) -> list[str]:
    """Undo the node; returns what was done (for the log). Idempotent: a second run does nothing."""
    record_path = layout.root / RECORD
    record = json.loads(record_path.read_text()) if record_path.exists() else None
    done: list[str] = []
    if kube_proxy and kube_proxy.exists() and _has_kube_chains():
        subprocess.run([str(kube_proxy), "--cleanup", "--v=0"], capture_output=True, timeout=60)
        done.append("kube-proxy --cleanup")
    done += _kill_processes(layout)
    done += _unmount(layout)
    done += _remove_links()
    done += _remove_chains()
    done += _remove_ipsets()
    if record is not None:
        done += _remove_new_nft_structure(record["nft"])
    done += _remove_cgroups()
    if record is not None:
        done += _restore_sysctls(record["sysctls"])
        for directory in MADE_DIRS:
            if directory not in record["dirs"] and os.path.exists(directory):
                shutil.rmtree(directory, ignore_errors=True)
                done.append(f"rm {directory}")
    # containerd's CNI library caches each ADD's result there (its loopback and our network); a DEL
    # removes it, a killed node leaves it.
    for leftover in [*CNI_RESULTS.glob(f"{CNI_NETWORK}-*"), *CNI_RESULTS.glob("cni-loopback-*")]:
        if record is None or leftover.name not in record.get("cni_results", []):
            leftover.unlink(missing_ok=True)
    for directory in (layout.run, layout.root):
        if directory.exists():
            shutil.rmtree(directory, ignore_errors=True)
            done.append(f"rm {directory}")
    return done


# -- processes ---------------------------------------------------------------------------------

def _ours(pid: str, layout: NodeLayout) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        cgroup = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return False
    return str(layout.root) in cmd or str(layout.run) in cmd or "/kubepods" in cgroup


def _kill_processes(layout: NodeLayout) -> list[str]:
    me = str(os.getpid())
    victims = [p for p in os.listdir("/proc") if p.isdigit() and p != me and _ours(p, layout)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in victims:
            try:
                os.kill(int(pid), sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() and not _zombie(p) for p in victims):
            time.sleep(0.1)
    return [f"killed {len(victims)} processes"] if victims else []


def _zombie(pid: str) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


# -- mounts and network ------------------------------------------------------------------------

def mount_points() -> list[str]:
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]


def _unmount(layout: NodeLayout) -> list[str]:
    """Everything mounted under the node's directories (the pods' network namespaces, volumes and
    root filesystems among them; containerd keeps the namespaces under its state dir), deepest
    first, again while any is left (a lazy unmount can uncover another)."""
    prefixes = (str(layout.root) + "/", str(layout.run) + "/")
    tops = (str(layout.root), str(layout.run))
    count = 0
    for _ in range(5):
        ours = sorted({p for p in mount_points() if p.startswith(prefixes) or p in tops}, key=len, reverse=True)
        if not ours:
            break
        for point in ours:
            subprocess.run(["umount", "-l", point], capture_output=True)
            count += 1
    return [f"unmounted {count}"] if count else []


def _remove_links() -> list[str]:
    if not Path(f"/sys/class/net/{BRIDGE}").exists():
        return []
    # veths whose pod network namespace is gone went with it; any left are attached to the bridge
    for port in Path(f"/sys/class/net/{BRIDGE}/brif").iterdir():
        subprocess.run(["ip", "link", "del", port.name], capture_output=True)
    subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
    return [f"ip link del {BRIDGE}"]


# -- firewall ----------------------------------------------------------------------------------

def _has_kube_chains() -> bool:
    return any(":KUBE-" in line for tool in ("iptables-save", "ip6tables-save")
               for line in _run(tool).splitlines()) or "table ip kube-proxy" in _run("nft", "list", "tables")


def _run(*argv: str) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _remove_chains() -> list[str]:
    """The KUBE-* chains kube-proxy's cleanup leaves (the kubelet's KUBE-FIREWALL, KUBE-KUBELET-CANARY,
    KUBE-IPTABLES-HINT ...; kube-router's KUBE-ROUTER-*) and the rules that jump to them, in every
    table, v4 and v6."""
    removed = 0
    for tool in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle", "raw"):
            rules = _run(tool, "-t", table, "-S").splitlines()
            for rule in rules:
                if rule.startswith("-A ") and not rule.startswith("-A KUBE-") and re.search(r"-j KUBE-", rule):
                    subprocess.run([tool, "-t", table, "-D", *shlex.split(rule)[1:]], capture_output=True)
            chains = [r.split()[1] for r in rules if r.startswith("-N KUBE-")]
            for chain in chains:
                subprocess.run([tool, "-t", table, "-F", chain], capture_output=True)
            for chain in chains:
                gone = subprocess.run([tool, "-t", table, "-X", chain], capture_output=True).returncode == 0
                removed += gone
    for family in ("ip", "ip6"):
        if f"table {family} kube-proxy" in _run("nft", "list", "tables"):
            subprocess.run(["nft", "delete", "table", family, "kube-proxy"], capture_output=True)
            removed += 1
    return [f"removed {removed} firewall chains/tables"] if removed else []


def _remove_ipsets() -> list[str]:
    """kube-router's ipsets (its chains are KUBE-* and go above)."""
    names = [n for n in _run("ipset", "list", "-n").split() if n.startswith(("KUBE-", "kube-router"))]
    for name in names:
        subprocess.run(["ipset", "destroy", name], capture_output=True)
    return [f"ipset destroy {len(names)} sets"] if names else []


def _nft_structure() -> list[str]:
    return [line for line in machine.nft_objects() if line.startswith(("table ", "chain "))]


def _remove_new_nft_structure(before: list[str]) -> list[str]:
    """Chains and tables iptables-nft created for the node (e.g. `chain ip filter INPUT`, `table ip
    mangle`) once they hold no rule: chains first, then the tables they leave empty."""
    removed = []
    for kind in ("chain", "table"):
        now = machine.nft_objects()
        for line in sorted(set(_nft_structure()) - set(before)):
            if not line.startswith(kind):
                continue
            family, table, *chain = line.split()[1:]
            inside = f"{family} {table} {chain[0]}:" if chain else f"{family} {table} "
            if any(o.startswith(("rule " + inside, "chain " + inside if not chain else "-")) for o in now):
                continue
            subprocess.run(["nft", "delete", kind, family, table, *chain], capture_output=True)
            removed.append(f"nft delete {line}")
    return removed


# -- cgroups and kernel settings -----------------------------------------------------------------

def _remove_cgroups() -> list[str]:
    removed = 0
    for hierarchy in machine.CGROUP_ROOT.iterdir() if machine.CGROUP_ROOT.is_dir() else []:
        top = hierarchy / "kubepods"
        if not top.is_dir() or hierarchy.is_symlink():
            continue
        for dirpath, _, _ in sorted(os.walk(top), key=lambda w: len(w[0]), reverse=True):
            try:
                os.rmdir(dirpath)
                removed += 1
            except OSError:
                pass
    return [f"removed {removed} cgroups"] if removed else []


def _restore_sysctls(before: dict[str, str]) -> list[str]:
    restored = []
    for key, value in before.items():
        now = machine.read_sysctl(key)
        if now is not None and now.split() != value.split():
            try:
                machine.write_sysctl(key, value)
                restored.append(f"sysctl {key}: {now} -> {value}")
            except OSError as exc:
                restored.append(f"sysctl {key}: could not restore {value} ({exc})")
    return restored
