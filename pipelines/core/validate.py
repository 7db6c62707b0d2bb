"""Turn raw bytes into a core `Event`, or an `Invalid` with every reason at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import leadflow_native
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
    OwnerAwayData,
    VisitData,
)

MAX_REASON = 1000
# the common event types decoded in Rust, straight into `Event`s; it takes only what the pydantic models accept
_DECODER = leadflow_native.EventDecoder(Event)


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


# the `data` field that names an event's subject: the lead's id, but for these types
SUBJECT_FIELD: dict[str, str] = {"web.visit": "visitor_id", "crm.owner_away": "owner_id"}


def _subject_problem(model: Envelope) -> str | None:
    field = SUBJECT_FIELD.get(model.type, "lead_id")
    expected = getattr(model.data, field, None)
    if expected != model.subject:
        return f"subject: must equal data.{field} ({expected!r}), got {model.subject!r}"
    return None


def _to_millisecond(time: datetime) -> datetime:
    """Event times are kept to the millisecond, as the store keeps them, so every path orders alike.

    The envelope's validator gives the time in UTC already; only a time with sub-millisecond digits is rebuilt.
    """
    utc = time if time.tzinfo is UTC else time.astimezone(UTC)
    extra = utc.microsecond % 1000
    return utc.replace(microsecond=utc.microsecond - extra) if extra else utc


def _visit(m: Envelope, d: VisitData, raw: bytes, time: datetime) -> Event:
    return Event(
        m.source, m.id, m.type, time, m.subject, raw, visitor_id=d.visitor_id, url=d.url, referrer=d.referrer,
        utm_source=d.utm_source, utm_medium=d.utm_medium, utm_campaign=d.utm_campaign,
    )  # fmt: skip


def _form(m: Envelope, d: FormSubmittedData, raw: bytes, time: datetime) -> Event:
    return Event(m.source, m.id, m.type, time, m.subject, raw, d.lead_id, d.visitor_id)


def _stage(m: Envelope, d: LifecycleChangedData, raw: bytes, time: datetime) -> Event:
    return Event(m.source, m.id, m.type, time, m.subject, raw, d.lead_id, None, str(d.stage), d.owner_id, d.reason)


def _owner(m: Envelope, d: OwnerAssignedData, raw: bytes, time: datetime) -> Event:
    return Event(m.source, m.id, m.type, time, m.subject, raw, d.lead_id, owner_id=d.owner_id)


def _activity(m: Envelope, d: ActivityLoggedData, raw: bytes, time: datetime) -> Event:
    return Event(
        m.source, m.id, m.type, time, m.subject, raw, d.lead_id, owner_id=d.owner_id, activity_kind=d.kind,
        automated=d.automated,
    )  # fmt: skip


def _deal(m: Envelope, d: DealChangedData, raw: bytes, time: datetime) -> Event:
    return Event(
        m.source, m.id, m.type, time, m.subject, raw, d.lead_id, deal_id=d.deal_id, deal_stage=d.stage,
        amount=d.amount, currency=d.currency,
    )  # fmt: skip


def _away(m: Envelope, d: OwnerAwayData, raw: bytes, time: datetime) -> Event:
    return Event(m.source, m.id, m.type, time, m.subject, raw, owner_id=d.owner_id, away_from=d.start, away_to=d.end)


# How each type's `data` becomes the core's fields.
_FLATTEN: dict[type, Callable[[Any, Any, bytes, datetime], Event]] = {
    VisitData: _visit,
    FormSubmittedData: _form,
    LifecycleChangedData: _stage,
    OwnerAssignedData: _owner,
    ActivityLoggedData: _activity,
    DealChangedData: _deal,
    OwnerAwayData: _away,
}


def to_event(model: Envelope, raw: bytes, time: datetime) -> Event:
    """Flatten a validated envelope and its time in UTC into an `Event`."""
    flatten = _FLATTEN.get(type(model.data))
    if flatten is None:
        raise TypeError(f"no conversion for {type(model.data).__name__}")
    return flatten(model, model.data, raw, _to_millisecond(time))


def _validated_slowly(raw: bytes) -> tuple[Envelope, datetime] | Invalid:
    """Validate raw bytes against the pydantic models: the model and its time in UTC, or every reason at once."""
    try:
        model = EVENT_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        return Invalid(raw, _describe(exc))
    return model, model.time


def parse_event(raw: bytes, topic: str | None = None, accepted: TimeRange | None = None) -> Event | Invalid:
    """Validate raw message bytes (and, if given, the unprefixed topic they came on and the event times accepted).

    An event time outside `accepted` is refused with reason `time_out_of_range`.
    """
    # the common types through leadflow_native (Rust) first; what it does not take, the pydantic models judge
    event = _DECODER.decode(raw)
    subject = None  # leadflow_native takes no event whose subject is not its lead's or visitor's
    if event is None:
        checked = _validated_slowly(raw)
        if isinstance(checked, Invalid):
            return checked
        model, time = checked
        subject = _subject_problem(model)
        event = to_event(model, raw, time)
    # the time as kept, to the millisecond, whichever decoder took the event
    if accepted is not None and (out_of_range := accepted.problem(event.time)):
        return Invalid(raw, out_of_range)
    expected_topic = TOPIC_BY_TYPE[event.type]
    wrong_topic = topic is not None and topic != expected_topic
    if subject is None and not wrong_topic:
        return event
    problems = [subject] if subject else []
    if wrong_topic:
        problems.append(f"type: {event.type} belongs on topic {expected_topic}, arrived on {topic}")
    return Invalid(raw, "; ".join(problems)[:MAX_REASON])
