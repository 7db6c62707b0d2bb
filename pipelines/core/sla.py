"""SLA handoff clocks: started by stage entries, stopped by matching events, judged in business time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cached_property

from pipelines.core.calendar import BusinessCalendar, parse_within
from pipelines.core.lifecycle import Lifecycle, Move, StageEntry
from schemas.agreement import Agreement, Handoff

WARNING, BREACHED, MET = "sla.warning", "sla.breached", "sla.met"
JUST_AFTER = timedelta(milliseconds=1)
EDGE_SEARCH = timedelta(hours=3)  # no zone moves its clocks by more than this at once


@dataclass(frozen=True, slots=True)
class Clock:
    """One handoff clock of one episode, as far as the lead's history knows it."""

    handoff: str
    agreement: str
    episode: int
    started_at: datetime
    deadline: datetime
    warn_at: datetime | None
    stopped_at: datetime | None
    business_seconds: float | None
    owner_id: str | None

    @property
    def met(self) -> bool:
        """Say whether it stopped at or before its deadline."""
        return self.stopped_at is not None and self.stopped_at <= self.deadline

    def status(self, as_of: datetime) -> str:
        """Return met, breached or open as of an instant."""
        if self.met and self.stopped_at is not None and self.stopped_at <= as_of:
            return "met"
        return "breached" if as_of > self.deadline and not self.met else "open"

    def marker(self, kind: str) -> str:
        """Return the idempotency marker of one of its SLA events."""
        return f"{self.handoff}/{self.episode}/{kind}"

    def moments(self) -> dict[str, datetime]:
        """Return when each SLA event of this clock becomes due (those that ever will)."""
        due: dict[str, datetime] = {}
        if self.warn_at is not None and (self.stopped_at is None or self.stopped_at > self.warn_at):
            due[WARNING] = self.warn_at
        if self.met and self.stopped_at is not None:
            due[MET] = self.stopped_at
        else:
            due[BREACHED] = self.deadline + JUST_AFTER
        return due


@dataclass(frozen=True, slots=True)
class SlaEvent:
    """A warning, breach or met clock to publish."""

    kind: str
    lead_id: str
    clock: Clock
    at: datetime

    @property
    def id(self) -> str:
        """Return the event id: the same clock and kind always give the same id."""
        return f"{self.lead_id}/{self.clock.marker(self.kind)}"


class Judge:
    """The agreements in force and their business calendars (built once, cached)."""

    def __init__(self, agreements: Sequence[Agreement]) -> None:
        self.agreements = tuple(agreements)

    @cached_property
    def _calendars(self) -> dict[str, BusinessCalendar]:
        return {a.name: BusinessCalendar.from_agreement(a) for a in self.agreements}

    @cached_property
    def _in_force(self) -> tuple[tuple[datetime, datetime, Agreement], ...]:
        return tuple((*local_day_bounds(a), a) for a in self.agreements)

    def agreement_at(self, instant: datetime) -> Agreement | None:
        """Return the agreement in force at an instant (its effective dates are in its own time zone)."""
        return next((a for start, end, a in self._in_force if start <= instant < end), None)

    def calendar(self, agreement: Agreement) -> BusinessCalendar:
        """Return an agreement's business calendar."""
        return self._calendars[agreement.name]


def local_day_bounds(agreement: Agreement) -> tuple[datetime, datetime]:
    """Return the instants where the agreement's first effective day starts and its end day starts, locally.

    An instant is in force exactly when its local date is in [effective_from, effective_to), so comparing
    instants with these bounds answers `in_force_on` without converting every instant to the zone.
    """
    return _first_instant_of(agreement.effective_from, agreement.zone), _first_instant_of(
        agreement.effective_to, agreement.zone
    )


def _first_instant_of(day: date, zone: tzinfo) -> datetime:
    """Return the first instant whose local date is `day`: local midnight, or where a DST jump over it lands."""
    try:
        guess = datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
        low, high = guess - EDGE_SEARCH, guess + EDGE_SEARCH
    except OverflowError:  # the first or last days of the calendar: nothing lies beyond them
        return datetime.min.replace(tzinfo=UTC) if day.year == 1 else datetime.max.replace(tzinfo=UTC)
    while high - low > JUST_AFTER / 1000:
        middle = low + (high - low) / 2
        if middle.astimezone(zone).date() >= day:
            high = middle
        else:
            low = middle
    return high


def _stops(handoff: Handoff, move: Move) -> bool:
    stops = handoff.stops_on
    return (move.stage is not None and move.stage in stops.stages) or (stops.human_activity and move.human_activity)


def _owner_at(moves: Sequence[Move], instant: datetime | None) -> str | None:
    owner: str | None = None
    for move in moves:
        if instant is not None and move.time > instant:
            break
        owner = move.owner_id or owner
    return owner


def _clock(handoff: Handoff, agreement: Agreement, entry: StageEntry, moves: Sequence[Move], judge: Judge) -> Clock:
    calendar = judge.calendar(agreement)
    within = parse_within(handoff.within, calendar.day_seconds)
    keys = [m.key for m in moves]
    start = keys.index(entry.entered_by) if entry.entered_by in keys else 0
    stop = next((m for m in moves[start:] if _stops(handoff, m)), None)
    stopped_at = stop.time if stop else None
    return Clock(
        handoff=handoff.name,
        agreement=agreement.name,
        episode=entry.episode,
        started_at=entry.entered_at,
        deadline=calendar.add(entry.entered_at, within),
        warn_at=calendar.add(entry.entered_at, within * handoff.warn_at) if handoff.warn_at else None,
        stopped_at=stopped_at,
        business_seconds=None if stopped_at is None else round(calendar.between(entry.entered_at, stopped_at), 3),
        owner_id=_owner_at(moves, stopped_at),
    )


def derive_clocks(moves: Sequence[Move], lifecycle: Lifecycle, judge: Judge) -> tuple[Clock, ...]:
    """Return every handoff clock of a lead: one per handoff whose starting stage an episode entered."""
    clocks: list[Clock] = []
    for entry in lifecycle.entries:
        agreement = judge.agreement_at(entry.entered_at)
        if agreement is None:
            continue
        for handoff in agreement.handoffs:
            if handoff.starts_on.stage == entry.stage:
                clocks.append(_clock(handoff, agreement, entry, moves, judge))
    return tuple(clocks)


def due_events(lead_id: str, clocks: Sequence[Clock], published: frozenset[str], now: datetime) -> list[SlaEvent]:
    """Return the SLA events due by `now` that were not published yet, in the order they fell due."""
    due = [
        SlaEvent(kind, lead_id, clock, at)
        for clock in clocks
        for kind, at in clock.moments().items()
        if at <= now and clock.marker(kind) not in published
    ]
    return sorted(due, key=lambda e: (e.at, e.clock.handoff, e.kind))


def next_due(clocks: Sequence[Clock], published: frozenset[str]) -> datetime | None:
    """Return the next instant at which one of the clocks has something to publish."""
    pending = [at for c in clocks for kind, at in c.moments().items() if c.marker(kind) not in published]
    return min(pending, default=None)
