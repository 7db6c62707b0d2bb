"""Builders of valid CloudEvent bytes for every leadflow event type, and of core values from them.

Every builder returns the exact bytes a producer would send; `parse` turns them into a core `Event`
through the real validator, so tests exercise the same path as the pipeline.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from pipelines.core.lead import LeadState, apply_event
from pipelines.core.model import Event
from pipelines.core.validate import parse_event
from pipelines.topics import TOPIC_BY_TYPE

CRM = "/crm/hubspot"
CRM_OTHER = "/crm/salesforce"
WEB = "/web/www.example.com"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    """Return T0 plus some minutes: the clock of hand-written histories."""
    return T0 + timedelta(minutes=minutes)


def rfc3339(moment: datetime) -> str:
    """Format an aware datetime as RFC 3339 with offset, to the millisecond."""
    return moment.isoformat(timespec="milliseconds")


def envelope(
    event_type: str,
    subject: str,
    data: dict[str, Any],
    moment: datetime | str,
    *,
    id: str,
    source: str,
    **extra: Any,
) -> dict[str, Any]:
    """Return a CloudEvents 1.0 structured-mode envelope as a dict."""
    time = moment if isinstance(moment, str) else rfc3339(moment)
    return {
        "specversion": "1.0",
        "id": id,
        "source": source,
        "type": event_type,
        "time": time,
        "subject": subject,
        "data": data,
        **extra,
    }


def encode(document: Any) -> bytes:
    """Serialize a document as compact JSON bytes."""
    return orjson.dumps(document)


def _default_id(*parts: object) -> str:
    return ":".join(str(p) for p in parts)


def _optional(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def visit_doc(
    visitor: str,
    moment: datetime,
    *,
    id: str | None = None,
    source: str = WEB,
    url: str = "https://www.example.com/",
    referrer: str | None = None,
    utm_source: str | None = None,
    utm_medium: str | None = None,
    utm_campaign: str | None = None,
) -> dict[str, Any]:
    """Return a `web.visit` envelope."""
    data = {
        "visitor_id": visitor,
        "url": url,
        **_optional(referrer=referrer, utm_source=utm_source, utm_medium=utm_medium, utm_campaign=utm_campaign),
    }
    event_id = id or _default_id("visit", visitor, rfc3339(moment), url)
    return envelope("web.visit", visitor, data, moment, id=event_id, source=source)


def visit_event(visitor: str, moment: datetime, **kwargs: Any) -> bytes:
    """Return the bytes of a `web.visit`."""
    return encode(visit_doc(visitor, moment, **kwargs))


def form_doc(
    lead: str,
    visitor: str,
    moment: datetime,
    *,
    id: str | None = None,
    source: str = WEB,
    form_id: str = "contact",
    email: str | None = None,
) -> dict[str, Any]:
    """Return a `web.form_submitted` envelope."""
    data = {"visitor_id": visitor, "lead_id": lead, "form_id": form_id, **_optional(email=email)}
    event_id = id or _default_id("form", lead, visitor, rfc3339(moment))
    return envelope("web.form_submitted", lead, data, moment, id=event_id, source=source)


def form_event(lead: str, visitor: str, moment: datetime, **kwargs: Any) -> bytes:
    """Return the bytes of a `web.form_submitted`."""
    return encode(form_doc(lead, visitor, moment, **kwargs))


def stage_doc(
    lead: str,
    stage: str,
    moment: datetime,
    *,
    id: str | None = None,
    source: str = CRM,
    reason: str | None = None,
    owner_id: str | None = None,
) -> dict[str, Any]:
    """Return a `crm.lifecycle_changed` envelope."""
    data = {"lead_id": lead, "stage": stage, **_optional(reason=reason, owner_id=owner_id)}
    event_id = id or _default_id("stage", lead, stage, rfc3339(moment))
    return envelope("crm.lifecycle_changed", lead, data, moment, id=event_id, source=source)


def stage_event(lead: str, stage: str, moment: datetime, **kwargs: Any) -> bytes:
    """Return the bytes of a `crm.lifecycle_changed`."""
    return encode(stage_doc(lead, stage, moment, **kwargs))


def owner_doc(lead: str, owner: str, moment: datetime, *, id: str | None = None, source: str = CRM) -> dict[str, Any]:
    """Return a `crm.owner_assigned` envelope."""
    event_id = id or _default_id("owner", lead, owner, rfc3339(moment))
    return envelope(
        "crm.owner_assigned", lead, {"lead_id": lead, "owner_id": owner}, moment, id=event_id, source=source
    )


def owner_event(lead: str, owner: str, moment: datetime, **kwargs: Any) -> bytes:
    """Return the bytes of a `crm.owner_assigned`."""
    return encode(owner_doc(lead, owner, moment, **kwargs))


def away_event(owner: str, start: datetime, end: datetime, moment: datetime, *, id: str, source: str = CRM) -> bytes:
    """Return the bytes of a `crm.owner_away`: the owner is away in [start, end)."""
    data = {"owner_id": owner, "from": rfc3339(start), "to": rfc3339(end)}
    return encode(envelope("crm.owner_away", owner, data, moment, id=id, source=source))


def activity_doc(
    lead: str,
    moment: datetime,
    *,
    kind: str = "call",
    automated: bool = False,
    owner_id: str | None = None,
    id: str | None = None,
    source: str = CRM,
) -> dict[str, Any]:
    """Return a `crm.activity_logged` envelope."""
    data = {"lead_id": lead, "kind": kind, "automated": automated, **_optional(owner_id=owner_id)}
    event_id = id or _default_id("activity", lead, kind, automated, rfc3339(moment))
    return envelope("crm.activity_logged", lead, data, moment, id=event_id, source=source)


def activity_event(lead: str, moment: datetime, **kwargs: Any) -> bytes:
    """Return the bytes of a `crm.activity_logged`."""
    return encode(activity_doc(lead, moment, **kwargs))


def deal_doc(
    lead: str,
    deal_stage: str,
    moment: datetime,
    *,
    deal_id: str = "D1",
    amount: str | float | int = "1000.00",
    currency: str = "EUR",
    id: str | None = None,
    source: str = CRM,
) -> dict[str, Any]:
    """Return a `crm.deal_changed` envelope."""
    data = {"deal_id": deal_id, "lead_id": lead, "stage": deal_stage, "amount": amount, "currency": currency}
    event_id = id or _default_id("deal", lead, deal_id, deal_stage, rfc3339(moment))
    return envelope("crm.deal_changed", lead, data, moment, id=event_id, source=source)


def deal_event(lead: str, deal_stage: str, moment: datetime, **kwargs: Any) -> bytes:
    """Return the bytes of a `crm.deal_changed`."""
    return encode(deal_doc(lead, deal_stage, moment, **kwargs))


def examples() -> dict[str, dict[str, Any]]:
    """Return one valid envelope per event type, with every optional field set."""
    return {
        "web.visit": visit_doc(
            "V1",
            T0,
            referrer="https://search.example/",
            utm_source="newsletter",
            utm_medium="email",
            utm_campaign="autumn",
        ),
        "web.form_submitted": form_doc("L1", "V1", at(5), email="ada@example.com"),
        "crm.lifecycle_changed": stage_doc("L1", "mql", at(10), reason="scored", owner_id="rep-1"),
        "crm.owner_assigned": owner_doc("L1", "rep-1", at(11)),
        "crm.activity_logged": activity_doc("L1", at(12), kind="meeting", automated=False, owner_id="rep-1"),
        "crm.deal_changed": deal_doc("L1", "won", at(20), amount="12500.50", currency="USD"),
    }


def topic_of(raw: bytes) -> str:
    """Return the input topic the contract puts these (valid) bytes on."""
    return TOPIC_BY_TYPE[orjson.loads(raw)["type"]]


def parse(raw: bytes, topic: str | None = None) -> Event:
    """Validate bytes that must be valid, failing loudly with the reason otherwise."""
    result = parse_event(raw, topic)
    if not isinstance(result, Event):
        raise AssertionError(f"expected a valid event, got: {result.reason}")
    return result


def lead_state(raws: Iterable[bytes], state: LeadState | None = None) -> LeadState:
    """Apply events, in the given arrival order, to a lead's state."""
    for raw in raws:
        state, _new = apply_event(state, parse(raw))
    if state is None:
        raise ValueError("no events")
    return state
