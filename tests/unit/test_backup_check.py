"""The opt-in backup check on the pure planner: CredentialsBackedUp from the topic's backup record and
the uids of the Secrets the operator sees; never holds Ready back; one Warning event per turn."""

from __future__ import annotations

from typing import Any

from swarm_operator import conditions as c
from swarm_operator import names
from swarm_operator.planner import Plan, plan
from swarm_operator.planner.backupcheck import record
from test_plan import KEY, SECRETS, _steady
from unit_support import make_topic


def steady(annotations: dict[str, str] | None = None, status: dict[str, Any] | None = None,
           check: bool = True) -> Plan:
    topic = make_topic(status=status or {"baseKey": KEY, "conditions": []})
    topic["metadata"]["annotations"] = annotations or {}
    obs = _steady(topic, ready=5)
    obs.backup_check = check
    return plan(obs)


def backed_up(**uids: str) -> dict[str, str]:
    held = {name: f"{name}-uid" for name in SECRETS}  # the uids `owned_meta` gives the Secrets
    held.update(uids)
    return record("2026-11-24T11:00:00Z", "ab" * 32, held)


def backup_cond(p: Plan) -> dict[str, Any] | None:
    return c.find(p.status["conditions"], c.CREDENTIALS_BACKED_UP)


def test_never_backed_up_is_a_warning_that_leaves_the_topic_ready() -> None:
    p = steady()
    cond = backup_cond(p)
    assert cond is not None and (cond["status"], cond["reason"]) == ("False", "NeverBackedUp")
    assert "chat-encryption" in cond["message"] and "swarm-operator backup apps/chat" in cond["message"]
    assert c.find(p.status["conditions"], c.READY)["status"] == "True" and p.phase == "Ready"
    assert [(e.type, e.reason) for e in p.events] == [("Warning", "NeverBackedUp")]
    again = plan(_with_status(p))
    assert again.events == [] and backup_cond(again) == cond  # one event, not one per pass


def _with_status(p: Plan) -> Any:
    topic = make_topic(status=p.status)
    obs = _steady(topic, ready=5)
    obs.backup_check = True
    return obs


def test_a_backup_of_the_current_secrets_clears_it() -> None:
    p = steady(backed_up())
    cond = backup_cond(p)
    assert cond is not None and (cond["status"], cond["reason"]) == ("True", "BackedUp")
    assert "2026-11-24T11:00:00Z" in cond["message"] and p.events == []


def test_a_secret_made_after_the_backup_outdates_it() -> None:
    p = steady(backed_up(**{"chat-identity": "the-old-identity"}))
    cond = backup_cond(p)
    assert cond is not None and (cond["status"], cond["reason"]) == ("False", "BackupOutdated")
    assert cond["message"].startswith("Secret chat-identity is not the one in the last backup")
    assert [(e.type, e.reason) for e in p.events] == [("Warning", "BackupOutdated")]


def test_off_by_default_and_its_condition_goes_when_turned_off() -> None:
    assert backup_cond(steady(check=False)) is None
    on = steady()
    off = steady(status=on.status, check=False)
    assert backup_cond(off) is None and off.events == []


def test_nothing_to_back_up_before_the_key_is_recorded() -> None:
    topic = make_topic(status={"conditions": []})
    obs = _steady(topic, ready=0)
    obs.backup_check = True
    assert backup_cond(plan(obs)) is None
    assert names.ANNOTATION_BACKUP_TIME == "swarm-operator.dev/backup-time"
