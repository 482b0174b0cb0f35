"""checkov on the chart and on the children of every example: 0 unexplained failures. Every
accepted failure is listed with its reason in checkov-accepted.yaml, and an entry that no longer
matches a failure is an error too (fixed checks leave the list). The figures per rendering are
printed (`pytest -s`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from checkov_support import Failure, accepted, example_files, explains, run_checkov, targets
from packaging_support import REPO

pytestmark = pytest.mark.timeout(600)

# A pod checkov must flag (privileged, hostPID, runs as root): proof that the run reads our files.
CANARY = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "canary", "namespace": "apps"},
    "spec": {"hostPID": True, "containers": [{"name": "c", "image": "busybox",
                                              "securityContext": {"privileged": True}}]},
}


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Failure], dict[str, int]]:
    objects: dict[str, list[dict[str, Any]]] = {**targets(), "canary": [CANARY]}
    failures, passed = run_checkov(Path(tmp_path_factory.mktemp("checkov")), objects)
    counts = Counter(f.target for f in failures)
    for target in objects:
        print(f"checkov {target}: {passed[target]} passed, {counts[target]} failed")
    return failures, passed


def test_checkov_reads_every_rendering(findings: tuple[list[Failure], dict[str, int]]) -> None:
    failures, passed = findings
    topics, plain = example_files()
    expected = {"chart-defaults", "chart-released", "chart-all-features", "canary"} | \
        {f"children:{p.relative_to(REPO)}" for p in topics} | {f"example:{p.relative_to(REPO)}" for p in plain}
    assert set(passed) == expected, set(passed) ^ expected
    assert {"children:examples/topic.yaml", "children:examples/kv-app/topic.yaml", "example:examples/dht.yaml"} \
        <= expected
    assert all(count >= 50 for target, count in passed.items() if target != "canary"), passed
    canary = {f.check for f in failures if f.target == "canary"}
    assert {"CKV_K8S_16", "CKV_K8S_17"} <= canary, canary  # privileged container, hostPID


def test_every_checkov_failure_is_explained(findings: tuple[list[Failure], dict[str, int]]) -> None:
    failures = [f for f in findings[0] if f.target != "canary"]
    entries = accepted()
    unexplained = [str(f) for f in failures if not any(explains(e, f) for e in entries)]
    stale = [e for e in entries if not any(explains(e, f) for f in failures)]
    assert not unexplained, "checkov failures not in checkov-accepted.yaml:\n" + "\n".join(unexplained)
    assert not stale, f"entries of checkov-accepted.yaml that match no failure (remove them): {stale}"


def test_the_released_chart_passes_the_digest_and_pull_policy_checks(
        findings: tuple[list[Failure], dict[str, int]]) -> None:
    """What the chart fixes itself: digests once released, a NetworkPolicy for the operator pods."""
    failures = findings[0]
    released = {f.check for f in failures if f.target == "chart-released"}
    assert not released & {"CKV_K8S_43", "CKV_K8S_15", "CKV2_K8S_6"}, released
    assert not [f for f in failures if f.target.startswith("chart-") and f.check == "CKV2_K8S_6"]
    hosts = [f for f in failures if f.target.startswith("children:") and f.kind == "StatefulSet"]
    assert not [f for f in hosts if f.check in ("CKV_K8S_43", "CKV_K8S_15")], hosts  # the pinned peer image


def test_the_accepted_list_matching_is_not_vacuous() -> None:
    entry = {"check": "CKV_K8S_38", "targets": ["children:*"], "kinds": ["StatefulSet"], "reason": "x"}
    hit = Failure("children:examples/topic.yaml", "CKV_K8S_38", "StatefulSet", "apps.chat-host", "t")
    assert explains(entry, hit)
    assert not explains(entry, Failure("chart-defaults", "CKV_K8S_38", "StatefulSet", "apps.chat-host", "t"))
    assert not explains(entry, Failure("children:examples/topic.yaml", "CKV_K8S_38", "Deployment", "x", "t"))
    assert not explains(entry, Failure("children:examples/topic.yaml", "CKV_K8S_13", "StatefulSet", "x", "t"))
