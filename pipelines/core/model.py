"""Frozen values the core works on: a validated event, and what it becomes in a lead's history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

EventKey = tuple[str, str]

# `NEW_TUPLE(Cls, values)` builds a named tuple from every field's value, in order, by the tuple itself: a named
# tuple's own constructor is a Python function, a frame of its own, which those built once or more per event skip
NEW_TUPLE = tuple.__new__

DEAL_STAGE_TO_LIFECYCLE: dict[str, str] = {
    "created": "opportunity",
    "proposal": "opportunity",
    "won": "customer",
    "lost": "lost",
}


class Event(NamedTuple):
    """A valid input event, flattened to what the core needs; `payload` keeps the original bytes.

    A named tuple rather than a frozen dataclass (as `Origin` and `TimeRange`, also built once per record): a
    tuple is built in a quarter of the time a frozen dataclass takes to set its fields one by one.
    """

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
    away_from: datetime | None = None  # crm.owner_away: the owner's absence [away_from, away_to)
    away_to: datetime | None = None

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


class Origin(NamedTuple):
    """Where a message came from: topic, partition and offset (a file and line number in a replay)."""

    topic: str
    partition: int
    offset: int


TIME_OUT_OF_RANGE = "time_out_of_range"


class TimeRange(NamedTuple):
    """The event times a door accepts at one moment: from `earliest` to `latest`, both included."""

    earliest: datetime
    latest: datetime

    def problem(self, time: datetime) -> str | None:
        """Return why an event time is impossible (reason `time_out_of_range`), or None."""
        if time < self.earliest:
            return f"{TIME_OUT_OF_RANGE}: time {time.isoformat()} is before {self.earliest.isoformat()}"
        if time > self.latest:
            return f"{TIME_OUT_OF_RANGE}: time {time.isoformat()} is after {self.latest.isoformat()} (now plus skew)"
        return None


@dataclass(frozen=True, slots=True)
class EventTimes:
    """The event times every door accepts: none before `earliest`, none later than `max_skew` past the reading."""

    earliest: datetime
    max_skew: timedelta

    def at(self, read_at: datetime) -> TimeRange:
        """Return the range accepted for events read at an instant."""
        return TimeRange(self.earliest, read_at + self.max_skew)
