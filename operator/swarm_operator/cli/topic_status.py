"""`swarm-operator status NAMESPACE/NAME` (also `kubectl swarm status`): one SwarmTopic's bootstrap
timeline, its conditions, its last events and what to do next.

`format_status` is pure (a `TopicReport` in, text out) and unit-tested from recorded objects;
`read_report` does the reading with the `kubernetes` client (the user's kubeconfig or the
in-cluster service account).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .. import names
from ..conditions import parse_time
from ..reasons import REASONS, R, about

Obj = Mapping[str, Any]

# What to do next: by condition reason (the reasons table, `reasons.REASONS`), else by condition type.
WAITING = frozenset({R.WAITING_FOR_HOST, R.WAITING_FOR_BASE_KEY})
TYPE_ADVICE = {
    "HostReady": "kubectl describe pod {host} -n {ns}; kubectl logs {host} -n {ns}",
    "BaseKeyRecorded": "wait for HostReady, then see the operator's logs",
    "ClientsReady": "kubectl get pods -n {ns} -l {topic_label}={name}",
    "Ready": "see the other conditions",
}


@dataclass
class TopicReport:
    """Everything the view shows, as read from the API server."""

    topic: dict[str, Any]
    host_pod: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class Step:
    name: str
    at: datetime | None
    note: str = ""



def _condition(conditions: list[Obj], ctype: str) -> Obj | None:
    return next((c for c in conditions if c.get("type") == ctype), None)


def _true_since(conditions: list[Obj], ctype: str) -> datetime | None:
    cond = _condition(conditions, ctype)
    if cond is None or cond.get("status") != "True":
        return None
    return parse_time(cond.get("lastTransitionTime"))


def timeline(report: TopicReport) -> list[Step]:
    """Created, host scheduled, announce flushed (host pod Ready), key recorded, clients ready."""
    topic = report.topic
    status = topic.get("status") or {}
    conds = [c for c in status.get("conditions") or [] if isinstance(c, Mapping)]
    pod_conds = [c for c in ((report.host_pod or {}).get("status") or {}).get("conditions") or []]
    announced = f"host reports {status['announcedAt']}" if status.get("announcedAt") else ""
    key = f"base key {status['baseKeyShort']}…" if status.get("baseKeyShort") else ""
    if status.get("bootstrapSeconds") is not None:
        key += f" (bootstrapSeconds {status['bootstrapSeconds']})"
    return [
        Step("created", parse_time(topic["metadata"].get("creationTimestamp"))),
        Step("host scheduled", _true_since(pod_conds, "PodScheduled"),
             "" if report.host_pod else "no host pod"),
        Step("announce flushed", _true_since(pod_conds, "Ready"), announced),
        Step("key recorded", _true_since(conds, "BaseKeyRecorded"), key.strip()),
        Step("clients ready", _true_since(conds, "ClientsReady"), str(status.get("clientsReady") or "")),
    ]


def duration(seconds: float) -> str:
    if seconds < 0:
        return "-" + duration(-seconds)
    if seconds < 60:  # API timestamps have whole seconds: no false decimals
        return f"{seconds:.0f}s" if seconds >= 10 or seconds == int(seconds) else f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours < 48 else f"{hours // 24}d"


def format_timeline(steps: list[Step]) -> list[str]:
    start = steps[0].at
    previous = start
    lines = [f"  {'STEP':<18}{'AT (UTC)':<22}{'+STEP':>8}{'TOTAL':>9}  NOTE"]
    for step in steps:
        if step.at is None:
            lines.append(f"  {step.name:<18}{'-':<22}{'':>8}{'':>9}  {step.note or 'not yet'}")
            continue
        since_prev = duration((step.at - previous).total_seconds()) if previous and step is not steps[0] else ""
        total = duration((step.at - start).total_seconds()) if start else ""
        note = step.note
        if previous and step.at < previous:  # the step above was reached again later (a restart)
            since_prev = "-"
            note = f"{note} (before the step above, which happened again later)".strip()
        lines.append(f"  {step.name:<18}{step.at.strftime('%Y-%m-%d %H:%M:%S'):<22}{since_prev:>8}"
                     f"{total:>9}  {note}".rstrip())
        previous = max(previous, step.at) if previous else step.at
    return lines


def _bad(cond: Obj) -> bool:
    # Degraded is the one condition whose True is the problem.
    return cond.get("status") != ("False" if cond.get("type") == "Degraded" else "True")


def next_steps(report: TopicReport) -> list[str]:
    """One line of advice per condition that is not as it should be (Ready last, only when alone)."""
    meta = report.topic["metadata"]
    fill = {"name": meta["name"], "ns": meta["namespace"], "host": names.host_pod(meta["name"]),
            "topic_label": names.LABEL_TOPIC}
    status = report.topic.get("status") or {}
    conds = [c for c in status.get("conditions") or [] if isinstance(c, Mapping) and _bad(c)]
    if len(conds) > 1:
        conds = [c for c in conds if c.get("type") != "Ready"]  # Ready repeats the first failing one
    out = []
    for i, cond in enumerate(conds):
        reason = str(cond.get("reason") or "")
        known = about(reason)
        advice = (known.advice if known else "") or TYPE_ADVICE.get(str(cond.get("type")), "see the message above")
        if reason in WAITING and i > 0:  # only waiting for an earlier step: no action of its own
            advice = f"follows from {conds[0].get('type')} ({conds[0].get('reason')})"
        out.append(f"  {cond.get('type')} ({reason}): {advice.format(**fill)}")
    if status.get("phase") == "Paused" and not any("(Paused)" in line for line in out):
        out.append(f"  Paused: {REASONS[R.PAUSED].advice.format(**fill)}")
    return out


def format_conditions(report: TopicReport) -> list[str]:
    status = report.topic.get("status") or {}
    rows = [f"  {'TYPE':<16}{'STATUS':<8}{'REASON':<20}{'SINCE':>8}  MESSAGE"]
    for cond in status.get("conditions") or []:
        since = parse_time(cond.get("lastTransitionTime"))
        age = duration((report.now - since).total_seconds()) if since else "-"
        rows.append(f"  {cond.get('type', ''):<16}{cond.get('status', ''):<8}{cond.get('reason', ''):<20}"
                    f"{age:>8}  {cond.get('message', '')}".rstrip())
    return rows if len(rows) > 1 else ["  (none yet: the operator has not reconciled this topic)"]


def event_time(event: Obj) -> datetime | None:
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        if (at := parse_time(event.get(key))) is not None:
            return at
    return parse_time((event.get("metadata") or {}).get("creationTimestamp"))


def format_events(report: TopicReport, limit: int = 10) -> list[str]:
    epoch = datetime.min.replace(tzinfo=UTC)
    events = sorted(report.events, key=lambda e: event_time(e) or epoch)[-limit:]
    rows = [f"  {'AGE':>8}  {'TYPE':<8}{'REASON':<20}MESSAGE"]
    for event in events:
        at = event_time(event)
        age = duration((report.now - at).total_seconds()) if at else "-"
        count = int(event.get("count") or 1)
        message = str(event.get("message") or "") + (f" (x{count})" if count > 1 else "")
        rows.append(f"  {age:>8}  {event.get('type', ''):<8}{event.get('reason', ''):<20}{message}".rstrip())
    return rows if len(rows) > 1 else ["  (none: events expire after about an hour)"]


def restore_line(status: Obj) -> list[str]:
    """A restored topic's restore mode (status.restore), in a line; none for other topics."""
    restore = status.get("restore")
    if not isinstance(restore, dict) or not restore.get("source"):
        return []
    if not restore.get("finishedAt"):
        return [f"  restored from {restore['source']}: restore mode on since {restore.get('startedAt') or '-'}, "
                "until every host reported (a waiting host's /readyz says what for)"]
    hosts = ", ".join(str(n) for n in restore.get("restoredHosts") or []) or "none"
    return [f"  restored from {restore['source']}: restore mode off since {restore['finishedAt']}; hosts that "
            f"took back their writer keys: {hosts}"]


def format_status(report: TopicReport, events: int = 10) -> str:
    meta = report.topic["metadata"]
    status = report.topic.get("status") or {}
    header = [f"SwarmTopic {meta['namespace']}/{meta['name']}",
              f"  phase {status.get('phase') or '-'}, clients {status.get('clientsReady') or '-'}, "
              f"base key {status.get('baseKey') or '(not recorded)'}", *restore_line(status)]
    advice = next_steps(report)
    sections = [
        header,
        ["Bootstrap timeline:", *format_timeline(timeline(report))],
        ["Conditions:", *format_conditions(report)],
        ["Events (latest last):", *format_events(report, events)],
        ["Next steps:", *(advice or ["  nothing: the topic is Ready"])],
    ]
    return "\n\n".join("\n".join(lines) for lines in sections) + "\n"


# -- Reading (the only part that talks to the API server) --------------------------------------

class NotFound(Exception):
    pass


def _api_client(kubeconfig: str | None, context: str | None) -> Any:
    from kubernetes import config

    if kubeconfig is None and context is None:
        try:
            config.load_incluster_config()
            from kubernetes import client

            return client.ApiClient()
        except config.ConfigException:
            pass
    return config.new_client_from_config(config_file=kubeconfig, context=context)


def default_namespace(kubeconfig: str | None = None, context: str | None = None) -> str:
    """The namespace of the kubeconfig's (current) context, as kubectl picks it; else `default`."""
    from kubernetes import config

    try:
        contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)
    except (config.ConfigException, OSError):
        return "default"
    chosen = next((c for c in contexts if c["name"] == context), None) if context else current
    return str(((chosen or {}).get("context") or {}).get("namespace") or "default")


def _is_host_pod_of(pod: Obj, name: str) -> bool:
    """Only the topic's own host pod counts: its topic label and its StatefulSet controller."""
    meta = pod.get("metadata") or {}
    owners = [o for o in meta.get("ownerReferences") or [] if o.get("controller")]
    return ((meta.get("labels") or {}).get(names.LABEL_TOPIC) == name
            and any(o.get("kind") == "StatefulSet" and o.get("name") == names.host_statefulset(name)
                    for o in owners))


def read_report(namespace: str, name: str, kubeconfig: str | None = None,
                context: str | None = None) -> TopicReport:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    api = _api_client(kubeconfig, context)
    to_dict = api.sanitize_for_serialization
    try:
        topic = client.CustomObjectsApi(api).get_namespaced_custom_object(
            names.GROUP, names.VERSION, namespace, names.PLURAL, name)
    except ApiException as exc:
        if exc.status == 404:
            raise NotFound(f"no SwarmTopic {namespace}/{name}") from exc
        raise
    core = client.CoreV1Api(api)
    try:
        pod: dict[str, Any] | None = to_dict(core.read_namespaced_pod(names.host_pod(name), namespace))
    except ApiException as exc:
        if exc.status != 404:
            raise
        pod = None
    if pod is not None and not _is_host_pod_of(pod, name):
        pod = None
    selector = f"involvedObject.kind={names.KIND},involvedObject.name={name}"
    listing = to_dict(core.list_namespaced_event(namespace, field_selector=selector))
    uid = topic["metadata"].get("uid")
    events = [e for e in listing.get("items") or []
              if (e.get("involvedObject") or {}).get("uid") in (uid, None, "")]
    return TopicReport(topic=topic, host_pod=pod, events=events)
