"""The operator's structure as a test: no import circles, each floor imports only the floors below
it, and the vocabulary of reasons is one table that the code uses entirely and only."""

from __future__ import annotations

import ast
from pathlib import Path

from swarm_operator.reasons import REASONS, Phase, R

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "swarm_operator"
# The floors, top down: a module imports from its own floor or the ones below it, never above.
FLOORS = [
    {"__main__", "cli"},
    {"handlers"},
    {"reconciler"},
    {"planner"},
    {"owned", "rbac"},
    {"children", "validation", "podpolicy", "crd", "metrics", "identity", "hostreport"},
    {"models", "drift", "conditions", "reasons", "names", "hashes", "objects", "config", "managed", "__init__"},
    {"api"},
]


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(p for p in parts if p != "__init__") or "__init__"


def _imports(path: Path) -> set[str]:
    """The package's modules a file imports, anywhere in it (function-level imports too)."""
    here = _module(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = [*base, *(node.module.split(".") if node.module else [])]
            elif (node.module or "").startswith("swarm_operator"):
                target = node.module.split(".")[1:]  # type: ignore[union-attr]
            else:
                continue
            prefix = ".".join(target)
            names = [a.name for a in node.names]
            subs = [f"{prefix}.{n}" if prefix else n for n in names]
            found = [s for s in subs if s in MODULES]
            out.update(found or [prefix or "__init__"])
        elif isinstance(node, ast.Import):
            out.update(a.name.removeprefix("swarm_operator.") for a in node.names
                       if a.name.startswith("swarm_operator."))
    return {m for m in out if m in MODULES and m != _module(path)}


MODULES = {_module(p) for p in PACKAGE.rglob("*.py")}
GRAPH = {_module(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def _floor(module: str) -> int:
    top = module.split(".")[0]
    return next(i for i, floor in enumerate(FLOORS) if top in floor)


def test_there_is_no_import_circle() -> None:
    seen: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(module: str, path: list[str]) -> None:
        seen[module] = 1
        for other in sorted(GRAPH[module]):
            assert seen.get(other) != 1, "import circle: " + " -> ".join([*path, module, other])
            if other not in seen:
                visit(other, [*path, module])
        seen[module] = 2

    for module in sorted(GRAPH):
        if module not in seen:
            visit(module, [])
    assert len(GRAPH) > 40  # the walk saw the whole package


def test_each_floor_imports_only_its_own_floor_and_the_ones_below() -> None:
    upward = [(m, o) for m, others in GRAPH.items() for o in others if _floor(o) < _floor(m)]
    assert upward == []
    assert GRAPH["api.client"] <= {"api.errors", "api.paths", "api.throttle"}  # the generic floor knows no domain
    assert GRAPH["api.throttle"] == set()


# Where a call takes its reason: Cond(type, status, REASON), Event(type, REASON), HostReportError(REASON).
REASON_ARG = {"Cond": 2, "Event": 1, "HostReportError": 0}


def _reason_uses() -> tuple[set[str], list[str]]:
    """The R members the package names, and the places that give a reason as a string literal."""
    used: set[str] = set()
    literal: list[str] = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "reasons.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "R":
                used.add(node.attr)
            if isinstance(node, ast.Call):
                called = getattr(node.func, "attr", None) or getattr(node.func, "id", "")
                at = REASON_ARG.get(called)
                if at is not None and len(node.args) > at and isinstance(node.args[at], ast.Constant):
                    literal.append(f"{path.name}:{node.lineno}")
    return used, literal


def test_every_reason_is_in_the_table_and_every_entry_is_said() -> None:
    used, literal = _reason_uses()
    assert literal == [], "reasons are said through reasons.R"
    assert sorted(m.name for m in R if m.name not in used) == []
    assert set(REASONS) == set(R)


def test_the_operations_guide_explains_every_reason_and_phase() -> None:
    guide = (PACKAGE.parents[1] / "docs" / "operations.md").read_text()
    assert [str(r) for r in R if f"`{r}`" not in guide] == []
    assert [str(p) for p in Phase if f"`{p}`" not in guide] == []


def test_every_test_module_has_its_own_name() -> None:
    """`make test` collects tests/ and e2e/ in one pytest run, where a module is imported by its file
    name: two test files of one name stop the whole run at collection ('import file mismatch')."""
    root = PACKAGE.parents[1]
    seen: dict[str, list[str]] = {}
    for top in ("tests", "e2e"):
        for path in (root / top).rglob("*.py"):
            skipped = path.name == "conftest.py" or "node_modules" in path.parts
            if not skipped and (root / "e2e" / "localcluster") not in path.parents:
                seen.setdefault(path.name, []).append(str(path.relative_to(root)))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}
