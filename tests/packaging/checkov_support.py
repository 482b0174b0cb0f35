"""checkov (the real one, .tools/bin/checkov from scripts/install-tools.sh) over what a user runs:
the chart as rendered by helm, and the children the operator makes for every example SwarmTopic
(rendered by the builders of `swarm_operator.children` from the example's spec, as the operator
does), plus the examples that are plain manifests. Every failure must be listed, with its reason,
in checkov-accepted.yaml."""

from __future__ import annotations

import fnmatch
import json
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from packaging_support import HERE, REPO, render, tool
from swarm_operator import children, names, owned
from swarm_operator.cli import build_parser, config_of
from swarm_operator.config import DEFAULT_PEER_IMAGE, TopicNetwork
from swarm_operator.identity import new_seed, public_key_of
from swarm_operator.models import SwarmTopicSpec

ACCEPTED = HERE / "checkov-accepted.yaml"
EXAMPLES = REPO / "examples"
ALL_FEATURES = HERE / "all-features-values.yaml"
# The shape of a released chart: `make release` writes the digests it pushed into the values.
OPERATOR_DIGEST = "sha256:" + "1f" * 32
PEER_DIGEST = "sha256:" + "2e" * 32
RELEASED = (f"image.digest={OPERATOR_DIGEST}", f"peerImage.digest={PEER_DIGEST}")
RELEASED_PEER_IMAGE = f"{DEFAULT_PEER_IMAGE}@{PEER_DIGEST}"


@dataclass(frozen=True)
class Failure:
    target: str  # which rendering (chart-defaults, children:examples/topic.yaml, ...)
    check: str  # CKV_K8S_11
    kind: str  # Deployment
    name: str  # namespace.name as checkov prints it
    title: str

    def __str__(self) -> str:
        return f"{self.target}: {self.check} {self.kind} {self.name} ({self.title})"


def chart_network() -> TopicNetwork:
    """The operator's side of the topics' NetworkPolicies as the chart's default install runs it: the
    operator container's own arguments, read by the operator's own command line."""
    [deployment] = [d for d in render() if d["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return config_of(build_parser().parse_args(container["args"])).topic_network


def topic_children(path: Path, peer_image: str) -> list[dict[str, Any]]:
    """Every child the operator makes for the SwarmTopic in `path`, once its base key is recorded, as
    the chart's default install makes them."""
    topic = yaml.safe_load(path.read_text())
    topic["metadata"] = {**topic["metadata"], "namespace": "apps", "uid": str(uuid.uuid4())}
    spec = SwarmTopicSpec.model_validate(topic["spec"])
    hosts = spec.bootstrapHost.replicas
    seeds = {n: new_seed() for n in range(hosts)}
    keys = tuple(public_key_of(seeds[n]) for n in range(hosts))
    # The steady state: the key recorded, every host running.
    inputs = children.Inputs(topic, spec, peer_image, keys[0], base_key="ab" * 32, host_replicas=hosts,
                             host_public_keys=keys, hosts=hosts, network=chart_network())
    by_content = [kind.build(inputs) for kind in owned.built() if kind.build is not None]  # every kind owned.py keeps
    secrets = [children.identity_secret(topic, seeds.pop(0), seeds), children.member_secret(topic, new_seed()),
               children.encryption_secret(topic, new_seed())]
    if spec.bootstrapHost.replicas > 1:
        secrets.append(children.hosts_secret(topic, new_seed()))
    deployments = [children.client_deployment(inputs, group, group.start_replicas()) for group in spec.clients]
    made = [obj for obj in (*by_content, *secrets, *deployments) if obj is not None]
    kinds = {obj["kind"] for obj in made}
    wanted = {k.kind for k in owned.children() if k.claimed(topic["metadata"]["name"], spec)
              and (k.build is None or k.build(inputs) is not None)}
    assert kinds == wanted and (hosts == 1 or "PodDisruptionBudget" in kinds), (kinds, wanted)
    assert "NetworkPolicy" in kinds or spec.networkPolicy.enabled is False, kinds  # the chart's default: on
    return made


def example_files() -> tuple[list[Path], list[Path]]:
    """(SwarmTopic examples, plain-manifest examples), every YAML file under examples/ (node_modules aside)."""
    topics, plain = [], []
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        if "node_modules" in path.parts:
            continue
        kinds = {doc.get("kind") for doc in yaml.safe_load_all(path.read_text()) if doc}
        (topics if names.KIND in kinds else plain).append(path)
    return topics, plain


def targets() -> dict[str, list[dict[str, Any]]]:
    """Target name -> the objects checkov reads for it."""
    out: dict[str, list[dict[str, Any]]] = {
        "chart-defaults": render(),
        "chart-released": render(sets=RELEASED),
        "chart-all-features": render(ALL_FEATURES),
    }
    topics, plain = example_files()
    for path in topics:
        out[f"children:{path.relative_to(REPO)}"] = topic_children(path, RELEASED_PEER_IMAGE)
    for path in plain:
        out[f"example:{path.relative_to(REPO)}"] = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return out


def run_checkov(workdir: Path, objects: dict[str, list[dict[str, Any]]]) -> tuple[list[Failure], dict[str, int]]:
    """One checkov run over a file per target: (failures, passed checks per target)."""
    files = {}
    for i, (target, docs) in enumerate(objects.items()):
        path = workdir / f"target-{i}.yaml"
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        files[path.name] = target
    proc = subprocess.run([tool("checkov"), "-d", str(workdir), "--framework", "kubernetes", "-o", "json",
                           "--skip-download"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), f"checkov exited {proc.returncode}: {proc.stderr[-2000:]}"
    report = json.loads(proc.stdout)
    report = report[0] if isinstance(report, list) else report
    failures, passed = [], dict.fromkeys(objects, 0)
    for result in report["results"]["failed_checks"]:
        target = files[Path(result["file_path"]).name]
        kind, _, name = result["resource"].partition(".")
        failures.append(Failure(target, result["check_id"], kind, name, result["check_name"]))
    for result in report["results"]["passed_checks"]:
        passed[files[Path(result["file_path"]).name]] += 1
    return failures, passed


def accepted() -> list[dict[str, Any]]:
    entries = yaml.safe_load(ACCEPTED.read_text())
    for entry in entries:
        assert set(entry) <= {"check", "targets", "kinds", "names", "reason"}, entry
        assert entry.get("reason", "").strip(), f"an accepted failure without a reason: {entry}"
    return entries


def explains(entry: dict[str, Any], failure: Failure) -> bool:
    return (entry["check"] == failure.check
            and any(fnmatch.fnmatchcase(failure.target, t) for t in entry.get("targets", ["*"]))
            and failure.kind in entry.get("kinds", [failure.kind])
            and any(fnmatch.fnmatchcase(failure.name, n) for n in entry.get("names", ["*"])))
