"""Label and field selectors, as `?labelSelector=` and `?fieldSelector=` of the Kubernetes API."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Matcher = Callable[[dict[str, Any]], bool]
_SET = re.compile(r"^\s*(!?)([A-Za-z0-9./_-]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")


def _split(selector: str) -> list[str]:
    """Split on commas outside parentheses: `a in (x,y),b=c` -> [`a in (x,y)`, `b=c`]."""
    parts, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _requirement(text: str, lookup: Callable[[dict[str, Any], str], str | None]) -> Matcher:
    for op in ("!=", "==", "="):
        if op in text:
            key, value = (s.strip() for s in text.split(op, 1))
            if op == "!=":
                return lambda obj: lookup(obj, key) != value
            return lambda obj: lookup(obj, key) == value
    match = _SET.match(text)
    if not match:
        raise ValueError(f"unable to parse requirement {text!r}")
    negate, key, op, values = match.groups()
    if op:
        allowed = {v.strip() for v in values.split(",") if v.strip()}
        if op == "in":
            return lambda obj: lookup(obj, key) in allowed
        return lambda obj: lookup(obj, key) not in allowed
    if negate:
        return lambda obj: lookup(obj, key) is None
    return lambda obj: lookup(obj, key) is not None


def _label(obj: dict[str, Any], key: str) -> str | None:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(key)


def _field(obj: dict[str, Any], key: str) -> str | None:
    node: Any = obj
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return None if node is None else str(node)


def compile_selector(labels: str | None, fields: str | None) -> Matcher:
    """One predicate for both selectors; an empty selector matches everything."""
    requirements = [_requirement(t, _label) for t in _split(labels or "")]
    requirements += [_requirement(t, _field) for t in _split(fields or "")]
    return lambda obj: all(req(obj) for req in requirements)
