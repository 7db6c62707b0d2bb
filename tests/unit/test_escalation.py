"""Escalation ladders (contract §3, §5): moments in business time past the deadline, once per clock, addressees.

A moment is checked against a minute-by-minute walk over the owner's working hours, absences and the agreement's
holidays (local wall clocks read through zoneinfo), an algorithm independent of the calendar's own.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import metrics
from pipelines.core.calendar import WEEKDAYS, BusinessCalendar
from pipelines.core.escalation import running_clocks, suggest_owner
from pipelines.core.lead import LeadState, snapshot
from pipelines.core.messages import to_sla_message
from pipelines.core.sla import BREACHED, ESCALATED, REASSIGN, Clock, Judge
from pipelines.core.steps import sla_step
from pipelines.sla_agent import count
from schemas.agreement import Agreement
from schemas.owners import Owner, OwnersFile
from tests.unit.factories import activity_event, lead_state, owner_event, stage_event
from tests.unit.test_owner_calendars import _agreement

BERLIN, NEW_YORK, KOLKATA = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")
MINUTE = timedelta(minutes=1)
FAR = datetime(2030, 1, 1, tzinfo=UTC)
LADDER = [{"after": "1h", "to": "manager"}, {"after": "2h", "to": "reassign"}]


def laddered(clock: str = "owner", within: str = "4h", ladder: list[dict[str, str]] | None = None) -> Agreement:
    """Return the owner-calendar test agreement with an escalation ladder on its handoff."""
    document: dict[str, Any] = _agreement(clock).model_dump(mode="json")
    document["handoffs"][0].update(within=within, escalate=LADDER if ladder is None else ladder)
    return Agreement.model_validate(document)


def owners(*people: dict[str, Any], teams: list[dict[str, Any]] | None = None) -> OwnersFile:
    """Return an owners file of some owners, all in one team `emea` managed by `boss` unless told."""
    members = [p["id"] for p in people]
    return OwnersFile.model_validate(
        {"teams": teams if teams is not None else [{"name": "emea", "manager": "boss", "members": members}],
         "owners": list(people)}
    )  # fmt: skip


def person(
    id: str, zone: str = "Europe/Berlin", start: str = "09:00", end: str = "17:00", **extra: Any
) -> dict[str, Any]:
    """Return an owner working Monday to Friday."""
    hours = {"days": ["mon", "tue", "wed", "thu", "fri"], "start": start, "end": end}
    return {"id": id, "timezone": zone, "working_hours": hours, **extra}


def at(zone: ZoneInfo, *fields: int) -> datetime:
    return datetime(*fields, tzinfo=zone)  # type: ignore[misc]


# --- the ladder in the agreement file -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("ladder", "reason"),
    [
        ([{"after": "2h", "to": "manager"}, {"after": "1h", "to": "reassign"}], "after must increase"),
        ([{"after": "60m", "to": "manager"}, {"after": "1h", "to": "reassign"}], "after must increase"),
        ([{"after": "1h", "to": "manager"}, {"after": "2h", "to": "manager"}], "each `to` may appear once"),
        ([{"after": "4h", "to": "manager"}, {"after": "1d", "to": "reassign"}], "days for every step"),
    ],
)
def test_a_ladder_out_of_order_or_repeating_a_step_is_refused(ladder: list[dict[str, str]], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        laddered(ladder=ladder)


def test_a_ladder_is_optional_and_read_in_order() -> None:
    assert _agreement().handoffs[0].escalate == ()
    steps = laddered(ladder=[{"after": "30m", "to": "manager"}, {"after": "2h", "to": "reassign"}]).handoffs[0].escalate
    assert [(s.after, s.to) for s in steps] == [("30m", "manager"), ("2h", "reassign")]


# --- moments, against a minute-by-minute walk -------------------------------------------------------------


def at_work(owner: Owner, holidays: tuple[date, ...], agreement_zone: ZoneInfo, instant: datetime) -> bool:
    """Say whether the minute starting at `instant` is the owner's business time.

    A business day runs from its opening to its closing wall time (the first of two, when a wall time repeats), as
    real time: an hour repeated or skipped between them is longer or shorter working time.
    """
    zone, hours = ZoneInfo(owner.timezone), owner.working_hours
    day = instant.astimezone(zone).date()
    opening, closing = (datetime.combine(day, wall, zone).astimezone(UTC) for wall in (hours.start, hours.end))
    return (
        WEEKDAYS[day.weekday()] in hours.days
        and opening <= instant < closing
        and not any(a.start <= instant < a.end for a in owner.away)
        and instant.astimezone(agreement_zone).date() not in holidays
    )


def walked(owner: Owner, agreement: Agreement, deadline: datetime, minutes: int) -> datetime:
    """Return the end of the `minutes`-th business minute of the owner after `deadline`."""
    instant, counted = deadline.astimezone(UTC), 0
    while counted < minutes:
        counted += at_work(owner, agreement.holidays, agreement.zone, instant)
        instant += MINUTE
    return instant


DST_DAYS = st.sampled_from(
    [date(2027, 3, 8), date(2027, 3, 25), date(2026, 10, 23), date(2026, 10, 30), date(2026, 11, 6)]
)


@st.composite
def calendared_owners(draw: st.DrawFn) -> dict[str, Any]:
    """An owner in one of several zones, with hours on minute boundaries and absences across midnight."""
    zone = draw(st.sampled_from(["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"]))
    opens = draw(st.sampled_from([time(0), time(1, 30), time(9), time(13), time(22)]))
    closes = draw(st.sampled_from([t for t in (time(3), time(12), time(17, 45), time(23, 59)) if t > opens]))
    days = draw(st.sets(st.sampled_from(WEEKDAYS), min_size=3))
    away = []
    for _ in range(draw(st.integers(0, 3))):
        begins = datetime.combine(draw(DST_DAYS), time(), UTC) + draw(st.integers(0, 10 * 24 * 60)) * MINUTE
        ends = begins + draw(st.integers(1, 3 * 24 * 60)) * MINUTE
        away.append({"from": begins.isoformat(), "to": ends.isoformat()})
    hours = {"days": sorted(days, key=WEEKDAYS.index), "start": opens.isoformat(), "end": closes.isoformat()}
    return {"id": "rep", "timezone": zone, "working_hours": hours, "away": away}


@settings(deadline=None, max_examples=60)
@given(
    owner=calendared_owners(),
    day=DST_DAYS,
    minute=st.integers(0, 7 * 24 * 60),
    within=st.integers(1, 120),
    first=st.integers(1, 90),
    second=st.integers(1, 90),
)
def test_each_step_falls_its_business_time_past_the_deadline_on_the_owners_calendar(
    owner: dict[str, Any], day: date, minute: int, within: int, first: int, second: int
) -> None:
    ladder = [{"after": f"{first}m", "to": "manager"}, {"after": f"{first + second}m", "to": "reassign"}]
    agreement = laddered(within=f"{within}m", ladder=ladder)
    listed = owners(owner)
    start = datetime.combine(day, time(), UTC) + minute * MINUTE
    state = lead_state([stage_event("lead-1", "mql", start, id="m", owner_id="rep")])
    (clock,) = snapshot(state, Judge([agreement], listed)).clocks
    rep = listed.owners[0]
    assert clock.deadline == walked(rep, agreement, start, within)
    assert dict(clock.escalations) == {
        ESCALATED: walked(rep, agreement, clock.deadline, first),
        REASSIGN: walked(rep, agreement, clock.deadline, first + second),
    }


@settings(deadline=None, max_examples=80)
@given(stop_after=st.one_of(st.none(), st.integers(0, 6 * 60)))
def test_a_step_is_published_once_and_never_after_the_clock_stopped(stop_after: int | None) -> None:
    judge = Judge([laddered("agreement", "30m")], owners(person("rep")))
    start = at(BERLIN, 2026, 11, 2, 13)  # a Monday: deadline 13:30, steps at 14:30 and 15:30
    raws = [stage_event("lead-1", "mql", start, id="m", owner_id="rep")]
    if stop_after is not None:
        raws.append(activity_event("lead-1", start + stop_after * MINUTE, id="a"))
    state = lead_state(raws)
    (clock,) = snapshot(state, judge).clocks
    first = sla_step(state, frozenset(), judge, FAR)
    again = sla_step(state, first.published, judge, FAR)
    kinds = [e.kind for e in first.events]
    for kind, moment in clock.escalations:
        stopped_before = clock.stopped_at is not None and clock.stopped_at <= moment
        assert (kind in kinds) == (not stopped_before)
    assert again.events == () and again.next_due is None
    assert len(kinds) == len(set(kinds))


@settings(deadline=None, max_examples=60)
@given(checks=st.lists(st.integers(0, 8 * 60), max_size=12), stop_after=st.one_of(st.none(), st.integers(0, 6 * 60)))
def test_judged_again_and_again_as_time_goes_on_each_step_is_published_once_at_or_after_its_moment(
    checks: list[int], stop_after: int | None
) -> None:
    judge = Judge([laddered("agreement", "30m")], owners(person("rep"), person("alt")))
    start = at(BERLIN, 2026, 11, 2, 13)
    raws = [stage_event("lead-1", "mql", start, id="m", owner_id="rep")]
    if stop_after is not None:
        raws.append(activity_event("lead-1", start + stop_after * MINUTE, id="a"))
    state = lead_state(raws)
    published: frozenset[str] = frozenset()
    seen = []
    for now in [start + m * MINUTE for m in sorted(checks)] + [FAR]:
        effects = sla_step(state, published, judge, now)
        published = effects.published
        seen.extend((e.kind, e.at, now) for e in effects.events)
    (clock,) = snapshot(state, judge).clocks
    steps = [(kind, at_) for kind, at_, _ in seen if kind in (ESCALATED, REASSIGN)]
    assert steps == [(k, m) for k, m in clock.escalations if clock.stopped_at is None or clock.stopped_at > m]
    assert all(at_ <= now for _, at_, now in seen)


def test_an_absence_over_a_clocks_whole_life_moves_its_steps_past_it() -> None:
    rep = person(
        "rep", "America/New_York", away=[{"from": "2026-11-02T20:00:00-05:00", "to": "2026-11-05T03:00:00-05:00"}]
    )
    agreement, listed = laddered("owner", "30m"), owners(rep)
    start = at(NEW_YORK, 2026, 11, 3, 10)  # in the middle of the absence, which spans two midnights
    state = lead_state([stage_event("lead-1", "mql", start, id="m", owner_id="rep")])
    (clock,) = snapshot(state, Judge([agreement], listed)).clocks
    # nothing counts until the absence ends: the clock and its steps all fall on Thursday from 09:00 New York
    assert clock.deadline == at(NEW_YORK, 2026, 11, 5, 9, 30)
    assert clock.escalations == (
        (ESCALATED, at(NEW_YORK, 2026, 11, 5, 10, 30)),
        (REASSIGN, at(NEW_YORK, 2026, 11, 5, 11, 30)),
    )
    owner = listed.owners[0]
    assert [m for _, m in clock.escalations] == [walked(owner, agreement, clock.deadline, n) for n in (60, 120)]


def test_steps_fall_due_in_order_and_are_addressed() -> None:
    judge = Judge([laddered("agreement", "30m")], owners(person("rep"), person("alt")))
    start = at(BERLIN, 2026, 11, 2, 13)
    state = lead_state([stage_event("lead-1", "mql", start, id="m", owner_id="rep")])
    breach = sla_step(state, frozenset(), judge, at(BERLIN, 2026, 11, 2, 14))
    assert [(e.kind, e.team, e.to) for e in breach.events] == [(BREACHED, "emea", None)]
    assert breach.next_due == at(BERLIN, 2026, 11, 2, 14, 30)
    escalation = sla_step(state, breach.published, judge, at(BERLIN, 2026, 11, 2, 15, 30))
    assert [(e.kind, e.at, e.to, e.team) for e in escalation.events] == [
        (ESCALATED, at(BERLIN, 2026, 11, 2, 14, 30), "boss", "emea"),
        (REASSIGN, at(BERLIN, 2026, 11, 2, 15, 30), "alt", "emea"),
    ]
    data = [orjson.loads(to_sla_message(e).value) for e in escalation.events]
    assert data[0]["id"] == "lead-1/mql_follow_up/1/sla.escalated" and data[0]["data"]["escalated_to"] == "boss"
    assert data[1]["data"]["suggested_owner_id"] == "alt" and data[1]["data"]["team"] == "emea"


def test_an_owner_in_no_team_escalates_to_nobody() -> None:
    judge = Judge([laddered("agreement", "30m")], owners(person("rep"), teams=[]))
    state = lead_state([stage_event("lead-1", "mql", at(BERLIN, 2026, 11, 2, 13), id="m", owner_id="rep")])
    events = sla_step(state, frozenset(), judge, FAR).events
    assert [(e.kind, e.to, e.team) for e in events if e.kind != BREACHED] == [
        (ESCALATED, None, None),
        (REASSIGN, None, None),
    ]
    data = orjson.loads(to_sla_message(events[-1]).value)["data"]
    assert data["suggested_owner_id"] is None and data["team"] is None


def test_the_suggestion_never_names_a_past_owner_of_the_lead() -> None:
    judge = Judge([laddered("agreement", "30m")], owners(person("a-rep"), person("b-rep"), person("c-rep")))
    start = at(BERLIN, 2026, 11, 2, 13)
    raws = [
        stage_event("lead-1", "mql", start, id="m", owner_id="b-rep"),
        owner_event("lead-1", "a-rep", start + 10 * MINUTE, id="o1"),
        owner_event("lead-1", "c-rep", at(BERLIN, 2026, 11, 2, 16), id="late"),  # after the step: not counted
    ]
    events = sla_step(lead_state(raws), frozenset(), judge, FAR).events
    assert [e.to for e in events if e.kind == REASSIGN] == ["c-rep"]


# --- the suggested owner ----------------------------------------------------------------------------------


def calendar(
    zone: ZoneInfo, opens: int, closes: int, away: tuple[tuple[datetime, datetime], ...] = ()
) -> BusinessCalendar:
    return BusinessCalendar(zone, frozenset(range(5)), time(opens), time(closes), absences=away)


def test_the_suggestion_is_at_work_not_away_never_an_owner_least_loaded_then_first_by_id() -> None:
    monday = at(BERLIN, 2026, 11, 2, 14, 30)
    calendars = {
        "ann": calendar(BERLIN, 9, 17),
        "bob": calendar(BERLIN, 9, 17),
        "cat": calendar(BERLIN, 9, 17, away=((at(BERLIN, 2026, 11, 1, 22), at(BERLIN, 2026, 11, 3, 2)),)),
        "dan": calendar(NEW_YORK, 9, 17),  # 08:30 in New York: not yet at work
        "eve": calendar(KOLKATA, 9, 17),  # 19:00 in Kolkata: gone home
    }
    everyone = sorted(calendars)
    assert suggest_owner(everyone, calendars, set(), {}, monday) == "ann"
    assert suggest_owner(everyone, calendars, {"ann"}, {}, monday) == "bob"
    assert suggest_owner(everyone, calendars, set(), {"ann": 2, "bob": 1}, monday) == "bob"
    assert suggest_owner(everyone, calendars, {"ann", "bob"}, {}, monday) is None  # cat is away
    assert suggest_owner(everyone, calendars, set(), {}, at(NEW_YORK, 2026, 11, 2, 12)) == "dan"
    assert suggest_owner(["zed", *everyone], calendars, {"ann", "bob"}, {}, monday) is None  # zed: no calendar


def test_running_clocks_count_an_owners_clocks_open_at_the_instant() -> None:
    def clock(owner: str, start: int, stop: int | None) -> Clock:
        at_ = lambda h: at(UTC, 2026, 11, 2, h)  # noqa: E731
        return Clock("h", "a", 1, at_(start), at_(20), None, None if stop is None else at_(stop), None, owner)

    clocks = [clock("ann", 9, None), clock("ann", 9, 11), clock("bob", 12, None), clock("ann", 9, 10)]
    assert running_clocks(clocks, at(UTC, 2026, 11, 2, 10, 30)) == {"ann": 2}
    assert running_clocks(clocks, at(UTC, 2026, 11, 2, 12)) == {"ann": 1, "bob": 1}


def test_an_unlisted_starter_counts_the_agreements_hours_for_its_steps() -> None:
    judge = Judge([laddered("owner", "30m")], owners(person("rep", "America/New_York")))
    state: LeadState = lead_state([stage_event("lead-1", "mql", at(BERLIN, 2026, 11, 2, 16), id="m", owner_id="x")])
    (clock,) = snapshot(state, judge).clocks
    # agreement hours 09-17 Berlin: deadline 16:30, manager 1h later is Tuesday 09:30, reassign 10:30
    assert clock.escalations == (
        (ESCALATED, at(BERLIN, 2026, 11, 3, 9, 30)),
        (REASSIGN, at(BERLIN, 2026, 11, 3, 10, 30)),
    )


def test_breaches_and_steps_are_counted_by_the_owners_team() -> None:
    judge = Judge([laddered("agreement", "30m")], owners(person("rep"), person("alt")))
    state = lead_state([stage_event("lead-7", "mql", at(BERLIN, 2026, 11, 2, 13), id="m", owner_id="rep")])
    labels = {"handoff": "mql_follow_up", "agreement": "2026-H2", "team": "emea"}

    def value(name: str, **extra: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, {**labels, **extra}) or 0.0

    before = (value("leadflow_sla_breaches_total"), value("leadflow_sla_escalations_total", step="reassign"))
    for event in sla_step(state, frozenset(), judge, FAR).events:
        count(event)
    after = (value("leadflow_sla_breaches_total"), value("leadflow_sla_escalations_total", step="reassign"))
    assert (after[0] - before[0], after[1] - before[1]) == (1.0, 1.0)
