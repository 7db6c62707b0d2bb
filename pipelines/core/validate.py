"""Turn raw bytes into a core `Event`, or an `Invalid` with every reason at once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from pipelines.core.model import Event, Invalid, TimeRange
from pipelines.topics import TOPIC_BY_TYPE
from schemas.events import (
    EVENT_ADAPTER,
    ActivityLoggedData,
    DealChangedData,
    Envelope,
    FormSubmittedData,
    LifecycleChangedData,
    OwnerAssignedData,
    VisitData,
)

MAX_REASON = 1000


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"][1:] if p != "function-after") or "event"
        if err["type"] == "json_invalid":
            parts.append(f"not JSON: {err['msg']}")
        elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            parts.append(f"unknown or missing type: {err['msg']}")
        else:
            parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)[:MAX_REASON]


def _subject_problem(model: Envelope) -> str | None:
    data = model.data
    expected = data.visitor_id if isinstance(data, VisitData) else getattr(data, "lead_id", None)
    if expected != model.subject:
        field = "visitor_id" if isinstance(data, VisitData) else "lead_id"
        return f"subject: must equal data.{field} ({expected!r}), got {model.subject!r}"
    return None


def _to_millisecond(time: datetime) -> datetime:
    """Event times are kept to the millisecond, as the store keeps them, so every path orders alike."""
    utc = time.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def _data_fields(data: object) -> dict[str, Any]:
    """Return the core fields that one type's `data` carries."""
    if isinstance(data, VisitData):
        utm = {"utm_source": data.utm_source, "utm_medium": data.utm_medium, "utm_campaign": data.utm_campaign}
        return {"visitor_id": data.visitor_id, "url": data.url, "referrer": data.referrer, **utm}
    if isinstance(data, FormSubmittedData):
        return {"lead_id": data.lead_id, "visitor_id": data.visitor_id}
    if isinstance(data, LifecycleChangedData):
        return {"lead_id": data.lead_id, "stage": data.stage.value, "reason": data.reason, "owner_id": data.owner_id}
    if isinstance(data, OwnerAssignedData):
        return {"lead_id": data.lead_id, "owner_id": data.owner_id}
    if isinstance(data, ActivityLoggedData):
        return {
            "lead_id": data.lead_id,
            "activity_kind": data.kind,
            "automated": data.automated,
            "owner_id": data.owner_id,
        }
    if isinstance(data, DealChangedData):
        return {
            "lead_id": data.lead_id,
            "deal_id": data.deal_id,
            "deal_stage": data.stage,
            "amount": data.amount,
            "currency": data.currency,
        }
    raise TypeError(f"no conversion for {type(data).__name__}")


def to_event(model: Envelope, raw: bytes) -> Event:
    """Flatten a validated envelope into the core's `Event`."""
    fields = _data_fields(model.data)
    return Event(model.source, model.id, model.type, _to_millisecond(model.time), model.subject, raw, **fields)


def parse_event(raw: bytes, topic: str | None = None, accepted: TimeRange | None = None) -> Event | Invalid:
    """Validate raw message bytes (and, if given, the unprefixed topic they came on and the event times accepted).

    An event time outside `accepted` is refused with reason `time_out_of_range`.
    """
    try:
        model = EVENT_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        return Invalid(raw, _describe(exc))
    problem = accepted.problem(model.time) if accepted is not None else None
    if problem:
        return Invalid(raw, problem)
    problems = [p for p in (_subject_problem(model),) if p]
    expected_topic = TOPIC_BY_TYPE[model.type]
    if topic is not None and topic != expected_topic:
        problems.append(f"type: {model.type} belongs on topic {expected_topic}, arrived on {topic}")
    if problems:
        return Invalid(raw, "; ".join(problems)[:MAX_REASON])
    return to_event(model, raw)
