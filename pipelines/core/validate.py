"""Turn raw bytes into a core `Event`, or an `Invalid` with every reason at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from pipelines.core.model import Event, Invalid, TimeRange
from pipelines.topics import TOPIC_BY_TYPE
from schemas import fast
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
_NEW_TUPLE = tuple.__new__


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
AnyModel = Envelope | fast.FastEvent


def _subject_problem(model: AnyModel) -> str | None:
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


def _visit(m: AnyModel, d: VisitData | fast.VisitData, raw: bytes, time: datetime) -> Event:
    # every field by position, given to the tuple itself: a visit is most events, and a named tuple's own
    # constructor, a Python function of 24 parameters, takes twice the time
    return _NEW_TUPLE(Event, (
        m.source, m.id, m.type, time, m.subject, raw,
        None, d.visitor_id, None, None, None, None, None, None, None, None, None,  # lead_id, visitor_id .. currency
        d.url, d.referrer, d.utm_source, d.utm_medium, d.utm_campaign, None, None,  # url .. utm_campaign, away_*
    ))  # fmt: skip


def _form(m: AnyModel, d: FormSubmittedData | fast.FormSubmittedData, raw: bytes, time: datetime) -> Event:
    return Event(m.source, m.id, m.type, time, m.subject, raw, d.lead_id, d.visitor_id)


def _stage(m: AnyModel, d: LifecycleChangedData | fast.LifecycleChangedData, raw: bytes, time: datetime) -> Event:
    return Event(m.source, m.id, m.type, time, m.subject, raw, d.lead_id, None, str(d.stage), d.owner_id, d.reason)


def _owner(m: AnyModel, d: OwnerAssignedData | fast.OwnerAssignedData, raw: bytes, time: datetime) -> Event:
    return Event(m.source, m.id, m.type, time, m.subject, raw, d.lead_id, owner_id=d.owner_id)


def _activity(m: AnyModel, d: ActivityLoggedData | fast.ActivityLoggedData, raw: bytes, time: datetime) -> Event:
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
    fast.VisitData: _visit,
    fast.FormSubmittedData: _form,
    fast.LifecycleChangedData: _stage,
    fast.OwnerAssignedData: _owner,
    fast.ActivityLoggedData: _activity,
}


def to_event(model: AnyModel, raw: bytes, time: datetime) -> Event:
    """Flatten a validated envelope and its time in UTC (from `schemas.fast` or the pydantic models) into an `Event`."""
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
    # the common types through `schemas.fast` first; what it does not take, the pydantic models judge
    quick = fast.decode(raw)
    time = None if quick is None else fast.instant(quick.time)
    model: AnyModel
    if quick is None or time is None:
        checked = _validated_slowly(raw)
        if isinstance(checked, Invalid):
            return checked
        model, time = checked
    else:
        model = quick
    if accepted is not None and (out_of_range := accepted.problem(time)):
        return Invalid(raw, out_of_range)
    subject = _subject_problem(model)
    expected_topic = TOPIC_BY_TYPE[model.type]
    wrong_topic = topic is not None and topic != expected_topic
    if subject is None and not wrong_topic:
        return to_event(model, raw, time)
    problems = [subject] if subject else []
    if wrong_topic:
        problems.append(f"type: {model.type} belongs on topic {expected_topic}, arrived on {topic}")
    return Invalid(raw, "; ".join(problems)[:MAX_REASON])
