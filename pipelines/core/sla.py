"""SLA handoff clocks: started by stage entries, stopped by matching events, judged in business time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from pipelines.core.calendar import WEEKDAYS, BusinessCalendar, first_instant_of, parse_within
from schemas.agreement import Agreement, Handoff
from schemas.owners import Owner, OwnersFile, Team

WARNING, BREACHED, MET = "sla.warning", "sla.breached", "sla.met"
ESCALATED, REASSIGN = "sla.escalated", "sla.reassign_suggested"
STEP_KINDS = {"manager": ESCALATED, "reassign": REASSIGN}  # an escalation step's `to`, and the event it publishes
JUST_AFTER = timedelta(milliseconds=1)
TIMINGS_KEPT = 200_000  # clock timings a judge remembers before it starts afresh
CLOCKS_KEPT = 10_000  # clocks a judge remembers before it starts afresh (under 1 KB each)
MAX_ABSENCES = 1_000  # absences of one owner a judge counts from crm.owner_away events; later ones are not counted
Timing = tuple[datetime, datetime | None, float | None]  # deadline, warning instant, business seconds to the stop
Escalations = tuple[tuple[str, datetime], ...]  # (event kind, instant) of each step of a handoff's ladder
# agreement, handoff, episode, start, stop, the owner at the start and at the stop: all that makes a clock
ClockKey = tuple[str, str, int, datetime, datetime | None, str | None, str | None]


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
    escalations: Escalations = ()
    _due: tuple[tuple[str, datetime, str], ...] | None = field(default=None, init=False, compare=False, repr=False)

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
        for kind, at in self.escalations:
            if self.stopped_at is None or self.stopped_at > at:
                due[kind] = at
        return due

    def schedule(self) -> tuple[tuple[str, datetime, str], ...]:
        """Return (kind, instant, marker) of each SLA event that will ever be due, as `moments` (remembered)."""
        if self._due is None:  # a judge hands the same clock out again with each event of its lead
            object.__setattr__(self, "_due", tuple((k, at, self.marker(k)) for k, at in self.moments().items()))
        return self._due  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class SlaEvent:
    """A warning, breach, met clock or escalation step to publish."""

    kind: str
    lead_id: str
    clock: Clock
    at: datetime
    to: str | None = None  # an escalation's addressee: the manager, or the suggested next owner (None: nobody)
    team: str | None = None  # a breach's or step's team: that of the lead's owner at its instant (None: in none)

    @property
    def id(self) -> str:
        """Return the event id: the same clock and kind always give the same id."""
        return f"{self.lead_id}/{self.clock.marker(self.kind)}"


class Judge:
    """The agreements in force, their business calendars and the owners' (built once, cached).

    A handoff with `clock: owner` counts the business time of the lead's owner when its clock starts: the owner's
    working hours in the owner's time zone, minus the owner's absences and the agreement's holidays. Without an
    owner, or with one the owners file does not list, it counts the agreement's hours.
    """

    def __init__(self, agreements: Sequence[Agreement], owners: OwnersFile | None = None) -> None:
        self.agreements = tuple(agreements)
        self.owners = {o.id: o for o in owners.owners} if owners is not None else {}
        self.teams = {m: t for t in owners.teams for m in t.members} if owners is not None else {}
        self._named = {a.name: a for a in self.agreements}
        self._escalations: dict[tuple[str, str, str | None, datetime], Escalations] = {}
        self._timings: dict[tuple[str, str, str | None, datetime, datetime | None], Timing] = {}
        self._clocks: dict[ClockKey, Clock] = {}
        self._owner_calendars: dict[tuple[str, str], BusinessCalendar] = {}
        self._within: dict[tuple[str, str, str | None], int] = {}
        self._absences: dict[str, dict[tuple[str, str], tuple[datetime, datetime]]] = {}  # owner -> event -> span
        self.version = 0  # grows whenever a clock derived earlier may come out otherwise now (an absence counted)

    @cached_property
    def _calendars(self) -> dict[str, BusinessCalendar]:
        return {a.name: BusinessCalendar.from_agreement(a) for a in self.agreements}

    @cached_property
    def _in_force(self) -> tuple[tuple[datetime, datetime, Agreement], ...]:
        return tuple((*local_day_bounds(a), a) for a in self.agreements)

    def agreement_at(self, instant: datetime) -> Agreement | None:
        """Return the agreement in force at an instant (its effective dates are in its own time zone)."""
        for start, end, agreement in self._in_force:  # a loop: a generator costs more than the few agreements
            if start <= instant < end:
                return agreement
        return None

    def calendar(self, agreement: Agreement) -> BusinessCalendar:
        """Return an agreement's business calendar."""
        return self._calendars[agreement.name]

    def agreement_named(self, name: str) -> Agreement | None:
        """Return the agreement of a name, if the judge has it."""
        return self._named.get(name)

    def team_of(self, owner_id: str | None) -> Team | None:
        """Return the team an owner is a member of (None: no owner, or in no team)."""
        return self.teams.get(owner_id) if owner_id is not None else None

    def owner_calendar(self, agreement: Agreement, owner_id: str) -> BusinessCalendar:
        """Return a listed owner's calendar under an agreement: own hours and zone, less absences and holidays."""
        return self._counted_calendar(agreement, owner_id)

    def clock_owner(self, handoff: Handoff, owner_id: str | None) -> str | None:
        """Return the owner whose calendar a clock counts (None: the agreement's), given its owner at the start."""
        return owner_id if handoff.clock == "owner" and owner_id in self.owners else None

    def clock_calendar(self, agreement: Agreement, handoff: Handoff, owner_id: str | None) -> BusinessCalendar:
        """Return the calendar a clock counts with, given the lead's owner when it started."""
        return self._counted_calendar(agreement, self.clock_owner(handoff, owner_id))

    def _counted_calendar(self, agreement: Agreement, counted: str | None) -> BusinessCalendar:
        """Return the agreement's calendar (counted None), or the counted owner's under the agreement."""
        if counted is None:
            return self.calendar(agreement)
        key = (counted, agreement.name)
        found = self._owner_calendars.get(key)
        if found is None:
            extra = tuple(self._absences.get(counted, {}).values())
            found = self._owner_calendars[key] = owner_calendar(self.owners[counted], agreement, extra)
        return found

    def add_absence(self, owner_id: str, event: tuple[str, str], start: datetime, end: datetime) -> str:
        """Count an owner's absence [start, end) from a `crm.owner_away` event (source, id) from now on.

        Returns "counted", "known" (the event was counted already) or "full" (the owner has MAX_ABSENCES: not
        counted). Only the owners file's owners have calendars of their own; the others' absences are kept all
        the same, and count once the file lists them.
        """
        spans = self._absences.setdefault(owner_id, {})
        if event in spans:
            return "known"
        if len(spans) >= MAX_ABSENCES:
            return "full"
        spans[event] = (start, end)
        if owner_id in self.owners:  # its calendar and every timing counted on it are stale
            self._owner_calendars = {k: v for k, v in self._owner_calendars.items() if k[0] != owner_id}
            self._timings.clear()
            self._escalations.clear()
            self._clocks.clear()
            self.version += 1
        return "counted"

    def within(self, agreement: Agreement, handoff: Handoff, owner_id: str | None = None) -> int:
        """Return a handoff's `within` in business seconds (`Nd`: days of the clock's own calendar)."""
        return self._counted_within(agreement, handoff, self.clock_owner(handoff, owner_id))

    def _counted_within(self, agreement: Agreement, handoff: Handoff, counted: str | None) -> int:
        key = (agreement.name, handoff.name, counted)
        found = self._within.get(key)
        if found is None:
            day = self._counted_calendar(agreement, counted).day_seconds
            found = self._within[key] = parse_within(handoff.within, day)
        return found

    def timing(
        self,
        agreement: Agreement,
        handoff: Handoff,
        started_at: datetime,
        stopped_at: datetime | None,
        owner_id: str | None = None,
    ) -> Timing:
        """Return a clock's deadline, warning instant and business seconds to its stop.

        Remembered: a lead's clocks are judged again with each of its events, and mostly come out the same.
        """
        counted = self.clock_owner(handoff, owner_id)
        key = (agreement.name, handoff.name, counted, started_at, stopped_at)
        found = self._timings.get(key)
        if found is None:
            calendar, within = (
                self._counted_calendar(agreement, counted),
                self._counted_within(agreement, handoff, counted),
            )
            warn_at = calendar.add(started_at, within * handoff.warn_at) if handoff.warn_at else None
            business = None if stopped_at is None else round(calendar.between(started_at, stopped_at), 3)
            found = (calendar.add(started_at, within), warn_at, business)
            if len(self._timings) >= TIMINGS_KEPT:
                self._timings.clear()
            self._timings[key] = found
        return found

    def remembered_clock(self, key: ClockKey, build: Callable[[], Clock]) -> Clock:
        """Return the clock of a key, built once: a lead's clocks are derived again with each of its events."""
        found = self._clocks.get(key)
        if found is None:
            if len(self._clocks) >= CLOCKS_KEPT:
                self._clocks.clear()
            found = self._clocks[key] = build()
        return found

    def escalations(
        self, agreement: Agreement, handoff: Handoff, deadline: datetime, owner_id: str | None = None
    ) -> Escalations:
        """Return when each step of a handoff's ladder falls: its `after` in business time past the deadline.

        Counted on the clock's own calendar (an owner clock: the owner's hours), `Nd` in days of that calendar.
        """
        if not handoff.escalate:
            return ()
        counted = self.clock_owner(handoff, owner_id)
        key = (agreement.name, handoff.name, counted, deadline)
        found = self._escalations.get(key)
        if found is None:
            calendar = self._counted_calendar(agreement, counted)
            found = tuple(
                (STEP_KINDS[step.to], calendar.add(deadline, parse_within(step.after, calendar.day_seconds)))
                for step in handoff.escalate
            )
            if len(self._escalations) >= TIMINGS_KEPT:
                self._escalations.clear()
            self._escalations[key] = found
        return found


def owner_calendar(
    owner: Owner, agreement: Agreement, absences: Sequence[tuple[datetime, datetime]] = ()
) -> BusinessCalendar:
    """Return an owner's calendar under an agreement: own hours and zone, less absences and the holidays.

    The absences are the owners file's and `absences` (from `crm.owner_away` events).
    """
    hours, zone = owner.working_hours, agreement.zone
    holidays = [
        (first_instant_of(day, zone), first_instant_of(day + timedelta(days=1), zone)) for day in agreement.holidays
    ]
    return BusinessCalendar(
        zone=ZoneInfo(owner.timezone),
        days=frozenset(WEEKDAYS.index(day) for day in hours.days),
        opens=hours.start,
        closes=hours.end,
        absences=(*((a.start, a.end) for a in owner.away), *absences, *holidays),
    )


def local_day_bounds(agreement: Agreement) -> tuple[datetime, datetime]:
    """Return the instants where the agreement's first effective day starts and its end day starts, locally.

    An instant is in force exactly when its local date is in [effective_from, effective_to), so comparing
    instants with these bounds answers `in_force_on` without converting every instant to the zone.
    """
    return first_instant_of(agreement.effective_from, agreement.zone), first_instant_of(
        agreement.effective_to, agreement.zone
    )


def due_events(lead_id: str, clocks: Sequence[Clock], published: frozenset[str], now: datetime) -> list[SlaEvent]:
    """Return the SLA events due by `now` that were not published yet, in the order they fell due."""
    due = [
        SlaEvent(kind, lead_id, clock, at)
        for clock in clocks
        for kind, at, marker in clock.schedule()
        if at <= now and marker not in published
    ]
    return sorted(due, key=lambda e: (e.at, e.clock.handoff, e.kind))


def next_due(clocks: Sequence[Clock], published: frozenset[str]) -> datetime | None:
    """Return the next instant at which one of the clocks has something to publish."""
    pending = [at for c in clocks for _kind, at, marker in c.schedule() if marker not in published]
    return min(pending, default=None)
