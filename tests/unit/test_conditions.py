from __future__ import annotations

from datetime import timedelta

from swarm_operator import conditions as c
from unit_support import NOW


def test_transition_time_moves_only_when_status_flips() -> None:
    first = c.merge([], [c.Cond(c.HOST_READY, False, "WaitingForAnnounce")], 1, NOW)
    later = NOW + timedelta(seconds=30)
    same = c.merge(first, [c.Cond(c.HOST_READY, False, "AnnounceTimeout", "late")], 2, later)
    assert same[0]["lastTransitionTime"] == first[0]["lastTransitionTime"]
    assert same[0]["reason"] == "AnnounceTimeout" and same[0]["observedGeneration"] == 2
    flipped = c.merge(same, [c.Cond(c.HOST_READY, True, "AnnounceFlushed")], 2, later)
    assert flipped[0]["lastTransitionTime"] == "2026-11-24T12:00:30Z"
    assert flipped[0]["status"] == "True"


def test_conditions_keep_a_stable_order_and_unknown_types() -> None:
    merged = c.merge([{"type": "Custom", "status": "True", "reason": "X", "message": "",
                       "lastTransitionTime": "t"}],
                     [c.Cond(c.READY, None, "Unknown"), c.Cond(c.HOST_READY, True, "AnnounceFlushed")],
                     3, NOW)
    assert [x["type"] for x in merged] == [c.HOST_READY, c.READY, "Custom"]
    assert merged[1]["status"] == "Unknown"
