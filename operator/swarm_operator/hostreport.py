"""The host's signed status report (`GET /status`, SPEC section 4) and its verification.

The operator records a base key only from a report that verifies: ed25519 signature over the
exact payload bytes, made by the identity the operator generated, naming the expected topic.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from .hashes import bootstrap_topic_hash
from .reasons import R

HEX64 = re.compile(r"^[0-9a-f]{64}$")


class HostReportError(Exception):
    """A report that must not be trusted. `reason` is a CamelCase condition reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class HostReport:
    topic: str
    bootstrap_topic_hash: str
    base_key: str
    writer_key: str
    discovery_key: str
    announced_at: str
    announce_seconds: float
    peers: int
    writable: bool | None = None  # absent in hosts that predate the trust contract
    writers_policy: str | None = None
    writers: int | None = None  # writers the host sees in the base's system core; 0: it has none of it
    # Several hosts (absent from a host of one): which host this is and how it sees the indexers.
    ordinal: int | None = None
    indexer: bool | None = None  # this host is one of the base's active indexers
    indexer_keys: tuple[str, ...] = ()  # the base's indexers (writer keys), as this host sees them
    host_slots: tuple[tuple[int, str], ...] = ()  # (ordinal, writer key) of each host's seat, from the view
    signed_length: int | None = None  # the view's confirmed length (which host sees the latest state)
    unconfirmed: int | None = None  # entries this host holds that wait for confirmation
    started_over: bool | None = None  # it found its key replaced, wiped its store and joined again
    # Restore mode (SWARM_RESTORE): whether this process runs on the writer key it took back, and
    # when it tried and could not, why (absent from hosts before restore mode, and without it).
    restored: bool | None = None
    restore_why: str | None = None


def _hex_keys(values: object) -> tuple[str, ...]:
    return tuple(str(v) for v in values if isinstance(v, str) and HEX64.match(v)) if isinstance(values, list) else ()


def _seat(payload: dict[str, object]) -> dict[str, object]:
    """The several-hosts part of a report (each field optional; malformed ones are left out)."""
    slots = payload.get("hostSlots")
    ints = {k: payload[k] for k in ("ordinal", "signedLength", "unconfirmed")
            if isinstance(payload.get(k), int) and not isinstance(payload.get(k), bool)}
    return {
        "ordinal": ints.get("ordinal"), "signed_length": ints.get("signedLength"),
        "unconfirmed": ints.get("unconfirmed"),
        "indexer": payload["indexer"] if isinstance(payload.get("indexer"), bool) else None,
        "started_over": payload["startedOver"] if isinstance(payload.get("startedOver"), bool) else None,
        "indexer_keys": _hex_keys(payload.get("indexerKeys")),
        "host_slots": tuple((int(x["ordinal"]), str(x["key"])) for x in slots if isinstance(x, dict)
                            and isinstance(x.get("ordinal"), int) and isinstance(x.get("key"), str)
                            and HEX64.match(x["key"])) if isinstance(slots, list) else (),
    }


def _restore(payload: dict[str, object]) -> dict[str, object]:
    """The restore-mode part of a report (`restored`, `restore.why`; malformed ones left out)."""
    result = payload.get("restore")
    why = result.get("why") if isinstance(result, dict) else None
    return {"restored": payload["restored"] if isinstance(payload.get("restored"), bool) else None,
            "restore_why": why[:200] if isinstance(why, str) and why else None}


def verify_report(body: bytes | str, public_key_hex: str, expected_topic: str,
                  nonce: str | None = None) -> HostReport:
    """Parse and verify the JSON body of `GET /status?nonce=...`. Raises HostReportError.

    With a `nonce`, the signed payload must carry exactly it: an old signed report replayed on
    the pod's address is `StaleReport`, and nothing of it is used.
    """
    try:
        envelope = json.loads(body)
        payload_text = envelope["payload"]
        signature = bytes.fromhex(envelope["signature"])
        if not isinstance(payload_text, str):
            raise TypeError("payload is not a string")
    except (ValueError, KeyError, TypeError) as exc:
        raise HostReportError(R.MALFORMED_REPORT, f"host status is not a signed report: {exc}") from exc

    reported_key = str(envelope.get("publicKey", ""))
    if reported_key != public_key_hex:
        raise HostReportError(
            R.WRONG_IDENTITY,
            f"host signs as {reported_key[:16] or '<none>'}..., expected {public_key_hex[:16]}...",
        )
    try:
        VerifyKey(bytes.fromhex(public_key_hex)).verify(payload_text.encode("utf-8"), signature)
    except (BadSignatureError, ValueError) as exc:
        raise HostReportError(R.BAD_SIGNATURE, f"host status signature does not verify: {exc}") from exc

    try:
        payload = json.loads(payload_text)
        report = HostReport(
            topic=str(payload["topic"]),
            bootstrap_topic_hash=str(payload["bootstrapTopicHash"]),
            base_key=str(payload["baseKey"]),
            writer_key=str(payload["writerKey"]),
            discovery_key=str(payload["discoveryKey"]),
            announced_at=str(payload["announcedAt"]),
            announce_seconds=float(payload["announceSeconds"]),
            peers=int(payload["peers"]),
            writable=payload["writable"] if isinstance(payload.get("writable"), bool) else None,
            writers_policy=str(payload["writersPolicy"]) if "writersPolicy" in payload else None,
            writers=int(payload["writers"]) if isinstance(payload.get("writers"), int) else None,
            **_seat(payload), **_restore(payload),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise HostReportError(R.MALFORMED_REPORT, f"host status payload is malformed: {exc}") from exc

    if nonce is not None and payload.get("nonce") != nonce:
        raise HostReportError(R.STALE_REPORT, "the host's signed report does not carry the nonce this read "
                              "asked for (a replayed or cached report): nothing recorded")

    if report.topic != expected_topic:
        raise HostReportError(
            R.WRONG_TOPIC, f"host reports topic {report.topic!r}, expected {expected_topic!r}"
        )
    if report.bootstrap_topic_hash != bootstrap_topic_hash(expected_topic):
        raise HostReportError(R.WRONG_TOPIC, "host reports another bootstrap topic hash")
    for field, value in (("baseKey", report.base_key), ("writerKey", report.writer_key)):
        if not HEX64.match(value):
            raise HostReportError(R.MALFORMED_REPORT, f"host reports a {field} that is not 64 hex")
    return report
