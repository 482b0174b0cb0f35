"""The chart's RBAC is enough: over the whole run (integration tests with the operator as the
chart's ServiceAccount, and every e2e case with the operator pod the chart installs), the API
server answered that ServiceAccount 403 not once. Counted from the API server's audit log; this
case runs last (see conftest)."""

from __future__ import annotations

import time

import pytest
from e2e_support import Cluster
from localcluster.controlplane import audit_events
from localcluster.testing import OPERATOR_USER, admission_refusals, forbidden_answers, shared_control_plane


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
