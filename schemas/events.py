"""Pydantic models of the CloudEvents envelope and of every leadflow event type (contract §1)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    TypeAdapter,
    model_validator,
)

# the largest event (HTTP body, file line) leadflow takes in: the collector's default body limit, and below
# Kafka's default message size with room for headers
MAX_EVENT_BYTES = 1_048_576

NonEmpty = Annotated[str, Field(min_length=1, max_length=512)]
Optional = Annotated[str, Field(max_length=4096)] | None


RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _rfc3339(value: object) -> object:
    """Accept only RFC 3339 text with an offset (not Unix numbers or other ISO 8601 forms)."""
    if not isinstance(value, str) or not RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-11-02T09:15:00+01:00")
    return value


def _in_utc_range(value: datetime) -> datetime:
    """Give the time in UTC; refuse times that exist with their offset but not in UTC (years 1 and 9999)."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC") from None


class Stage(StrEnum):
    """Every lifecycle stage: the funnel in order, then the side stages."""

    LEAD = "lead"
    MQL = "mql"
    SAL = "sal"
    SQL = "sql"
    OPPORTUNITY = "opportunity"
    CUSTOMER = "customer"
    RECYCLED = "recycled"
    DISQUALIFIED = "disqualified"
    LOST = "lost"


FUNNEL: tuple[Stage, ...] = (Stage.LEAD, Stage.MQL, Stage.SAL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER)


class _Data(BaseModel):
    """Base of every `data` object: strict types, unknown fields kept."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)


class VisitData(_Data):
    """`data` of `web.visit`."""

    visitor_id: NonEmpty
    url: NonEmpty
    referrer: Optional = None
    utm_source: Optional = None
    utm_medium: Optional = None
    utm_campaign: Optional = None


class FormSubmittedData(_Data):
    """`data` of `web.form_submitted`."""

    visitor_id: NonEmpty
    lead_id: NonEmpty
    form_id: NonEmpty
    email: Optional = None


class LifecycleChangedData(_Data):
    """`data` of `crm.lifecycle_changed`."""

    lead_id: NonEmpty
    stage: Stage
    reason: Optional = None
    owner_id: Optional = None


class OwnerAssignedData(_Data):
    """`data` of `crm.owner_assigned`."""

    lead_id: NonEmpty
    owner_id: NonEmpty


class ActivityLoggedData(_Data):
    """`data` of `crm.activity_logged`."""

    lead_id: NonEmpty
    kind: Literal["call", "email", "meeting", "note"]
    automated: StrictBool
    owner_id: Optional = None


class DealChangedData(_Data):
    """`data` of `crm.deal_changed`; `amount` is a decimal given as a JSON number or string."""

    deal_id: NonEmpty
    lead_id: NonEmpty
    stage: Literal["created", "proposal", "won", "lost"]
    amount: Annotated[Decimal, Field(ge=0, strict=False, allow_inf_nan=False, max_digits=20, decimal_places=6)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


Instant = Annotated[AwareDatetime, BeforeValidator(_rfc3339), AfterValidator(_in_utc_range), Field(strict=False)]
MAX_ABSENCE = timedelta(days=366)  # a longer absence is sent as several: a calendar is searched ten years ahead


class OwnerAwayData(_Data):
    """`data` of `crm.owner_away`: the owner has no business time in [from, to)."""

    owner_id: NonEmpty
    start: Instant = Field(alias="from")
    end: Instant = Field(alias="to")

    @model_validator(mode="after")
    def _a_span(self) -> OwnerAwayData:
        if self.end <= self.start:
            raise ValueError("to must be after from")
        if self.end - self.start > MAX_ABSENCE:
            raise ValueError(f"an absence lasts at most {MAX_ABSENCE.days} days; send a longer one as several")
        return self


class Envelope(BaseModel):
    """A CloudEvents 1.0 structured-mode envelope; each event type narrows `type` and `data`."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    specversion: Literal["1.0"]
    id: NonEmpty
    source: NonEmpty
    type: str
    time: Instant
    subject: NonEmpty
    data: _Data


class VisitEvent(Envelope):
    """`web.visit`: subject is the visitor id."""

    type: Literal["web.visit"]
    data: VisitData


class FormSubmittedEvent(Envelope):
    """`web.form_submitted`: subject is the lead id."""

    type: Literal["web.form_submitted"]
    data: FormSubmittedData


class LifecycleChangedEvent(Envelope):
    """`crm.lifecycle_changed`: subject is the lead id."""

    type: Literal["crm.lifecycle_changed"]
    data: LifecycleChangedData


class OwnerAssignedEvent(Envelope):
    """`crm.owner_assigned`: subject is the lead id."""

    type: Literal["crm.owner_assigned"]
    data: OwnerAssignedData


class ActivityLoggedEvent(Envelope):
    """`crm.activity_logged`: subject is the lead id."""

    type: Literal["crm.activity_logged"]
    data: ActivityLoggedData


class DealChangedEvent(Envelope):
    """`crm.deal_changed`: subject is the lead id."""

    type: Literal["crm.deal_changed"]
    data: DealChangedData


class OwnerAwayEvent(Envelope):
    """`crm.owner_away`: subject is the owner id."""

    type: Literal["crm.owner_away"]
    data: OwnerAwayData


AnyEvent = Annotated[
    VisitEvent
    | FormSubmittedEvent
    | LifecycleChangedEvent
    | OwnerAssignedEvent
    | ActivityLoggedEvent
    | DealChangedEvent
    | OwnerAwayEvent,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)
EVENT_MODELS: dict[str, type[Envelope]] = {
    "web.visit": VisitEvent,
    "web.form_submitted": FormSubmittedEvent,
    "crm.lifecycle_changed": LifecycleChangedEvent,
    "crm.owner_assigned": OwnerAssignedEvent,
    "crm.activity_logged": ActivityLoggedEvent,
    "crm.deal_changed": DealChangedEvent,
    "crm.owner_away": OwnerAwayEvent,
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """Return the JSON Schema of each event type, keyed by the file name it is exported to."""
    schemas: dict[str, dict[str, Any]] = {}
    for event_type, model in EVENT_MODELS.items():
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://leadflow.dev/schemas/{event_type}.schema.json"
        schemas[f"{event_type}.schema.json"] = schema
    return schemas
