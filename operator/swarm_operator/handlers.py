"""kopf wiring only: the operator's start-up and clean-up, and its liveness probes. `swarm-operator
run` gives kopf's `memo` the configuration (`memo.config`, a `config.Config`), the leader election
(`memo.election`) and the process's `Lifecycle` (`memo.lifecycle`).

kopf runs the process (start-up, clean-up, the liveness endpoint, signals); the watching is the
operator's own watch-fed caches (`caches.py`), because they carry server-side label selectors,
keep a store to plan from and cost nothing per event beyond a dict update. With no resource
handlers kopf adds no finalizers and no progress annotations.

Start-up: the caches list and watch at once (a standby's are warm), then the replica campaigns for
the leader Lease (`leader.py`) and only the leader reconciles. A leader that loses its Lease stops
the process (`memo.lifecycle.stop` is kopf's stop flag): it comes back as a standby.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import kopf

from . import __version__, metrics
from .api.client import Kube
from .api.leader import Election, LeaderElector
from .api.throttle import Throttle
from .config import Config
from .podpolicy import TopicRules
from .reconciler.caches import Caches
from .reconciler.context import Memory, Wiring
from .reconciler.controller import Controller
from .reconciler.flushwait import FlushWaits
from .reconciler.rolls import Rolls

log = logging.getLogger(__name__)
SERVICE_ACCOUNT_USER = "system:serviceaccount:"


@dataclass
class Lifecycle:
    """The process's state across kopf's handlers: kopf's stop flag, and whether the leader Lease
    was lost (the process then exits non-zero and comes back as a standby)."""

    stop: threading.Event = field(default_factory=threading.Event)
    lost_lease: bool = False


@kopf.on.startup()
async def _start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config: Config = memo.config
    election: Election | None = memo.election
    settings.posting.level = logging.WARNING  # kopf's own events: only problems
    settings.networking.request_timeout = 60
    # kopf serves no resource here (the caches do the watching): it needs neither the CRDs' nor the
    # namespaces' list and watch, and the chart grants neither (least privilege).
    settings.scanning.disabled = True
    kube = Kube.from_environment(Throttle(config.api_qps, config.api_burst))
    identity = election.identity if election else "single"
    kube.user_agent = f"swarm-operator/{__version__} ({identity})"  # the API server's audit log tells replicas apart
    rules = await topic_rules(kube, config)
    # The caches announce changes to the controller, which is made from them (a late-bound name).
    caches = Caches(kube, config.namespaces, lambda ns, name, progress: controller.announce(ns, name, progress))
    # A host's early report wakes its topic as a Ready host pod would (the same late-bound name).
    flushes = FlushWaits(lambda ns, name: controller.announce(ns, name, True))
    wiring = Wiring(kube=kube, http=aiohttp.ClientSession(), peer_image=config.peer_image, caches=caches,
                    report_ttl=config.report_ttl, rules=rules, backup_check=config.backup_check,
                    network=config.topic_network, flushes=flushes)
    memory = Memory(rolls=Rolls(config.max_rolling_topics), progress_wait=config.closing_delay)
    controller = Controller(wiring, memory, interval=config.reconcile_interval,
                            workers=config.workers, change_delay=config.change_delay,
                            closing_delay=config.closing_delay)
    metrics.api_stats.source = lambda: (kube.throttle.window.limit, kube.throttled, kube.throttle.waiting)
    elector = LeaderElector(kube, election) if election else None
    memo.controller, memo.caches, memo.elector = controller, caches, elector
    caches.start()
    memo.run = asyncio.create_task(_run(memo.lifecycle, controller, caches, elector), name="leader")
    log.info("swarm-operator started: peer image %s, re-check every %gs, leader election %s, topics' "
             "NetworkPolicy %s; the operator is %s/%s, topics there %s, restricted Pod Security except in %s",
             config.peer_image, config.reconcile_interval, f"on ({election.identity})" if election else "off",
             _network_summary(config), rules.operator_namespace, rules.operator_service_account,
             "allowed" if rules.allow_operator_namespace else "refused",
             sorted(rules.exempt_namespaces) or "no namespace")


async def topic_rules(kube: Kube, config: Config) -> TopicRules:
    """Whose rights a topic's pods may not take: the operator's namespace and ServiceAccount as
    configured, else as the API server knows the operator (its ServiceAccount's user name)."""
    namespace, account = config.topic_network.operator_namespace, config.service_account
    if namespace is None or account is None:
        user = await kube.whoami() or ""
        if user.startswith(SERVICE_ACCOUNT_USER):
            their_namespace, _, their_name = user.removeprefix(SERVICE_ACCOUNT_USER).partition(":")
            namespace, account = namespace or their_namespace, account or their_name
    if namespace is None:
        log.warning("the operator's own namespace is unknown (not a ServiceAccount, no --operator-namespace): "
                    "topics there are not refused")
    return TopicRules(operator_namespace=namespace, operator_service_account=account,
                      allow_operator_namespace=config.allow_operator_namespace,
                      exempt_namespaces=frozenset(config.pod_security_exempt))


def _network_summary(config: Config) -> str:
    net = config.topic_network
    readers = f"status port from the operator's pods in {net.operator_namespace}" if net.operator_namespace \
        else "status port from no operator pod (operator namespace unknown)"
    return f"{'on' if net.enabled else 'off'} by default ({readers})"


async def _run(lifecycle: Lifecycle, controller: Controller, caches: Caches, elector: LeaderElector | None) -> None:
    await caches.synced()
    log.info("caches synced: %s", caches.sizes())
    if elector is not None:
        campaign = asyncio.create_task(elector.run(), name="campaign")
        await elector.leading.wait()
    metrics.leader.set(1)
    controller.start()
    if elector is not None:
        await campaign  # returns once the lease is lost
        metrics.leader.set(0)
        await controller.stop()
        lifecycle.lost_lease = True
        lifecycle.stop.set()


@kopf.on.cleanup()
async def _stop(memo: kopf.Memo, **_: Any) -> None:
    memo.lifecycle.stop.set()  # kopf waits on the flag in a thread of its loop's executor: let it end
    run: asyncio.Task[None] | None = memo.get("run")
    if run is not None:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
    controller: Controller | None = memo.get("controller")
    if controller is not None:
        await controller.stop()
    elector: LeaderElector | None = memo.get("elector")
    if elector is not None:
        await elector.release()
    metrics.leader.set(0)
    caches: Caches | None = memo.get("caches")
    if caches is not None:
        await caches.stop()
    if controller is not None:
        await controller.wiring.http.close()
        if controller.wiring.flushes is not None:
            await controller.wiring.flushes.close()
        await controller.wiring.kube.close()


@kopf.on.probe(id="reconcilers")
def _probe(memo: kopf.Memo, **_: Any) -> int:
    controller: Controller | None = memo.get("controller")
    return 0 if controller is None else len(controller.queue)


@kopf.on.probe(id="leader")
def _leader(memo: kopf.Memo, **_: Any) -> bool:
    controller: Controller | None = memo.get("controller")
    return bool(controller is not None and controller.running)
