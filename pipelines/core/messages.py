"""Pure converters from core values to Kafka messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from pipelines.core.model import Invalid
from pipelines.core.sla import ESCALATED, MET, REASSIGN, SlaEvent

SLA_SOURCE = "/leadflow/sla"
ADDRESSEE = {ESCALATED: "escalated_to", REASSIGN: "suggested_owner_id"}  # the payload field naming who a step is for


@dataclass(frozen=True, slots=True)
class KafkaMessage:
    """A message to send: key and value bytes."""

    key: bytes
    value: bytes


def _iso(instant: datetime | None) -> str | None:
    return None if instant is None else instant.astimezone(UTC).isoformat(timespec="milliseconds")


def to_sla_message(event: SlaEvent) -> KafkaMessage:
    """Return the CloudEvent of a warning, breach, met clock or escalation step, keyed by lead."""
    clock = event.clock
    data: dict[str, object] = {
        "lead_id": event.lead_id,
        "handoff": clock.handoff,
        "agreement": clock.agreement,
        "episode": clock.episode,
        "owner_id": clock.owner_id,
        "started_at": _iso(clock.started_at),
        "deadline": _iso(clock.deadline),
    }
    if event.kind == MET:
        data["business_seconds"] = clock.business_seconds
        data["stopped_at"] = _iso(clock.stopped_at)
    elif event.kind in ADDRESSEE:
        data["team"] = event.team
        data[ADDRESSEE[event.kind]] = event.to
    envelope = {
        "specversion": "1.0",
        "id": event.id,
        "source": SLA_SOURCE,
        "type": event.kind,
        "time": _iso(event.at),
        "subject": event.lead_id,
        "data": data,
    }
    return KafkaMessage(event.lead_id.encode(), orjson.dumps(envelope))


def to_check_message(lead_id: str, at_ms: int) -> KafkaMessage:
    """Return a request to judge a lead's clocks, routed to the lead's partition."""
    return KafkaMessage(lead_id.encode(), orjson.dumps({"lead_id": lead_id, "at": at_ms}))


def to_restate_message(lead_id: str) -> KafkaMessage:
    """Return a request to judge a lead again and store its snapshot (its owner's calendar changed)."""
    return KafkaMessage(lead_id.encode(), orjson.dumps({"lead_id": lead_id, "restate": True}))


def is_restate(value: object) -> bool:
    """Say whether a valid check message asks for the lead's snapshot to be stored again."""
    try:
        body = orjson.loads(value if isinstance(value, bytes | bytearray) else b"")
    except orjson.JSONDecodeError:
        return False
    return isinstance(body, dict) and body.get("restate") is True


def _text_fields(value: object, names: tuple[str, ...], what: str) -> tuple[str, ...] | Invalid:
    """Return the named non-empty string fields of an internal message, or why it is not one."""
    raw = value if isinstance(value, bytes) else bytes(value) if isinstance(value, bytearray) else b""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Invalid(raw, f"{what}: not JSON: {exc}")
    fields = tuple(body.get(n) for n in names) if isinstance(body, dict) else ()
    if len(fields) != len(names) or not all(isinstance(f, str) and f for f in fields):
        return Invalid(raw, f"{what}: must be a JSON object with the non-empty strings {', '.join(names)}")
    return tuple(str(f) for f in fields)


def from_check_message(value: object) -> str | Invalid:
    """Return the lead of a check message, or why the message is not one."""
    fields = _text_fields(value, ("lead_id",), "SLA check")
    return fields if isinstance(fields, Invalid) else fields[0]


def to_link_message(visitor_id: str, lead_id: str) -> KafkaMessage:
    """Return the message that ties a visitor to a lead, routed to the visitor's partition."""
    return KafkaMessage(visitor_id.encode(), orjson.dumps({"visitor_id": visitor_id, "lead_id": lead_id}))


def from_link_message(value: object) -> tuple[str, str] | Invalid:
    """Return (visitor, lead) of a link message, or why the message is not one."""
    fields = _text_fields(value, ("visitor_id", "lead_id"), "visitor link")
    return fields if isinstance(fields, Invalid) else (fields[0], fields[1])
