"""The operator's vocabulary, one table each: the phases of a SwarmTopic, and every reason it says
(condition reasons and event reasons), with what each means for the phase, the event it is posted
as, and the status view's advice (`swarm-operator status`).

A reason is said only through `R`; a unit test keeps every `R` used somewhere in the operator and
every entry here documented in docs/operations.md.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Phase(enum.StrEnum):
    """`status.phase`, for display only (conditions are the API)."""

    PENDING = "Pending"  # nothing started yet: the host identity is being made
    BOOTSTRAPPING = "Bootstrapping"  # the host StatefulSet is there or being made; no key yet
    ROLLING_OUT = "RollingOut"  # the key is recorded, not everything is Ready
    READY = "Ready"
    STUCK = "Stuck"  # a standing problem that needs a person (a reason with `stuck`)
    PAUSED = "Paused"  # spec.paused: the operator observes and reports, and writes no child


class R(enum.StrEnum):
    """Every reason the operator says, on a condition or an event."""

    # Ready, and problems found before or while acting
    READY = "Ready"
    INVALID_SPEC = "InvalidSpec"
    NAME_CONFLICT = "NameConflict"
    API_REJECTED = "ApiRejected"
    FORBIDDEN = "Forbidden"
    # HostReady
    IDENTITY_PENDING = "IdentityPending"
    ANNOUNCE_FLUSHED = "AnnounceFlushed"
    WAITING_FOR_ANNOUNCE = "WaitingForAnnounce"
    HOST_PENDING = "HostPending"
    HOST_NOT_READY = "HostNotReady"
    ANNOUNCE_TIMEOUT = "AnnounceTimeout"
    HOST_UNREACHABLE = "HostUnreachable"
    BAD_SIGNATURE = "BadSignature"
    WRONG_IDENTITY = "WrongIdentity"
    WRONG_TOPIC = "WrongTopic"
    MALFORMED_REPORT = "MalformedReport"
    STALE_REPORT = "StaleReport"
    # HostsReady and Quorum (several hosts)
    ALL_HOSTS_READY = "AllHostsReady"
    HOSTS_NOT_READY = "HostsNotReady"
    QUORUM_HELD = "QuorumHeld"
    QUORUM_DOWN = "QuorumDown"
    QUORUM_LOST = "QuorumLost"
    SCALE_DOWN_REFUSED = "ScaleDownRefused"
    # HostWritable
    WRITABLE = "Writable"
    HOST_NOT_WRITABLE = "HostNotWritable"
    BASE_UNREACHABLE = "BaseUnreachable"
    # BaseKeyRecorded and Degraded
    RECORDED = "Recorded"
    WAITING_FOR_HOST = "WaitingForHost"
    BASE_KEY_CONFLICT = "BaseKeyConflict"
    UNTRUSTED_RECORD = "UntrustedRecord"
    ENCRYPTION_KEY_LOST = "EncryptionKeyLost"
    AS_EXPECTED = "AsExpected"
    # ClientsReady
    WAITING_FOR_BASE_KEY = "WaitingForBaseKey"
    ROLLING_OUT = "RollingOut"
    CLIENTS_READY = "ClientsReady"
    # Events of single actions and of the topic's state
    BASE_KEY_RECORDED = "BaseKeyRecorded"
    DRIFT_REPAIRED = "DriftRepaired"
    REPLICAS_HELD = "ReplicasHeld"
    IDENTITY_ROTATED = "IdentityRotated"
    MEMBER_SEED_REPLACED = "MemberSeedReplaced"
    OPEN_WRITERS = "OpenWriters"
    PAUSED = "Paused"
    # CredentialsBackedUp (the opt-in backup check)
    BACKED_UP = "BackedUp"
    NEVER_BACKED_UP = "NeverBackedUp"
    BACKUP_OUTDATED = "BackupOutdated"
    # A restored topic's hosts all reported: restore mode off (planner/restore.py)
    RESTORE_FINISHED = "RestoreFinished"


@dataclass(frozen=True)
class About:
    """What a reason means: `stuck`, a topic whose Ready condition carries it is `Stuck` (and a
    Warning event of that name is posted when it gets there); `severity`, the type of the event
    posted under this name (None: no event carries it); `advice`, the status view's next step
    ("" where there is nothing to do), a format string over {name}, {ns}, {host}, {topic_label}."""

    stuck: bool = False
    severity: str | None = None
    advice: str = ""


_CHILDREN = "kubectl get st,sts,svc,cm,secret,deploy -n {ns} -l {topic_label}={name}"
_CONTRACT = "docs/host-contract.md"

REASONS: dict[R, About] = {
    R.READY: About(severity="Normal"),  # also the event of a topic out of a problem, named by its phase
    R.INVALID_SPEC: About(True, "Warning", "fix the field the message names (kubectl edit st {name} -n {ns}); "
                          "nothing was created"),
    R.NAME_CONFLICT: About(True, "Warning", "an object with a child's name exists and is not controlled by this "
                           "topic: rename or delete it (kubectl get sts,svc,cm,secret,deploy -n {ns})"),
    R.API_REJECTED: About(True, "Warning", "the API server refused a child: the message says why (quota, "
                          "admission, Pod Security)"),
    R.FORBIDDEN: About(True, "Warning", "the operator's ServiceAccount may not do what the message names: "
                       "check the chart's RBAC (watchNamespaces, rbac.create)"),
    R.IDENTITY_PENDING: About(advice="wait: the operator is making the host's identity Secret"),
    R.ANNOUNCE_FLUSHED: About(),
    R.WAITING_FOR_ANNOUNCE: About(advice="wait: the host is joining the DHT (up to "
                                  "spec.bootstrapHost.announceTimeoutSeconds)"),
    R.HOST_PENDING: About(advice="kubectl describe pod {host} -n {ns}: its events say what holds it (scheduling, "
                          "its volume claim, its image)"),
    R.HOST_NOT_READY: About(advice="the host pod is not Ready: kubectl describe pod {host} -n {ns}; "
                            "kubectl logs {host} -n {ns}"),
    R.ANNOUNCE_TIMEOUT: About(True, "Warning", "check that spec.dht.bootstrap resolves and is reachable over UDP "
                              "from the host pod (NetworkPolicy), then the host's logs: kubectl logs {host} -n {ns}"),
    R.HOST_UNREACHABLE: About(advice="the operator cannot reach the host's status port: check NetworkPolicy "
                              "from the operator's namespace to port `status` of {host}"),
    R.BAD_SIGNATURE: About(True, "Warning", "the host image does not honour the host contract "
                           f"({_CONTRACT}), or something else answers on its status port"),
    R.WRONG_IDENTITY: About(True, "Warning", "nothing: the operator re-creates the identity Secret and the host "
                            "rolls onto it"),
    R.WRONG_TOPIC: About(True, "Warning", f"the host serves another topic: check the image and its SWARM_TOPIC "
                         f"({_CONTRACT})"),
    R.MALFORMED_REPORT: About(True, "Warning", f"the host's /status is not the contract's: check the image "
                              f"({_CONTRACT})"),
    R.STALE_REPORT: About(True, "Warning", "nothing if it clears: the host answered without the operator's nonce "
                          "(an old image or a replayed report); if it persists, check the host image"),
    R.ALL_HOSTS_READY: About(),
    R.HOSTS_NOT_READY: About(advice="a host is down: kubectl get pods -n {ns} -l {topic_label}={name},"
                             "app.kubernetes.io/component=bootstrap-host; while a majority of indexers is up the "
                             "topic serves; a host that lost its disk heals itself (docs/operations.md)"),
    R.QUORUM_HELD: About(),
    R.QUORUM_DOWN: About(True, "Warning", "fewer than a majority of the base's indexer hosts are up: nothing is "
                         "confirmed and no member is admitted until one comes back: kubectl describe pod -n {ns} -l "
                         "{topic_label}={name},app.kubernetes.io/component=bootstrap-host"),
    R.QUORUM_LOST: About(True, "Warning", "a majority of the base's indexers lost their disks for good: the base "
                         "can never confirm again; see docs/operations.md (quorum lost): restore a host volume "
                         "from a backup, or move the data to a new topic"),
    R.SCALE_DOWN_REFUSED: About(True, "Warning", "set spec.bootstrapHost.replicas back to the running count: "
                                "fewer indexer hosts are refused (docs/operations.md)"),
    R.WRITABLE: About(),
    R.HOST_NOT_WRITABLE: About(True, "Warning", "the host lost its disk or was never admitted to the base: see "
                               "docs/operations.md (host disk loss); kubectl logs {host} -n {ns}"),
    R.BASE_UNREACHABLE: About(True, "Warning", "no peer the host can reach holds the adopted base: start a peer "
                              "that holds it, or check spec.baseKey"),
    R.RECORDED: About(),
    R.WAITING_FOR_HOST: About(advice="wait for HostReady; the key is recorded from the host's first verified "
                              "report"),
    R.BASE_KEY_CONFLICT: About(True, "Warning", "the host's volume holds another base: restore the right PVC "
                               "(data-{host}), or delete the topic and its PVC and re-create it "
                               "(docs/operations.md)"),
    R.UNTRUSTED_RECORD: About(True, "Warning", "a recorded key in status was written by someone other than the "
                              "operator and the host does not sign it: the message names the field and the key the "
                              "children stay on; write the right key back (kubectl patch st {name} -n {ns} "
                              "--subresource=status) and find who may write SwarmTopic status (docs/security.md)"),
    R.ENCRYPTION_KEY_LOST: About(True, "Warning", "the encryption Secret {name}-encryption is gone while the base "
                                 "exists: restore it from the topic's backup (swarm-operator restore; "
                                 "docs/operations.md, \"EncryptionKeyLost\"); no new key is ever made for it"),
    R.AS_EXPECTED: About(),
    R.WAITING_FOR_BASE_KEY: About(advice="wait for BaseKeyRecorded; clients start only once the key is recorded"),
    R.ROLLING_OUT: About(severity="Normal", advice="wait, or look at the client pods: kubectl get pods -n {ns} "
                         "-l {topic_label}={name}"),
    R.CLIENTS_READY: About(),
    R.BASE_KEY_RECORDED: About(severity="Normal"),
    R.DRIFT_REPAIRED: About(severity="Warning"),
    R.REPLICAS_HELD: About(severity="Normal"),
    R.IDENTITY_ROTATED: About(severity="Warning"),
    R.MEMBER_SEED_REPLACED: About(severity="Warning"),
    R.OPEN_WRITERS: About(severity="Warning"),
    R.PAUSED: About(severity="Normal", advice="spec.paused is true: kubectl patch st {name} -n {ns} --type=merge "
                    "-p '{{\"spec\":{{\"paused\":false}}}}' to resume"),
    R.BACKED_UP: About(),
    R.NEVER_BACKED_UP: About(severity="Warning", advice="back the topic's credentials up: swarm-operator backup "
                             "{ns}/{name} --recipient KEY -o FILE (docs/operations.md, Backup and restore)"),
    R.BACKUP_OUTDATED: About(severity="Warning", advice="a Secret of the topic changed since its last backup: "
                             "swarm-operator backup {ns}/{name} --recipient KEY -o FILE"),
    R.RESTORE_FINISHED: About(severity="Normal"),
}
assert set(REASONS) == set(R), "every reason has its entry"

STUCK = frozenset(r for r, about in REASONS.items() if about.stuck)


def about(reason: str | None) -> About | None:
    """The table's entry of a reason named as text (a status read back), None for an unknown one."""
    try:
        return REASONS[R(reason)]
    except ValueError:
        return None
