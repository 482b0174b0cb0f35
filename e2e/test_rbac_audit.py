"""The chart's RBAC is enough, and no more: over the whole run (integration tests with the operator
as the chart's ServiceAccount, and every e2e case with the operator pod the chart installs), the
API server answered that ServiceAccount 403 not once, and every right the chart grants was
requested, but for the verbs the API server's admission asks of the operator itself (never a
request) and the few that only rare paths request (`RARE`, each shown by the integration test
named). Counted from the API server's audit log; these cases run last (see conftest)."""

from __future__ import annotations

import time

import pytest
from e2e_support import Cluster
from localcluster.controlplane import audit_events
from localcluster.testing import (
    OPERATOR_USER,
    admission_refusals,
    forbidden_answers,
    rights_granted,
    rights_requested,
    shared_control_plane,
)
from swarm_operator import owned

# Rights only a rare path requests, which an e2e run need not take (tests/integration/test_rbac_from_audit.py
# takes every one of them).
RARE = {
    ("", "secrets", "delete"): "the host signs with a key the operator never made: its identity Secret is replaced",
    ("apps", "deployments", "delete"): "a client group removed from the spec",
    ("apps", "deployments", "get"): "a same-named Deployment without the operator's labels, read after its create",
    ("networking.k8s.io", "networkpolicies", "get"): "a same-named NetworkPolicy without the labels, read likewise",
}


@pytest.mark.last
def test_the_operator_got_no_403_in_the_whole_run(cluster: Cluster) -> None:
    plane = shared_control_plane()
    time.sleep(2)  # the audit log is written in batches (at most one second apart)
    answered = [e for e in audit_events(plane.audit_log) if e.get("user", {}).get("username") == OPERATOR_USER]
    assert len(answered) > 100, f"only {len(answered)} requests of {OPERATOR_USER} audited"
    decided = [e for e in answered if (e.get("annotations") or {}).get("authorization.k8s.io/decision")]
    assert len(decided) == len(answered), "the audit log does not record the authorizer's decision"
    assert forbidden_answers(plane) == []
    print(f"{len(answered)} requests of {OPERATOR_USER} audited, 0 denied by RBAC, "
          f"{len(admission_refusals(plane))} refused by admission (namespaces being deleted)")


@pytest.mark.last
def test_the_chart_grants_no_right_the_run_did_not_use(cluster: Cluster) -> None:
    plane = shared_control_plane()
    time.sleep(2)  # the audit log is written in batches (at most one second apart)
    requested, granted = rights_requested(plane), rights_granted(plane)
    by_admission = {(k.group, k.plural, verb) for k in owned.KINDS for verb in k.asked_by_admission}
    for right in sorted(granted | requested):
        note = "asked by admission" if right in by_admission else RARE.get(right, "")
        print(f"{'/'.join(right):<50} granted={right in granted!s:<5} requested={right in requested!s:<5} {note}")
    assert requested <= granted, f"requested beyond the chart's grant: {sorted(requested - granted)}"
    unused = granted - requested - by_admission - set(RARE)
    assert unused == set(), f"the chart grants rights no request of the run used: {sorted(unused)}"
