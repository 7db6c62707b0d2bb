"""Pure converters from core values to Kafka messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from pipelines.core.sla import MET, SlaEvent

SLA_SOURCE = "/leadflow/sla"


@dataclass(frozen=True, slots=True)
class KafkaMessage:
    """A message to send: key and value bytes."""

    key: bytes
    value: bytes


def _iso(instant: datetime | None) -> str | None:
    return None if instant is None else instant.astimezone(UTC).isoformat(timespec="milliseconds")


def to_sla_message(event: SlaEvent) -> KafkaMessage:
    """Return the CloudEvent of a warning, breach or met clock, keyed by lead."""
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


def from_check_message(value: bytes) -> str:
    """Return the lead of a check message."""
    return str(orjson.loads(value)["lead_id"])
