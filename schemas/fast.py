"""A msgspec mirror of the common event types (`schemas.events`), decoded five times faster than pydantic's.

It only ever accepts: an event it decodes is one the pydantic models accept with the same values, and anything
else (a deal, an absence, a malformed or unusual event) is left to the pydantic models, which give the reasons.
`tests/unit/test_fast_decoding.py` holds the two to that on generated and mutated events.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import Meta, Struct

from schemas.events import RFC3339, Stage

NonEmpty = Annotated[str, Meta(min_length=1, max_length=512)]
Optional = Annotated[str, Meta(max_length=4096)] | None
StageName = Literal[
    "lead", "mql", "sal", "sql", "opportunity", "customer", "recycled", "disqualified", "lost"
]  # fmt: skip
assert set(StageName.__args__) == {s.value for s in Stage}  # type: ignore[attr-defined]  # one list of stages

# decoding a time is left to msgspec, whose values equal pydantic's for RFC 3339 text of up to six fraction
# digits; pydantic truncates a longer fraction where msgspec rounds it
MAX_FRACTION = len(".123456")
_INSTANT = msgspec.json.Decoder(Annotated[datetime, Meta(tz=True)])


class VisitData(Struct, gc=False):
    """`data` of `web.visit`."""

    visitor_id: NonEmpty
    url: NonEmpty
    referrer: Optional = None
    utm_source: Optional = None
    utm_medium: Optional = None
    utm_campaign: Optional = None


class FormSubmittedData(Struct, gc=False):
    """`data` of `web.form_submitted`."""

    visitor_id: NonEmpty
    lead_id: NonEmpty
    form_id: NonEmpty
    email: Optional = None


class LifecycleChangedData(Struct, gc=False):
    """`data` of `crm.lifecycle_changed`."""

    lead_id: NonEmpty
    stage: StageName
    reason: Optional = None
    owner_id: Optional = None


class OwnerAssignedData(Struct, gc=False):
    """`data` of `crm.owner_assigned`."""

    lead_id: NonEmpty
    owner_id: NonEmpty


class ActivityLoggedData(Struct, gc=False):
    """`data` of `crm.activity_logged`."""

    lead_id: NonEmpty
    kind: Literal["call", "email", "meeting", "note"]
    automated: bool
    owner_id: Optional = None


class _Envelope(Struct, gc=False, tag_field="type"):
    specversion: Literal["1.0"]
    id: NonEmpty
    source: NonEmpty
    time: str  # checked and decoded by `instant`
    subject: NonEmpty


class VisitEvent(_Envelope, tag="web.visit"):
    """`web.visit`."""

    type: ClassVar[str] = "web.visit"
    data: VisitData


class FormSubmittedEvent(_Envelope, tag="web.form_submitted"):
    """`web.form_submitted`."""

    type: ClassVar[str] = "web.form_submitted"
    data: FormSubmittedData


class LifecycleChangedEvent(_Envelope, tag="crm.lifecycle_changed"):
    """`crm.lifecycle_changed`."""

    type: ClassVar[str] = "crm.lifecycle_changed"
    data: LifecycleChangedData


class OwnerAssignedEvent(_Envelope, tag="crm.owner_assigned"):
    """`crm.owner_assigned`."""

    type: ClassVar[str] = "crm.owner_assigned"
    data: OwnerAssignedData


class ActivityLoggedEvent(_Envelope, tag="crm.activity_logged"):
    """`crm.activity_logged`."""

    type: ClassVar[str] = "crm.activity_logged"
    data: ActivityLoggedData


FastEvent = VisitEvent | FormSubmittedEvent | LifecycleChangedEvent | OwnerAssignedEvent | ActivityLoggedEvent
_DECODER = msgspec.json.Decoder(FastEvent)


def decode(raw: bytes) -> FastEvent | None:
    """Decode a common event that the pydantic models would accept as it is; None: ask the pydantic models."""
    try:
        if not raw.isascii():
            raw.decode()  # msgspec skips a field it does not know without checking its text is UTF-8
        return _DECODER.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):  # a ValidationError is a DecodeError
        return None


def instant(text: str) -> datetime | None:
    """Return an RFC 3339 time in UTC, as `schemas.events.Instant` gives it; None: ask the pydantic models."""
    match = RFC3339.match(text)
    if match is None or len(match.group(1) or "") > MAX_FRACTION:
        return None
    try:  # the text matched RFC3339: digits and separators only, a JSON string once quoted
        parsed = _INSTANT.decode(b'"' + text.encode() + b'"')
        return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)
    except (msgspec.ValidationError, OverflowError):
        return None
