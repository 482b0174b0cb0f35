"""The scale benchmark's fake bootstrap hosts (bench/fakehosts.py): what they sign verifies as the
operator verifies a host report, and the operator reaches them on any address of kwok's CIDR."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path

import pytest
from nacl.signing import SigningKey
from swarm_operator.hostreport import HostReportError, verify_report

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from fakehosts import STATUS_PORT, NetNamespace, SimHost


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


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2")
def test_any_address_of_the_cidr_reaches_the_one_socket_and_is_told_apart() -> None:
    # Not the benchmark's namespace, CIDR or link: a unit run beside `make bench-scale` must leave it be
    # (create() removes what has its name: a run on 2026-12-05 lost its namespace that way).
    net = NetNamespace("10.251.0.0/16", name="swarm-kwokt", link_net="10.249.0.4/30")
    net.create()
    try:
        server = net.listen(STATUS_PORT)
        server.setblocking(True)
        for address in ("10.251.0.7", "10.251.200.9"):
            with socket.create_connection((address, STATUS_PORT), timeout=5):
                conn, _ = server.accept()
                assert conn.getsockname() == (address, STATUS_PORT)
                conn.close()
        server.close()
    finally:
        net.remove()
    assert not Path("/run/netns/swarm-kwokt").exists()
    assert not Path("/sys/class/net/swarm-kwokt0").exists()
    if not net.mounted_before:
        assert "/run/netns " not in Path("/proc/self/mountinfo").read_text(), "the netns directory stays mounted"
