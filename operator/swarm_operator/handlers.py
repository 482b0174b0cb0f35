"""kopf wiring: watch events only feed the controller's queue; all decisions are its own.

No change handlers, timers or daemons: those make kopf add finalizers and progress annotations.
The operator needs neither, since children are cleaned up by ownerReferences.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
import kopf

from . import names, owned
from .controller import Controller
from .kube import Kube
from .podwatch import SelectorWatch
from .reconcile import Context
from .workqueue import PROGRESS

log = logging.getLogger(__name__)


@dataclass
class Config:
    peer_image: str = "ghcr.io/swarm-operator/swarm-peer:0.1.0"
    reconcile_interval: float = 10.0
    workers: int = 4
    namespaces: tuple[str, ...] = ()  # empty: every namespace


CONFIG = Config()
_controller: Controller | None = None
_watches: list[SelectorWatch] = []


@kopf.on.startup()
async def _start(settings: kopf.OperatorSettings, **_: Any) -> None:
    global _controller
    settings.posting.level = logging.WARNING  # kopf's own events: only problems
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 60
    ctx = Context(kube=Kube.from_environment(), http=aiohttp.ClientSession(), peer_image=CONFIG.peer_image)
    _controller = Controller(ctx, interval=CONFIG.reconcile_interval, workers=CONFIG.workers)
    _controller.start()
    for kind in owned.selected():  # the host pods: their events are progress
        for namespace in CONFIG.namespaces or (None,):
            watch = SelectorWatch(ctx.kube, kind, _progress, namespace)
            watch.start()
            _watches.append(watch)
    log.info("swarm-operator started: peer image %s, reconcile interval %.1fs",
             CONFIG.peer_image, CONFIG.reconcile_interval)


@kopf.on.cleanup()
async def _stop(**_: Any) -> None:
    for watch in _watches:
        await watch.stop()
    if _controller is not None:
        await _controller.stop()


def _enqueue(namespace: str | None, name: str | None) -> None:
    if _controller is not None and namespace and name:
        _controller.enqueue(namespace, name)


def _progress(namespace: str, name: str) -> None:
    if _controller is not None:
        _controller.enqueue(namespace, name, PROGRESS)


@kopf.on.event(names.GROUP, names.VERSION, names.PLURAL)
async def _topic_event(namespace: str | None, name: str | None, **_: Any) -> None:
    _enqueue(namespace, name)


async def _child_event(namespace: str | None, labels: dict[str, str], **_: Any) -> None:
    _enqueue(namespace, owned.topic_of(labels))


# One kopf watch per kopf-watched kind of the table, filtered to the operator's children (the kinds
# with a server-side selector are watched by `SelectorWatch`, started above).
_children = {"labels": {names.LABEL_MANAGED_BY: "swarm-operator", names.LABEL_TOPIC: kopf.PRESENT}}
for _kind in owned.watched():
    kopf.on.event(_kind.group, _kind.version, _kind.plural, id=f"child-{_kind.plural}", **_children)(_child_event)


@kopf.on.probe(id="reconcilers")
def _probe(**_: Any) -> int:
    return 0 if _controller is None else len(_controller.queue)
