"""Frozen values the core works on: a validated event, and what it becomes in a lead's history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

EventKey = tuple[str, str]

DEAL_STAGE_TO_LIFECYCLE: dict[str, str] = {
    "created": "opportunity",
    "proposal": "opportunity",
    "won": "customer",
    "lost": "lost",
}


@dataclass(frozen=True, slots=True)
class Event:
    """A valid input event, flattened to what the core needs; `payload` keeps the original bytes."""

    source: str
    id: str
    type: str
    time: datetime
    subject: str
    payload: bytes
    lead_id: str | None = None
    visitor_id: str | None = None
    stage: str | None = None
    owner_id: str | None = None
    reason: str | None = None
    activity_kind: str | None = None
    automated: bool | None = None
    deal_id: str | None = None
    deal_stage: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    url: str | None = None
    referrer: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None

    @property
    def key(self) -> EventKey:
        """Return the idempotency key (`source`, `id`)."""
        return (self.source, self.id)

    @property
    def lifecycle_stage(self) -> str | None:
        """Return the stage this event moves its lead to, if any."""
        if self.type == "crm.lifecycle_changed":
            return self.stage
        if self.type == "crm.deal_changed" and self.deal_stage is not None:
            return DEAL_STAGE_TO_LIFECYCLE[self.deal_stage]
        return None


@dataclass(frozen=True, slots=True)
class Invalid:
    """An input that cannot be processed: the raw bytes and why."""

    raw: bytes
    reason: str


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a message came from: topic, partition and offset (a file and line number in a replay)."""

    topic: str
    partition: int
    offset: int
