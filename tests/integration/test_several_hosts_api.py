"""Several hosts on the real API server (a real StatefulSet controller, PodDisruptionBudget and
garbage collector), with stand-in hosts that sign as each host's own identity: host 0 alone until
its key is recorded and in the ConfigMap, then all three; HostsReady, Quorum and status.hosts from
their signed reports; one host down keeps the topic Ready; two disks lost is QuorumLost and
nothing is made anew; fewer hosts are refused."""

from __future__ import annotations

import base64
import threading
import time
from typing import Any

from fakehost import FakeHost, host_pod_status
from integration_support import Api, Operator, example_topic, wait_for

NS = "apps"
KEY = "ab" * 32
WRITERS = ["a0" * 32, "a1" * 32, "a2" * 32]


def seeds(api: Api, name: str, count: int) -> list[str]:
    def read() -> list[str] | None:
        data = (api.get(f"/api/v1/namespaces/{NS}/secrets/{name}-identity") or {}).get("data") or {}
        keys = ["seed", *(f"seed-{n}" for n in range(1, count))]
        return [base64.b64decode(data[k]).decode() for k in keys] if all(k in data for k in keys) else None
    return wait_for("every host's seed in the identity Secret", read, 30)


def seat(n: int, writer: str | None = None, indexers: list[str] | None = None) -> dict[str, Any]:
    keys = indexers if indexers is not None else WRITERS
    mine = writer or WRITERS[n]
    return {"ordinal": n, "replicas": 3, "indexer": mine in keys, "indexerKeys": keys,
            "hostSlots": [{"ordinal": i, "key": k} for i, k in enumerate(WRITERS)], "signedLength": 10,
            "unconfirmed": 0}


def play_kubelet(api: Api, name: str, n: int, host: FakeHost, ready: bool) -> None:
    path = f"/api/v1/namespaces/{NS}/pods/{name}-host-{n}"
    wait_for(f"host pod {n}", lambda: api.get(path), 30)
    api.merge(f"{path}/status", {"status": host_pod_status(host.ip, ready)})


def condition(api: Api, name: str, ctype: str) -> dict[str, Any]:
    return next((c for c in (api.topic(NS, name).get("status") or {}).get("conditions", []) if c["type"] == ctype), {})


def wait_reason(api: Api, name: str, ctype: str, reason: str, timeout: float = 30) -> dict[str, Any]:
    return wait_for(f"{ctype} {reason}", lambda: (c := condition(api, name, ctype)).get("reason") == reason and c,
                    timeout)


class ScaleWatch:
    """Samples, throughout, whether the host StatefulSet ever wants more than host 0 before the key
    is recorded and in the ConfigMap."""

    def __init__(self, api: Api, name: str) -> None:
        self.api, self.name, self.violations, self.samples = api, name, [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            sts = self.api.get(f"/apis/apps/v1/namespaces/{NS}/statefulsets/{self.name}-host") or {}
            cm = self.api.get(f"/api/v1/namespaces/{NS}/configmaps/{self.name}-swarm") or {}
            recorded = ((self.api.get(self.api.topic_path(NS, self.name)) or {}).get("status") or {}).get("baseKey")
            if (sts.get("spec") or {}).get("replicas", 0) > 1 and not (recorded and (cm.get("data") or {}).get(
                    "baseKey") == recorded):
                self.violations.append("the StatefulSet wants more than host 0 before the key")
            self.samples += 1
            time.sleep(0.05)

    def __enter__(self) -> ScaleWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def test_three_hosts_start_in_order_keep_a_quorum_and_say_what_was_lost(api: Api, operator: Operator) -> None:
    topic = example_topic("ha", clients=1)
    topic["spec"]["bootstrapHost"]["replicas"] = 3
    with ScaleWatch(api, "ha") as watch:
        api.create(api.topic_path(NS), topic)
        identities = seeds(api, "ha", 3)
        assert wait_for("the hosts' credential", lambda: api.get(f"/api/v1/namespaces/{NS}/secrets/ha-hosts"))
        sts = wait_for("the StatefulSet", lambda: api.get(f"/apis/apps/v1/namespaces/{NS}/statefulsets/ha-host"))
        assert sts["spec"]["replicas"] == 1 and sts["spec"]["podManagementPolicy"] == "Parallel"
        budget = wait_for("the PodDisruptionBudget",
                          lambda: api.get(f"/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets/ha-host"))
        assert budget["spec"]["maxUnavailable"] == 1
        hosts = [FakeHost(identities[n], "ha", KEY) for n in range(3)]
        for n, host in enumerate(hosts):
            host.writer_key, host.seat = WRITERS[n], seat(n, indexers=[WRITERS[0]])
            host.__enter__()
        try:
            play_kubelet(api, "ha", 0, hosts[0], ready=True)
            wait_for("the key recorded", lambda: (api.topic(NS, "ha").get("status") or {}).get("baseKey"), 30)
            wait_for("three hosts", lambda: api.get(
                f"/apis/apps/v1/namespaces/{NS}/statefulsets/ha-host")["spec"]["replicas"] == 3, 30)
            for n in (1, 2):
                play_kubelet(api, "ha", n, hosts[n], ready=True)
            for n, host in enumerate(hosts):
                host.seat = seat(n)  # the others promoted
            wait_reason(api, "ha", "HostsReady", "AllHostsReady")
            wait_reason(api, "ha", "Quorum", "QuorumHeld")  # two indexers hold it: the third may report later
            wait_for("every host an indexer", lambda: [(h["ordinal"], h["ready"], h.get("indexer")) for h in api.topic(
                NS, "ha")["status"]["hosts"]] == [(0, True, True), (1, True, True), (2, True, True)], 15)
            # Host 1 down: the topic still serves.
            play_kubelet(api, "ha", 1, hosts[1], ready=False)
            wait_reason(api, "ha", "HostsReady", "HostsNotReady")
            assert condition(api, "ha", "Quorum")["status"] == "True"
            # Hosts 1 and 2 back on empty disks (new keys) that a majority can no longer promote.
            for n in (1, 2):
                hosts[n].seat = seat(n, writer="b" + str(n) * 63)
                hosts[n].writer_key = "b" + str(n) * 63
                play_kubelet(api, "ha", n, hosts[n], ready=False)
            lost = wait_reason(api, "ha", "Quorum", "QuorumLost")
            assert "hosts 1, 2 lost their disks" in lost["message"]
            assert api.topic(NS, "ha")["status"]["phase"] == "Stuck"
            assert api.topic(NS, "ha")["status"]["baseKey"] == KEY
            events = [e for e in api.items(f"/api/v1/namespaces/{NS}/events") if e.get("reason") == "QuorumLost"]
            assert len(events) == 1 and events[0]["type"] == "Warning"
            # Fewer hosts: refused, the three kept.
            api.merge(api.topic_path(NS, "ha"), {"spec": {"bootstrapHost": {"replicas": 1}}})
            wait_for("ScaleDownRefused", lambda: condition(api, "ha", "Ready").get("reason") == "ScaleDownRefused")
            assert api.get(f"/apis/apps/v1/namespaces/{NS}/statefulsets/ha-host")["spec"]["replicas"] == 3
        finally:
            for host in hosts:
                host.__exit__()
    assert watch.violations == [] and watch.samples > 50
