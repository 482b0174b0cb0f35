"""The operator's view of the cluster: one watch-fed cache (`informer.py`) per kind of the owned
table (`owned.watched()`), per watched namespace or cluster-wide, and the lookups a reconcile
needs. A reconcile reads only here (and, for a name no cache can see, past it: `reconcile.py`).

Every cache announces a change of one of its objects as its topic's (namespace, name), with
`progress` when the kind says the change is progress (a host pod that is Ready: maybe a key to
record): the controller's queue lanes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any

from .. import owned
from ..api.client import Kube
from ..api.informer import Informer, NameIndex

OnChange = Callable[[str, str, bool], None]  # (namespace, topic, progress)


def in_scope(kind: owned.Kind, obj: dict[str, Any]) -> bool:
    """Whether the cache of `kind` holds `obj`: it carries the labels of the kind's selector."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(key in labels and (not value or labels[key] == value) for key, value in kind.selector)


class Caches:
    def __init__(self, kube: Kube, namespaces: tuple[str, ...], on_change: OnChange) -> None:
        self.namespaces = namespaces
        self._informers: dict[tuple[str, str | None], Informer] = {}
        for kind in owned.watched():
            announce = partial(_announce, on_change, kind.progress)
            for namespace in namespaces or (None,):
                self._informers[(kind.kind, namespace)] = Informer(
                    kube, kind.path(namespace), topic_of=partial(owned.topic_of, kind),
                    on_change=announce, selector=owned.label_selector(kind), metadata_only=kind.metadata_only,
                    trim=kind.trim, significant=kind.significant, name=f"{kind.plural}@{namespace or 'all'}")
        self._names: dict[tuple[str, str | None], NameIndex] = {
            (kind.kind, namespace): NameIndex(kube, kind.path(namespace),
                                              name=f"{kind.plural} names@{namespace or 'all'}")
            for kind in owned.watched() if kind.names_watched for namespace in namespaces or (None,)}

    def _informer(self, kind: owned.Kind, namespace: str) -> Informer | None:
        informer = self._informers.get((kind.kind, namespace))
        return informer if informer is not None else self._informers.get((kind.kind, None))

    def get(self, kind: owned.Kind, namespace: str, name: str) -> dict[str, Any] | None:
        informer = self._informer(kind, namespace)
        return None if informer is None else informer.get(namespace, name)

    def of_topic(self, kind: owned.Kind, namespace: str, topic: str) -> list[dict[str, Any]]:
        informer = self._informer(kind, namespace)
        return [] if informer is None else informer.of_topic(namespace, topic)

    def free(self, kind: owned.Kind, namespace: str, name: str, as_of: str | None) -> bool:
        """Whether no object of `kind` has this name, known from the kind's name index as of
        resourceVersion `as_of` (the topic's): False when it is taken or the index cannot say."""
        index = self._names.get((kind.kind, namespace)) or self._names.get((kind.kind, None))
        return index is not None and not index.taken(namespace, name) and index.seen_since(as_of)

    def put(self, kind: owned.Kind, obj: dict[str, Any]) -> None:
        """A write's answer, or a direct read of an object the cache holds: stored at once."""
        informer = self._informer(kind, (obj.get("metadata") or {}).get("namespace", ""))
        if informer is not None and (kind is owned.TOPIC or in_scope(kind, obj)):
            informer.put({"metadata": obj.get("metadata") or {}} if kind.metadata_only else obj)

    def expect(self, kind: owned.Kind, namespace: str, name: str) -> None:
        """A write of this object is about to be sent (`Informer.expect`)."""
        informer = self._informer(kind, namespace)
        if informer is not None:
            informer.expect(namespace, name)

    def settle(self, kind: owned.Kind, namespace: str, name: str, answer: dict[str, Any] | None) -> None:
        """That write is answered (None: failed): its own watch event wakes nobody (`Informer.settle`)."""
        informer = self._informer(kind, namespace)
        if informer is not None:
            informer.settle(namespace, name, answer)

    def sizes(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for (kind, _), informer in self._informers.items():
            out[kind] = out.get(kind, 0) + len(informer)
        return out

    def _all(self) -> list[Informer]:
        return [*self._informers.values(), *self._names.values()]

    def start(self) -> None:
        for informer in self._all():
            informer.start()

    async def synced(self) -> None:
        """Returns once every cache has listed its kind once."""
        await asyncio.gather(*(i.synced.wait() for i in self._all()))

    async def stop(self) -> None:
        await asyncio.gather(*(i.stop() for i in self._all()))


def _announce(on_change: OnChange, progress: Callable[[dict[str, Any] | None], bool] | None, namespace: str,
              topic: str, obj: dict[str, Any] | None) -> None:
    on_change(namespace, topic, progress is not None and progress(obj))
