"""The scale benchmark's floor (bench/scale_floor.py) posts the very children the operator makes for a
topic (one of each name its table claims, but none it would not build), and its tables print."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from swarm_operator import owned
from swarm_operator.validation import parse_spec
from unit_support import make_topic

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from scale_figures import Phase, growth, side_by_side
from scale_floor import children_of


def test_the_floor_posts_what_the_operator_makes() -> None:
    topic = make_topic()
    topic["spec"]["bootstrapHost"]["replicas"] = 1  # the benchmark's topics: one host
    spec, _ = parse_spec(topic)
    assert spec is not None
    posted = [(kind.kind, child["metadata"]["name"]) for kind, child in children_of(topic)]
    claimed = {(kind.kind, name) for kind in owned.children() for name in kind.claimed("chat", spec)}
    assert set(posted) <= claimed and len(posted) == len(set(posted))
    assert Counter(k for k, _ in posted) == Counter(
        {"Secret": 3, "ConfigMap": 1, "Service": 1, "StatefulSet": 1, "Deployment": len(spec.clients)}
        | ({"NetworkPolicy": 1} if ("NetworkPolicy", "chat") in posted else {}))
    assert all(child["metadata"]["ownerReferences"][0]["uid"] == topic["metadata"]["uid"]
               for _, child in children_of(topic))


def test_the_tables_say_the_ratio_and_the_growth() -> None:
    cpu = {"kube-apiserver": 100.0, "operator": 10.0, "cluster": 150.0, "machine": 200.0}
    floor = Phase("floor", 1000, 120.0, {**cpu, "operator": 0.0, "cluster": 140.0}, Counter({"bench": 9000}))
    op = Phase("operator", 1000, 126.0, cpu, Counter({"operator": 12000}), key_to_ready=[0.5, 1.0, 2.5])
    table = side_by_side(floor, op)
    assert "seconds to all Ready                   120.0     126.0    1.05" in table
    assert "operator CPU per topic 10.0 ms" in table and "p99 2.50 s" in table
    bigger = Phase("operator", 3000, 390.0, {**cpu, "operator": 33.0}, Counter())
    assert "3000" in growth([(floor, op), (floor, bigger)])
