"""The scale-mode node's simulated hosts sign what the operator verifies (the host contract)."""

from __future__ import annotations

import pytest
from localcluster.kubelet_scale import ANNOTATION, SimHost, claims
from nacl.signing import SigningKey
from swarm_operator.hostreport import HostReportError, verify_report


def test_a_simulated_host_report_verifies_with_the_nonce_asked_for() -> None:
    key = SigningKey.generate()
    host = SimHost(key, "chat", "ab" * 32, "Clients")
    public = key.verify_key.encode().hex()
    report = verify_report(host.envelope("01" * 32), public, "chat", "01" * 32)
    assert report.base_key == "ab" * 32 and report.writable is True
    with pytest.raises(HostReportError) as stale:
        verify_report(host.envelope("01" * 32), public, "chat", "02" * 32)
    assert stale.value.reason == "StaleReport"
    assert host.envelope(None) == host.envelope(None), "a host's report must not change between reads"


def test_only_annotated_pods_are_simulated() -> None:
    assert claims({"metadata": {"annotations": {ANNOTATION: "scale"}}})
    assert not claims({"metadata": {"annotations": {ANNOTATION: "other"}}})
    assert not claims({"metadata": {}})
