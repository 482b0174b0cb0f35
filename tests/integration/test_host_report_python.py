"""The real swarm-peer host's signed /status, verified by the operator's own Python code.

Starts `swarm-peer dht-bootstrap` and `swarm-peer host` (node images/swarm-peer/program/bin/swarm-peer.js)
on a loopback DHT, then checks the report with `swarm_operator.hostreport.verify_report`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from nacl.signing import SigningKey
from swarm_operator.hashes import bootstrap_topic_hash, topic_hash
from swarm_operator.hostreport import HostReportError, verify_report

ROOT = Path(__file__).resolve().parents[2]
PEER_DIR = ROOT / "images" / "swarm-peer"
BIN = PEER_DIR / "program" / "bin" / "swarm-peer.js"
NODE = shutil.which("node")

@pytest.fixture(autouse=True)
def _node_and_packages() -> None:
    """These tests run real Node peers: their absence is a failure, never a skip."""
    assert NODE is not None, "node is not installed"
    installed = [PEER_DIR / "node_modules" / "hyperswarm", PEER_DIR / "program" / "node_modules" / "prom-client"]
    assert all(p.is_dir() for p in installed), "run `make images/swarm-peer/node_modules/.installed` first"


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def wait_ready(proc: subprocess.Popen, port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode}")
        if http_get(port, "/readyz")[0] == 200:
            return
        time.sleep(0.2)
    raise AssertionError(f"not ready on port {port} within {timeout}s")


@pytest.fixture
def testnet(tmp_path):
    procs: list[subprocess.Popen] = []

    def spawn(args: list[str], env: dict[str, str], name: str) -> subprocess.Popen:
        log = open(tmp_path / f"{name}.log", "wb")
        full_env = {"PATH": os.environ.get("PATH", ""), **env}
        proc = subprocess.Popen([NODE, str(BIN), *args], env=full_env, stdout=log, stderr=subprocess.STDOUT)
        proc.log_file = log  # type: ignore[attr-defined]
        procs.append(proc)
        return proc

    yield spawn
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=25)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.log_file.close()  # type: ignore[attr-defined]


@pytest.mark.timeout(180)
def test_real_host_report_verifies(testnet, tmp_path):
    udp = free_port(socket.SOCK_DGRAM)
    boot_status = free_port(socket.SOCK_STREAM)
    boot = testnet(
        ["dht-bootstrap", "--host", "127.0.0.1", "--port", str(udp)],
        {"SWARM_STATUS_PORT": str(boot_status)},
        "boot",
    )
    wait_ready(boot, boot_status)

    seed = os.urandom(32)
    seed_file = tmp_path / "seed"
    seed_file.write_text(seed.hex() + "\n")
    topic = "chat-ünïcode"
    host_status = free_port(socket.SOCK_STREAM)
    host = testnet(
        ["host"],
        {
            "SWARM_TOPIC": topic,
            "SWARM_DATA_DIR": str(tmp_path / "data"),
            "SWARM_IDENTITY_SEED_FILE": str(seed_file),
            "SWARM_DHT_BOOTSTRAP": f"127.0.0.1:{udp}",
            "SWARM_DHT_HOST": "127.0.0.1",
            "SWARM_STATUS_PORT": str(host_status),
        },
        "host",
    )
    wait_ready(host, host_status)

    code, body = http_get(host_status, "/status")
    assert code == 200

    public_key = SigningKey(seed).verify_key.encode().hex()
    report = verify_report(body, public_key, topic)
    assert report.topic == topic
    assert report.bootstrap_topic_hash == bootstrap_topic_hash(topic)
    assert len(report.base_key) == 64
    assert report.announce_seconds >= 0
    assert report.peers >= 0

    # The same report must not verify for another identity or another topic.
    with pytest.raises(HostReportError) as exc:
        verify_report(body, SigningKey(os.urandom(32)).verify_key.encode().hex(), topic)
    assert exc.value.reason == "WrongIdentity"
    with pytest.raises(HostReportError) as exc:
        verify_report(body, public_key, "other-topic")
    assert exc.value.reason == "WrongTopic"
    # A tampered payload fails the signature.
    envelope = json.loads(body)
    envelope["payload"] = envelope["payload"].replace(report.base_key, "0" * 64)
    with pytest.raises(HostReportError) as exc:
        verify_report(json.dumps(envelope), public_key, topic)
    assert exc.value.reason == "BadSignature"

    code, metrics = http_get(host_status, "/metrics")
    assert code == 200
    assert b'swarm_peer_announce_flush_seconds_bucket{le="0.05",role="host"}' in metrics


TOPICS = ["chat", "swarmtopic/default/demo", "ünïcode-✓-話題", " ", "a:bootstrap", "x" * 300]


@pytest.mark.timeout(60)
def test_hypercore_crypto_hash_matches_python():
    script = (
        "const c = require('hypercore-crypto');"
        "const topics = JSON.parse(process.argv[1]);"
        "process.stdout.write(JSON.stringify(topics.map("
        "(t) => c.hash(Buffer.from(t, 'utf8')).toString('hex'))))"
    )
    out = subprocess.run(
        [NODE, "-e", script, json.dumps(TOPICS)],
        cwd=PEER_DIR,
        env={"PATH": os.environ.get("PATH", ""), "NODE_PATH": str(PEER_DIR / "node_modules")},
        capture_output=True,
        check=True,
        timeout=30,
    )
    node_hashes = json.loads(out.stdout)
    assert node_hashes == [topic_hash(t) for t in TOPICS]
    assert len(set(node_hashes)) == len(TOPICS)


def _pod(status_port: int) -> dict:
    """Host 0's pod as the caches keep it: running with an address, not Ready yet."""
    from swarm_operator import names

    return {"metadata": {"name": "chat-host-0", "uid": "host-0-uid"},
            "spec": {"containers": [{"name": names.HOST_CONTAINER,
                                     "ports": [{"name": names.STATUS_PORT_NAME, "containerPort": status_port}]}]},
            "status": {"podIP": "127.0.0.1", "phase": "Running",
                       "conditions": [{"type": "Ready", "status": "False"}]}}


@pytest.mark.timeout(180)
async def test_the_key_is_read_as_soon_as_a_real_hosts_announce_flushes(testnet, tmp_path):
    """`FlushWaits`: started before the host's program is even up (its status port refuses), the
    wait reads the real host's signed report once its first announce has flushed, verifies it
    against the host's identity and the read's own nonce, and wakes the topic once."""
    import asyncio

    from swarm_operator.reconciler.flushwait import FlushWaits

    udp, boot_status = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    boot = testnet(["dht-bootstrap", "--host", "127.0.0.1", "--port", str(udp)],
                   {"SWARM_STATUS_PORT": str(boot_status)}, "boot")
    await asyncio.to_thread(wait_ready, boot, boot_status)
    seed = os.urandom(32)
    (tmp_path / "seed").write_text(seed.hex() + "\n")
    public_key = SigningKey(seed).verify_key.encode().hex()
    woken: list[tuple[str, str]] = []
    flushes = FlushWaits(lambda ns, name: woken.append((ns, name)))
    host_status = free_port(socket.SOCK_STREAM)
    pod = _pod(host_status)
    try:
        assert flushes.report(("apps", "chat"), pod, public_key, "chat") is None  # nothing listens yet
        host = testnet(["host"], {"SWARM_TOPIC": "chat", "SWARM_DATA_DIR": str(tmp_path / "data"),
                                  "SWARM_IDENTITY_SEED_FILE": str(tmp_path / "seed"),
                                  "SWARM_DHT_BOOTSTRAP": f"127.0.0.1:{udp}", "SWARM_DHT_HOST": "127.0.0.1",
                                  "SWARM_STATUS_PORT": str(host_status)}, "host")
        for _ in range(600):
            if woken or host.poll() is not None:
                break
            await asyncio.sleep(0.1)
        assert woken == [("apps", "chat")]
        report = flushes.report(("apps", "chat"), pod, public_key, "chat")
        assert report is not None and report.announced_at and flushes.waiting() == 0
        code, body = http_get(host_status, "/status")
        assert code == 200 and verify_report(body, public_key, "chat").base_key == report.base_key
        # A report that does not verify (another identity expected) ends the wait, which is not
        # started again for that host: the read at its pod's Ready says why.
        stranger = SigningKey(os.urandom(32)).verify_key.encode().hex()
        assert flushes.report(("apps", "other"), pod, stranger, "chat") is None and flushes.waiting() == 1
        for _ in range(100):
            if flushes.waiting() == 0:
                break
            await asyncio.sleep(0.1)
        assert flushes.waiting() == 0 and woken == [("apps", "chat")]
        assert flushes.report(("apps", "other"), pod, stranger, "chat") is None and flushes.waiting() == 0
        # Another pod (the host made again) is another host: its report is waited for afresh.
        again = {**pod, "metadata": {**pod["metadata"], "uid": "host-0-again"}}
        assert flushes.report(("apps", "chat"), again, public_key, "chat") is None
        assert flushes.waiting() == 1
        flushes.forget(("apps", "chat"))
        assert flushes.waiting() == 0
    finally:
        await flushes.close()


@pytest.mark.timeout(120)
async def test_a_wait_on_a_host_that_cannot_announce_wakes_nobody_and_ends_when_forgotten(testnet, tmp_path):
    import asyncio

    from swarm_operator.reconciler.flushwait import FlushWaits

    seed = os.urandom(32)
    (tmp_path / "seed").write_text(seed.hex() + "\n")
    host_status = free_port(socket.SOCK_STREAM)
    host = testnet(["host"], {"SWARM_TOPIC": "chat", "SWARM_DATA_DIR": str(tmp_path / "data"),
                              "SWARM_IDENTITY_SEED_FILE": str(tmp_path / "seed"),
                              "SWARM_DHT_BOOTSTRAP": f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}",  # nobody
                              "SWARM_DHT_HOST": "127.0.0.1", "SWARM_STATUS_PORT": str(host_status)}, "host")
    woken: list[tuple[str, str]] = []
    flushes = FlushWaits(lambda ns, name: woken.append((ns, name)))
    public_key = SigningKey(seed).verify_key.encode().hex()
    try:
        flushes.report(("apps", "chat"), _pod(host_status), public_key, "chat")
        for _ in range(50):  # 5 s: the status port comes up and the host is asked to wait
            await asyncio.sleep(0.1)
        assert host.poll() is None and woken == [] and flushes.waiting() == 1
        assert flushes.report(("apps", "chat"), _pod(host_status), public_key, "chat") is None
        flushes.forget(("apps", "chat"))
        assert flushes.waiting() == 0
    finally:
        await flushes.close()
