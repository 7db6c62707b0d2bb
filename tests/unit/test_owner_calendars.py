"""Owners' calendars (contract §3): own hours and zone, minus absences and the agreement's holidays; `clock: owner`.

The business time of a calendar with absences is checked against a sweep over every boundary (windows of the
same calendar without absences, absences, the range), an algorithm independent of the calendar's own.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.core.calendar import BusinessCalendar, merged
from pipelines.core.lead import LeadState, apply_event, snapshot
from pipelines.core.model import Event
from pipelines.core.sla import Judge, owner_calendar
from pipelines.core.validate import parse_event
from schemas.agreement import Agreement
from schemas.owners import OwnersFile
from services.lead_clocks import calendar_of, owner_at
from tests.unit.factories import activity_event, owner_event, stage_event

BERLIN, NEW_YORK, KOLKATA = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")
HOUR = 3600
HOURS = {"days": ["mon"], "start": "09:00", "end": "17:00"}
PROPERTY = settings(deadline=None, max_examples=150)


def _agreement(clock: str = "owner") -> Agreement:
    return Agreement.model_validate(
        {
            "name": "2026-H2",
            "effective_from": "2026-07-01",
            "effective_to": "2027-07-01",
            "timezone": "Europe/Berlin",
            "business_hours": {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"},
            "holidays": ["2026-12-24", "2026-12-25"],
            "goals": {
                "revenue": 1000,
                "currency": "EUR",
                "average_deal_size": 100,
                "rates": {
                    "visit_to_lead": 0.1,
                    "lead_to_mql": 0.5,
                    "mql_to_sql": 0.5,
                    "sql_to_opportunity": 0.5,
                    "opportunity_to_customer": 0.5,
                },
            },
            "handoffs": [
                {
                    "name": "mql_follow_up",
                    "starts_on": {"stage": "mql"},
                    "stops_on": {"human_activity": True},
                    "within": "4h",
                    "clock": clock,
                }
            ],
        }
    )


OWNERS = OwnersFile.model_validate(
    {
        "teams": [{"name": "emea", "manager": "mgr-emea", "members": ["rep-01", "rep-02"]}],
        "owners": [
            {
                "id": "rep-01",
                "timezone": "Europe/Berlin",
                "working_hours": {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "13:00", "end": "17:00"},
                "away": [{"from": "2026-11-03T00:00:00+01:00", "to": "2026-11-04T00:00:00+01:00"}],
            },
            {
                "id": "rep-02",
                "timezone": "America/New_York",
                "working_hours": {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"},
            },
        ],
    }
)


def at(zone: ZoneInfo, *fields: int) -> datetime:
    return datetime(*fields, tzinfo=zone)  # type: ignore[misc]


# --- the calendar, against a sweep over every boundary -----------------------------------------------


def swept(calendar: BusinessCalendar, start: datetime, end: datetime) -> float:
    """Business seconds in [start, end): time open (by the absence-free windows) and not away, by a boundary sweep."""
    # in UTC: Python subtracts two times of the same zone by their wall clocks, not by the real time between them
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    plain = BusinessCalendar(calendar.zone, calendar.days, calendar.opens, calendar.closes, calendar.holidays)
    first, last = start.astimezone(calendar.zone).date(), end.astimezone(calendar.zone).date()
    windows = list(plain.windows(first - timedelta(days=1), last + timedelta(days=2)))
    points = sorted({start, end, *(t for w in windows for t in w), *(t for a in calendar.absences for t in a)})
    total = 0.0
    for low, high in itertools.pairwise(points):
        if low < start or high > end:
            continue
        open_ = any(o <= low and high <= c for o, c in windows)
        away = any(a <= low and high <= b for a, b in calendar.absences)
        total += (high - low).total_seconds() if open_ and not away else 0.0
    return total


INSTANTS = st.datetimes(
    min_value=datetime(2026, 3, 20),  # noqa: DTZ001 - bounds are naive; the instants get a zone
    max_value=datetime(2026, 11, 10),  # noqa: DTZ001
    timezones=st.sampled_from([UTC, BERLIN, NEW_YORK, KOLKATA]),
)


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    zone = draw(st.sampled_from([BERLIN, NEW_YORK, KOLKATA, UTC]))
    opens = draw(st.sampled_from([time(0), time(1, 30), time(9), time(13), time(22)]))
    closes = draw(st.sampled_from([t for t in (time(3), time(12), time(17), time(23, 59)) if t > opens]))
    days = frozenset(draw(st.sets(st.integers(0, 6), min_size=1)))
    away = []
    for _ in range(draw(st.integers(0, 4))):
        begins = draw(INSTANTS)
        away.append((begins, begins + draw(st.timedeltas(timedelta(minutes=1), timedelta(days=9)))))
    return BusinessCalendar(zone, days, opens, closes, absences=tuple(away))


@PROPERTY
@given(calendar=calendars(), start=INSTANTS, span=st.timedeltas(timedelta(0), timedelta(days=20)))
def test_business_time_leaves_out_absences_as_a_sweep_counts_it(
    calendar: BusinessCalendar, start: datetime, span: timedelta
) -> None:
    assert calendar.between(start, start + span) == pytest.approx(swept(calendar, start, start + span), abs=1e-6)


@PROPERTY
@given(calendar=calendars(), start=INSTANTS, hours=st.integers(0, 60))
def test_a_deadline_is_never_inside_an_absence_and_holds_the_business_time_asked(
    calendar: BusinessCalendar, start: datetime, hours: int
) -> None:
    deadline = calendar.add(start, hours * HOUR)
    assert calendar.between(start, deadline) == pytest.approx(hours * HOUR, abs=1e-6)
    assert not any(a < deadline < b for a, b in calendar.absences)


def test_absences_are_merged_in_order_and_empty_ones_dropped() -> None:
    a, b = at(UTC, 2026, 11, 3, 8), at(UTC, 2026, 11, 3, 10)
    spans = ((b, b + timedelta(hours=1)), (a, b), (a, a), (a + timedelta(minutes=5), a + timedelta(minutes=6)))
    assert merged(spans) == ((a, b + timedelta(hours=1)),)


# --- owners' calendars under an agreement ------------------------------------------------------------


def test_an_owner_counts_own_hours_and_zone_minus_absence_and_the_agreements_holidays() -> None:
    agreement = _agreement()
    rep = owner_calendar(OWNERS.owners[0], agreement)
    # Monday 2 November 2026, 10:00 in Berlin: rep-01 works 13:00-17:00, is away all Tuesday; 4h end Wednesday 17:00
    assert rep.add(at(BERLIN, 2026, 11, 2, 10), 4 * HOUR) == at(BERLIN, 2026, 11, 2, 17)
    assert rep.add(at(BERLIN, 2026, 11, 2, 15), 4 * HOUR) == at(BERLIN, 2026, 11, 4, 15)
    # the agreement's holidays are whole days in the agreement's zone, for an owner in another zone too
    ny = owner_calendar(OWNERS.owners[1], agreement)
    christmas_eve_berlin = (at(BERLIN, 2026, 12, 24), at(BERLIN, 2026, 12, 25) + timedelta(days=1))
    assert ny.between(*christmas_eve_berlin) == 0.0
    # 26 Dec is a Saturday; Wed 23 Dec 17:00 in New York is 23:00 in Berlin: 24 and 25 Dec are gone, so Monday
    assert ny.add(at(NEW_YORK, 2026, 12, 23, 16), 2 * HOUR) == at(NEW_YORK, 2026, 12, 28, 10)


def test_an_absence_across_midnight_and_a_dst_change_counts_real_time() -> None:
    owners = OwnersFile.model_validate(
        {
            "owners": [
                {
                    "id": "night",
                    "timezone": "America/New_York",
                    "working_hours": {"days": ["sat", "sun"], "start": "00:00", "end": "04:00"},
                    "away": [{"from": "2026-03-08T03:00:00-04:00", "to": "2026-03-08T03:30:00-04:00"}],
                }
            ]
        }
    )
    night = owner_calendar(owners.owners[0], _agreement())
    # 8 March 2026: New York skips 02:00-03:00, so 00:00-04:00 lasts 3 real hours; half an hour of it away
    assert night.between(at(NEW_YORK, 2026, 3, 8), at(NEW_YORK, 2026, 3, 9)) == 2.5 * HOUR


# --- clock: owner -------------------------------------------------------------------------------------


def _clock(judge: Judge, *raws: bytes) -> tuple[datetime, str | None]:
    state: LeadState | None = None
    for raw in raws:
        event = parse_event(raw)
        assert isinstance(event, Event), event
        state, _new = apply_event(state, event)
    assert state is not None
    (clock,) = snapshot(state, judge).clocks
    return clock.deadline, clock.owner_id


def test_an_owner_clock_counts_the_owner_at_its_start_and_a_reassignment_does_not_move_it() -> None:
    judge = Judge([_agreement()], OWNERS)
    start = at(BERLIN, 2026, 11, 2, 10)
    mql = stage_event("lead-1", "mql", start, id="m", owner_id="rep-01")
    assert _clock(judge, mql) == (at(BERLIN, 2026, 11, 2, 17), "rep-01")
    # reassigned to rep-02 (New York) at 11:00 Berlin while it runs: the deadline stays rep-01's; rep-02 owns it
    moved = owner_event("lead-1", "rep-02", start + timedelta(hours=1), id="o")
    assert _clock(judge, mql, moved) == (at(BERLIN, 2026, 11, 2, 17), "rep-02")
    stop = activity_event("lead-1", start + timedelta(hours=2), automated=False, id="a", owner_id="rep-02")
    assert _clock(judge, mql, moved, stop)[0] == at(BERLIN, 2026, 11, 2, 17)


def test_without_an_owner_or_with_one_not_listed_the_agreements_hours_count() -> None:
    judge = Judge([_agreement()], OWNERS)
    start = at(BERLIN, 2026, 11, 2, 15)  # agreement hours 09-17: 2h today, 2h tomorrow
    assert _clock(judge, stage_event("lead-2", "mql", start, id="m"))[0] == at(BERLIN, 2026, 11, 3, 11)
    unlisted = stage_event("lead-3", "mql", start, id="m", owner_id="rep-99")
    assert _clock(judge, unlisted)[0] == at(BERLIN, 2026, 11, 3, 11)
    # the same lead under `clock: agreement` ignores its owner's hours
    agreement_clock = Judge([_agreement("agreement")], OWNERS)
    listed = stage_event("lead-4", "mql", start, id="m", owner_id="rep-01")
    assert _clock(agreement_clock, listed)[0] == at(BERLIN, 2026, 11, 3, 11)


def test_an_owner_in_another_zone_counts_in_that_zone() -> None:
    judge = Judge([_agreement()], OWNERS)
    # Monday 2 Nov 2026 16:00 Berlin is 10:00 in New York: rep-02's 4h end at 14:00 New York
    start = at(BERLIN, 2026, 11, 2, 16)
    assert _clock(judge, stage_event("lead-5", "mql", start, id="m", owner_id="rep-02"))[0] == at(
        NEW_YORK, 2026, 11, 2, 14
    )


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"owners": [{"id": "a", "timezone": "Mars/Olympus", "working_hours": {"days": ["mon"], "start": "09:00",
                                                                              "end": "17:00"}}]}, "unknown time zone"),
        ({"owners": [{"id": "a", "timezone": "UTC", "working_hours": HOURS,
                      "away": [{"from": "2026-11-04T00:00:00+00:00", "to": "2026-11-03T00:00:00+00:00"}]}]},
         "to must be after from"),
        ({"owners": [{"id": "a", "timezone": "UTC", "working_hours": HOURS,
                      "away": [{"from": "2026-11-03T00:00:00", "to": "2026-11-04T00:00:00+00:00"}]}]},
         "timezone"),
        ({"teams": [{"name": "x", "manager": "m", "members": ["a"]}, {"name": "y", "manager": "m", "members": ["a"]}]},
         "one team at most"),
        ({"owners": [{"id": "a", "timezone": "UTC", "working_hours": {"days": ["mon"], "start": "09:00",
                                                                      "end": "17:00"}}] * 2}, "unique"),
    ],
)  # fmt: skip
def test_a_bad_owners_file_is_refused_with_the_reason(document: dict[str, object], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        OwnersFile.model_validate(document)


def test_the_story_names_the_owner_calendar_a_clock_counts() -> None:
    events = [
        {"time": "2026-11-02T09:00:00.000+00:00", "owner_id": "rep-01"},
        {"time": "2026-11-02T10:00:00.000+00:00", "owner_id": None},
        {"time": "2026-11-02T11:00:00.000+00:00", "owner_id": "rep-02"},
    ]
    assert owner_at(events, "2026-11-02T10:30:00.000+00:00") == "rep-01"
    assert owner_at(events, "2026-11-02T11:00:00.000+00:00") == "rep-02"
    assert owner_at(events, "2026-11-02T08:00:00.000+00:00") is None
    described = calendar_of(_agreement(), OWNERS.owners[0])
    assert described["kind"] == "owner" and described["owner_id"] == "rep-01"
    assert described["timezone"] == "Europe/Berlin" and (described["start"], described["end"]) == (
        "13:00:00",
        "17:00:00",
    )
    assert described["away"] == [{"from": "2026-11-03T00:00:00+01:00", "to": "2026-11-04T00:00:00+01:00"}]
    assert described["holidays"] == ["2026-12-24", "2026-12-25"]
    assert calendar_of(_agreement())["kind"] == "agreement"
