"""The upgrade brake's slots (the planner's `brake.py` is the other half): at most `limit` topics
roll their hosts at once, granted in a stable order (namespace, name) among the topics waiting for
one; a topic keeps its slot until its hosts all run the new template.

A pass asks `may_roll` before it plans (a slot it may take is taken), and `settle`s with what the
plan did: rolling (keeps the slot), held (waits in line), or nothing to roll (frees it). In memory:
a new leader finds rolling topics by their passes, each topic is reconciled within an interval.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

Key = tuple[str, str]


@dataclass
class Rolls:
    limit: int = 5  # topics rolling their hosts at once; 0 or less: no limit
    active: set[Key] = field(default_factory=set)
    _waiting: list[Key] = field(default_factory=list)  # sorted

    def may_roll(self, key: Key) -> bool:
        """Whether `key` holds a slot, or takes one now (it waits in line and its turn has come)."""
        if key in self.active or self.limit <= 0:
            return True
        at = bisect.bisect_left(self._waiting, key)
        if at < len(self._waiting) and self._waiting[at] == key and at < self.limit - len(self.active):
            del self._waiting[at]
            self.active.add(key)
            return True
        return False

    def settle(self, key: Key, state: str) -> None:
        """What the pass did: "rolling", "held" or "none"."""
        if state == "rolling":
            self.active.add(key)
            self._drop(key)
        elif state == "held" and key not in self.active:
            at = bisect.bisect_left(self._waiting, key)
            if at == len(self._waiting) or self._waiting[at] != key:
                self._waiting.insert(at, key)
        else:
            self.forget(key)

    def forget(self, key: Key) -> None:
        self.active.discard(key)
        self._drop(key)

    def _drop(self, key: Key) -> None:
        at = bisect.bisect_left(self._waiting, key)
        if at < len(self._waiting) and self._waiting[at] == key:
            del self._waiting[at]

    @property
    def waiting(self) -> int:
        return len(self._waiting)
