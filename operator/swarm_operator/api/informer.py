"""A watch-fed cache of one kind of object (client-go's informer), below the domain logic.

List, then watch from the list's resourceVersion, with a server-side label selector; keep every
object in a store by (namespace, name) and an index by the topic each belongs to (a caller's
function says which). A watch the server ends (its timeout) resumes from the last version seen
(bookmarks keep it fresh); an ERROR event, a 410 Gone or a broken stream lists again, and only the
objects that changed or went away meanwhile are announced (a relist of thousands of unchanged
objects must not flood the work queue).

`on_change(namespace, topic, obj)` is called for every object that is new, changed or gone (`obj`:
the object as the cache keeps it, None when gone), where a
change is one of what the cache keeps (a status update the trim drops is stored, for its
resourceVersion, and not announced). A caller's own write is put into the store with the server's answer
(`put`): the watch event of that same version then changes nothing and announces nothing, so the
operator is not woken by its own writes. The watch event often comes before the answer, though:
so a writer says `expect` before it sends and `settle` once answered (or failed), and what the
watch brings of that object meanwhile is stored but announced only if it was not the write
itself (a version other than the answer's, or the write failed).

`metadata_only` asks the server for PartialObjectMetadata (Secrets: the operator checks their
owners and never receives their data). `trim` keeps what the caller needs of each object, and
`significant` says which of that announces a change (the rest is stored, current for the next
read, and wakes nobody);
`metadata.managedFields` is always dropped. The store is the operator's memory at 10,000 topics,
so each object is kept as compressed JSON (a tenth of the dicts it parses into) and parsed when
read: a reconcile reads a handful. kubectl's last-applied-configuration annotation (a second copy
of the object) is dropped too.

Every watch event is parsed and most are stored: that is where the operator spends its CPU in a
burst of topics. So JSON goes through orjson and objects are compressed at zlib's fastest level
(7 % larger than at its default): an event parsed and stored costs a third of what the standard
library's json and zlib's default cost (`python bench/codec.py`).
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson

from .client import METADATA_LIST, METADATA_ONLY, Kube
from .errors import ApiError

log = logging.getLogger(__name__)
Key = tuple[str, str]  # (namespace, name)
OnChange = Callable[[str, str, dict[str, Any] | None], None]  # (namespace, topic, object or None: gone)
TopicOf = Callable[[dict[str, Any]], str | None]
Trim = Callable[[dict[str, Any]], dict[str, Any]]
WATCH_SECONDS = 300
RELIST_DELAY = 2.0
PAGE = 500  # objects per list page (client-go's informers list in pages of 500 too)
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _key(obj: dict[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _version(obj: dict[str, Any] | None) -> str | None:
    return None if obj is None else (obj.get("metadata") or {}).get("resourceVersion")


def _pack(obj: dict[str, Any]) -> bytes:
    return zlib.compress(orjson.dumps(obj), 1)


def _unpack(blob: bytes) -> dict[str, Any]:
    return orjson.loads(zlib.decompress(blob))  # type: ignore[no-any-return]


def _content(obj: dict[str, Any]) -> int:
    """A digest of what a kept object holds, its resourceVersion aside (which every write moves)."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "resourceVersion"}
    return hash(orjson.dumps({**obj, "metadata": meta}))


class Informer:
    """One collection (`path`: every namespace or one), its store and its topic index."""

    def __init__(self, kube: Kube, path: str, *, topic_of: TopicOf, on_change: OnChange, selector: str = "",
                 metadata_only: bool = False, trim: Trim | None = None, significant: Trim | None = None,
                 name: str = "") -> None:
        self.kube, self.path, self.selector = kube, path, selector
        self.topic_of, self.on_change, self.trim = topic_of, on_change, trim
        self.significant = significant  # what of a kept object is announced when it changes (None: all of it)
        # A list answers PartialObjectMetadataList, a watch's events PartialObjectMetadata.
        self.accept, self.list_accept = (METADATA_ONLY, METADATA_LIST) if metadata_only else ("application/json",) * 2
        self.name = name or path
        self.synced = asyncio.Event()
        self._objects: dict[Key, tuple[str | None, int, bytes]] = {}  # (resourceVersion, content, packed)
        self._topics: dict[Key, str | None] = {}  # object -> its topic
        self._index: dict[Key, set[str]] = {}  # (namespace, topic) -> names
        self._flights: dict[Key, int] = {}  # objects being written by this process: writes in flight
        self._answered: dict[Key, set[str | None]] = {}  # ... the versions their answers made
        self._held: dict[Key, tuple[set[str | None], set[str | None]]] = {}  # ... changes seen: versions, topics
        self._task: asyncio.Task[None] | None = None
        self.version: str | None = None  # the last version the list or the watch reached

    # --- reading -------------------------------------------------------------------------
    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        stored = self._objects.get((namespace, name))
        return None if stored is None else _unpack(stored[2])

    def of_topic(self, namespace: str, topic: str) -> list[dict[str, Any]]:
        return [_unpack(self._objects[(namespace, n)][2]) for n in sorted(self._index.get((namespace, topic), ()))]

    def __len__(self) -> int:
        return len(self._objects)

    # --- writing the store ---------------------------------------------------------------
    def put(self, obj: dict[str, Any]) -> None:
        """A write's answer from the server: stored without announcing it (the caller knows)."""
        self._store(self._clean(obj))

    def expect(self, namespace: str, name: str) -> None:
        """This process is about to write this object: changes seen until `settle` wait."""
        key = (namespace, name)
        self._flights[key] = self._flights.get(key, 0) + 1

    def settle(self, namespace: str, name: str, answer: dict[str, Any] | None) -> None:
        """A write `expect`ed is answered (`answer`: the object the server returned) or failed
        (None). Once no write of the object is in flight, the changes seen meanwhile are announced,
        unless each was the version a write's answer made (its own echo)."""
        key = (namespace, name)
        answered = self._answered.setdefault(key, set())
        if answer is not None and _version(answer) is not None:
            answered.add(_version(answer))
        left = self._flights.get(key, 0) - 1
        if left > 0:
            self._flights[key] = left
            return
        self._flights.pop(key, None)
        self._answered.pop(key, None)
        held = self._held.pop(key, None)
        if held is not None and not held[0] <= answered:
            self._announce(namespace, self.get(namespace, name), *held[1])

    def _hold(self, key: Key, version: str | None, *topics: str | None) -> bool:
        """Keep a change of an object being written for `settle`: True when held."""
        if key not in self._flights:
            return False
        versions, held = self._held.setdefault(key, (set(), set()))
        versions.add(version)
        held.update(topics)
        return True

    def _clean(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj = self.trim(obj) if self.trim is not None else dict(obj)
        meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
        if LAST_APPLIED in (meta.get("annotations") or {}):  # kubectl apply's copy of the whole object
            meta["annotations"] = {k: v for k, v in meta["annotations"].items() if k != LAST_APPLIED}
        obj["metadata"] = meta
        return obj

    def _store(self, obj: dict[str, Any]) -> int:
        """Store a cleaned object; the digest of what it holds beside its resourceVersion."""
        key = _key(obj)
        topic = self.topic_of(obj)
        self._unindex(key)
        content = _content(obj if self.significant is None else self.significant(obj))
        self._objects[key] = (_version(obj), content, _pack(obj))
        self._topics[key] = topic
        if topic is not None:
            self._index.setdefault((key[0], topic), set()).add(key[1])
        return content

    def _unindex(self, key: Key) -> str | None:
        topic = self._topics.pop(key, None)
        if topic is not None:
            names = self._index.get((key[0], topic))
            if names is not None:
                names.discard(key[1])
                if not names:
                    del self._index[(key[0], topic)]
        return topic

    def _changed(self, obj: dict[str, Any]) -> None:
        key = _key(obj)
        stored = self._objects.get(key)
        if stored is not None and stored[0] == _version(obj):
            return  # already known (the caller's own write, or an unchanged relist)
        before = self._topics.get(key)
        kept = self._clean(obj)
        content = self._store(kept)
        if stored is not None and stored[1] == content and before == self._topics.get(key):
            return  # a change of what the cache does not keep (most status updates): stored, not announced
        if not self._hold(key, _version(obj), before, self._topics.get(key)):
            self._announce(key[0], kept, before, self._topics.get(key))

    def _deleted(self, key: Key) -> None:
        if key not in self._objects:
            return
        del self._objects[key]
        topic = self._unindex(key)
        if not self._hold(key, None, topic):  # a deletion is never a write's answer: announced at `settle`
            self._announce(key[0], None, topic)

    def _announce(self, namespace: str, obj: dict[str, Any] | None, *topics: str | None) -> None:
        for topic in dict.fromkeys(topics):
            if topic is not None:
                self.on_change(namespace, topic, obj)

    # --- list and watch ------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"informer-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                version: str | None = await self._list()
                self.synced.set()
                while version is not None:
                    version = await self._follow(version)  # None: list again
            except asyncio.CancelledError:
                raise
            except (ApiError, aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                log.warning("watch of %s: %s; listing again shortly", self.name, exc)
                await asyncio.sleep(RELIST_DELAY)

    def _params(self) -> dict[str, str]:
        return {"labelSelector": self.selector} if self.selector else {}

    async def _list(self) -> str:
        """List, a page at a time (a whole list of 10,000 objects parsed at once would be the
        operator's largest allocation); announce only what is new, changed or gone since the store
        last saw it. The version to watch from is the first page's (the list's snapshot)."""
        listed: set[Key] = set()
        params = {**self._params(), "limit": str(PAGE)}
        version: str | None = None
        while True:
            page = await self.kube.request("GET", self.path, params=params, accept=self.list_accept)
            version = version or str(page["metadata"]["resourceVersion"])
            for obj in page.get("items") or []:
                listed.add(_key(obj))
                self._changed(obj)
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
            params = {**self._params(), "limit": str(PAGE), "continue": token}
        for key in set(self._objects) - listed:
            self._deleted(key)
        self.version = version
        return version

    async def _follow(self, version: str) -> str | None:
        """One watch from `version`: the last version seen when the server ends it, None to list
        again (an ERROR event such as 410 Gone)."""
        async for event in self._watch(version):
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                log.info("watch of %s: %s; listing again", self.name, obj.get("message") or obj)
                return None
            version = _version(obj) or version
            if kind in ("ADDED", "MODIFIED"):
                self._changed(obj)
            elif kind == "DELETED":
                self._deleted(_key(obj))
            self.version = version
        return version

    async def _watch(self, version: str) -> AsyncIterator[dict[str, Any]]:
        session = await self.kube.watch_session()
        params = {**self._params(), "watch": "1", "resourceVersion": version, "allowWatchBookmarks": "true",
                  "timeoutSeconds": str(WATCH_SECONDS)}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=WATCH_SECONDS + 30)
        async with session.get(self.kube.base + self.path, params=params, headers=self.kube.headers(self.accept),
                               timeout=timeout) as rsp:
            if rsp.status == 410:
                yield {"type": "ERROR", "object": {"message": "410 Gone"}}
                return
            if rsp.status >= 400:
                raise ApiError.of(rsp.status, rsp.reason or "", await rsp.text())
            buffer = b""
            async for chunk in rsp.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield orjson.loads(line)


class NameIndex(Informer):
    """Every name of a kind (a metadata-only list and watch with no selector), and up to which
    version it has seen them: whether a name is taken, by anyone, as of a given version. It keeps
    names only, announces nothing, and no object is read from it."""

    def __init__(self, kube: Kube, path: str, name: str = "") -> None:
        super().__init__(kube, path, topic_of=lambda _obj: None, on_change=lambda *_: None, metadata_only=True,
                         name=name)

    def _changed(self, obj: dict[str, Any]) -> None:
        self._objects[_key(obj)] = (_version(obj), 0, b"")

    def _deleted(self, key: Key) -> None:
        self._objects.pop(key, None)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        raise TypeError("a name index holds names, not objects")

    def taken(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self._objects

    def seen_since(self, version: str | None) -> bool:
        """Whether every change up to `version` (of another object: resourceVersions are etcd's
        revisions, one sequence for every kind) has reached this index. False when either cannot
        be compared."""
        try:
            return self.synced.is_set() and self.version is not None and version is not None \
                and int(self.version) >= int(version)
        except ValueError:
            return False
