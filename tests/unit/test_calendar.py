"""Business-hours calendar (contract §3): open hours, deadlines, business time, DST and `within`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.core.calendar import BusinessCalendar, parse_within
from schemas.agreement import Agreement

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS = frozenset(range(5))
EVERY_DAY = frozenset(range(7))
CHRISTMAS = frozenset({date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 26)})
HOUR = 3600

OFFICE = BusinessCalendar(BERLIN, WEEKDAYS, time(9), time(17), CHRISTMAS)
BERLIN_DAILY = BusinessCalendar(BERLIN, EVERY_DAY, time(9), time(17))
NEW_YORK_DAILY = BusinessCalendar(NEW_YORK, EVERY_DAY, time(9), time(17))
# Open over the hour that DST skips or repeats in Europe/Berlin (02:00-03:00 local).
NIGHT_SHIFT = BusinessCalendar(BERLIN, EVERY_DAY, time(1), time(4))


def berlin(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=BERLIN)  # type: ignore[misc]


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)  # type: ignore[misc]


def only_window(calendar: BusinessCalendar, day: date) -> tuple[datetime, datetime]:
    (window,) = calendar.windows(day, day + timedelta(days=1))
    return window


# --- construction -------------------------------------------------------------------------------


def test_from_agreement_reads_zone_days_hours_and_holidays() -> None:
    agreement = Agreement.model_validate(
        {
            "name": "2026-H2",
            "effective_from": "2026-07-01",
            "effective_to": "2027-01-01",
            "timezone": "Europe/Berlin",
            "business_hours": {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"},
            "holidays": ["2026-12-24", "2026-12-25", "2026-12-26"],
            "goals": {
                "revenue": 1200000,
                "currency": "EUR",
                "average_deal_size": 20000,
                "rates": {
                    "visit_to_lead": 0.02,
                    "lead_to_mql": 0.4,
                    "mql_to_sql": 0.5,
                    "sql_to_opportunity": 0.6,
                    "opportunity_to_customer": 0.25,
                },
            },
        }
    )
    assert BusinessCalendar.from_agreement(agreement) == OFFICE
    assert OFFICE.day_seconds == 8 * HOUR


@pytest.mark.parametrize(
    ("opens", "closes", "days"),
    [
        (time(17), time(9), WEEKDAYS),
        (time(9), time(9), WEEKDAYS),
        (time(9, tzinfo=UTC), time(17), WEEKDAYS),
        (time(9), time(17), frozenset({7})),
    ],
)
def test_a_calendar_needs_naive_hours_that_close_after_they_open_and_real_weekdays(
    opens: time, closes: time, days: frozenset[int]
) -> None:
    with pytest.raises(ValueError):
        BusinessCalendar(BERLIN, days, opens, closes)


def test_a_calendar_without_business_days_says_so() -> None:
    closed = BusinessCalendar(BERLIN, frozenset(), time(9), time(17))
    with pytest.raises(ValueError, match="calendar has no business days"):
        closed.next_open(berlin(2026, 6, 12, 10))
    with pytest.raises(ValueError, match="calendar has no business days"):
        closed.add(berlin(2026, 6, 12, 10), HOUR)
    assert closed.between(berlin(2026, 6, 12), berlin(2026, 7, 12)) == 0.0


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 6, 12, 10)  # noqa: DTZ001 - the point of the test
    for call in (
        lambda: OFFICE.is_open(naive),
        lambda: OFFICE.next_open(naive),
        lambda: OFFICE.add(naive, HOUR),
        lambda: OFFICE.between(naive, berlin(2026, 6, 13)),
        lambda: OFFICE.between(berlin(2026, 6, 11), naive),
    ):
        with pytest.raises(ValueError, match="timezone-aware"):
            call()


@pytest.mark.parametrize("seconds", [-1, -0.5, float("nan"), float("inf")])
def test_business_time_must_be_finite_and_not_negative(seconds: float) -> None:
    with pytest.raises(ValueError):
        OFFICE.add(berlin(2026, 6, 12, 10), seconds)


# --- open hours ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (berlin(2026, 6, 12, 8, 59, 59), False),
        (berlin(2026, 6, 12, 9), True),
        (datetime(2026, 6, 12, 16, 59, 59, 999999, tzinfo=BERLIN), True),
        (berlin(2026, 6, 12, 17), False),  # a window is [open, close)
        (berlin(2026, 6, 13, 12), False),  # Saturday
        (berlin(2026, 12, 24, 12), False),  # holiday
        (utc(2026, 6, 12, 7), True),  # 09:00 summer time in Berlin
        (utc(2026, 6, 12, 6, 59), False),
    ],
)
def test_is_open(instant: datetime, expected: bool) -> None:
    assert OFFICE.is_open(instant) is expected


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (berlin(2026, 6, 12, 10, 30), berlin(2026, 6, 12, 10, 30)),
        (berlin(2026, 6, 12, 7), berlin(2026, 6, 12, 9)),
        (berlin(2026, 6, 12, 17), berlin(2026, 6, 15, 9)),
        (berlin(2026, 6, 13, 10), berlin(2026, 6, 15, 9)),
        (berlin(2026, 12, 23, 18), berlin(2026, 12, 28, 9)),
    ],
)
def test_next_open(instant: datetime, expected: datetime) -> None:
    result = OFFICE.next_open(instant)
    assert result == expected
    assert result.tzinfo is UTC


def test_windows_are_the_business_days_of_a_half_open_range_of_local_days() -> None:
    assert list(OFFICE.windows(date(2026, 12, 21), date(2026, 12, 29))) == [
        (utc(2026, 12, 21, 8), utc(2026, 12, 21, 16)),
        (utc(2026, 12, 22, 8), utc(2026, 12, 22, 16)),
        (utc(2026, 12, 23, 8), utc(2026, 12, 23, 16)),
        (utc(2026, 12, 28, 8), utc(2026, 12, 28, 16)),
    ]
    assert list(OFFICE.windows(date(2026, 12, 28), date(2026, 12, 28))) == []


# --- deadlines ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "seconds", "deadline"),
    [
        (berlin(2026, 6, 12, 16), 4 * HOUR, berlin(2026, 6, 15, 12)),  # Friday 16:00 + 4h -> Monday 12:00
        (berlin(2026, 6, 13, 10), HOUR, berlin(2026, 6, 15, 10)),  # Saturday: starts at Monday's opening
        (berlin(2026, 6, 12, 8), 30 * 60, berlin(2026, 6, 12, 9, 30)),
        (berlin(2026, 12, 23, 15), 4 * HOUR, berlin(2026, 12, 28, 11)),  # 24-26 holidays, 27 Sunday
        (berlin(2026, 6, 8, 9), 5 * 8 * HOUR, berlin(2026, 6, 12, 17)),  # ends exactly at closing: that instant
        (berlin(2026, 6, 8, 10), 5 * 8 * HOUR, berlin(2026, 6, 15, 10)),
        (berlin(2026, 6, 12, 16), HOUR, berlin(2026, 6, 12, 17)),  # closing instant, not Monday 09:00
        (berlin(2026, 6, 12, 16), HOUR + 1, berlin(2026, 6, 15, 9, 0, 1)),
        (berlin(2026, 6, 12, 17), 0, berlin(2026, 6, 15, 9)),  # add(t, 0) is next_open(t)
        (berlin(2026, 6, 12, 11), 0, berlin(2026, 6, 12, 11)),
        (berlin(2026, 6, 12, 11), 0.25, datetime(2026, 6, 12, 11, 0, 0, 250000, tzinfo=BERLIN)),
        (berlin(2026, 3, 27, 16), 4 * HOUR, berlin(2026, 3, 30, 12)),  # over the spring-forward weekend
        (berlin(2026, 10, 23, 16), 4 * HOUR, berlin(2026, 10, 26, 12)),  # over the fall-back weekend
        # 52 weeks would end Friday 2027-05-28; the two weekday holidays push it two business days on.
        (berlin(2026, 6, 1, 9), 52 * 5 * 8 * HOUR, berlin(2027, 6, 1, 17)),
    ],
)
def test_add(start: datetime, seconds: float, deadline: datetime) -> None:
    result = OFFICE.add(start, seconds)
    assert result == deadline
    assert result.tzinfo is UTC


def test_a_long_add_agrees_with_a_day_by_day_one() -> None:
    start = berlin(2026, 11, 30, 13, 17)
    step_by_step = start
    for _ in range(40):
        step_by_step = OFFICE.add(step_by_step, 8 * HOUR)
    assert OFFICE.add(start, 40 * 8 * HOUR) == step_by_step
    assert OFFICE.between(start, step_by_step) == 40 * 8 * HOUR


@pytest.mark.parametrize(
    ("start", "end", "seconds"),
    [
        (berlin(2026, 6, 12, 16), berlin(2026, 6, 15, 10), 2 * HOUR),
        (berlin(2026, 6, 15, 10), berlin(2026, 6, 12, 16), 0),
        (berlin(2026, 6, 12, 10), berlin(2026, 6, 12, 10), 0),
        (berlin(2026, 6, 12, 10), berlin(2026, 6, 12, 10, 0, 1), 1),
        (berlin(2026, 12, 23, 15), berlin(2026, 12, 28, 11), 4 * HOUR),
        (berlin(2026, 1, 1), berlin(2027, 1, 1), (261 - 2) * 8 * HOUR),  # 261 weekdays, 2 of them holidays
        (utc(2026, 6, 12, 14), utc(2026, 6, 12, 23), HOUR),  # 16:00-17:00 in Berlin
    ],
)
def test_between(start: datetime, end: datetime, seconds: float) -> None:
    assert OFFICE.between(start, end) == seconds


def test_windows_over_utc_midnight_count_whole_over_long_spans() -> None:
    # 08:00-12:00 in Tokyo is 23:00-03:00 UTC: every window straddles a UTC midnight.
    tokyo = BusinessCalendar(ZoneInfo("Asia/Tokyo"), WEEKDAYS, time(8), time(12))
    windows = list(tokyo.windows(date(2026, 1, 1), date(2028, 1, 1)))
    assert windows[0] == (utc(2025, 12, 31, 23), utc(2026, 1, 1, 3))
    assert tokyo.between(windows[0][0], windows[-1][1]) == len(windows) * 4 * HOUR
    assert tokyo.add(windows[0][0], 400 * 4 * HOUR) == windows[399][1]
    assert tokyo.add(windows[0][0], 400 * 4 * HOUR + 1) == windows[400][0] + timedelta(seconds=1)
    assert all(tokyo.is_open(o) and not tokyo.is_open(c) for o, c in windows)


# --- daylight saving time -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calendar", "day", "window"),
    [
        (BERLIN_DAILY, date(2026, 3, 28), (utc(2026, 3, 28, 8), utc(2026, 3, 28, 16))),
        (BERLIN_DAILY, date(2026, 3, 29), (utc(2026, 3, 29, 7), utc(2026, 3, 29, 15))),  # spring forward
        (BERLIN_DAILY, date(2026, 10, 25), (utc(2026, 10, 25, 8), utc(2026, 10, 25, 16))),  # fall back
        (NEW_YORK_DAILY, date(2026, 3, 8), (utc(2026, 3, 8, 13), utc(2026, 3, 8, 21))),  # spring forward
        (NEW_YORK_DAILY, date(2026, 11, 1), (utc(2026, 11, 1, 14), utc(2026, 11, 1, 22))),  # fall back
    ],
)
def test_a_dst_day_keeps_its_local_hours_and_eight_real_hours(
    calendar: BusinessCalendar, day: date, window: tuple[datetime, datetime]
) -> None:
    assert only_window(calendar, day) == window
    assert window[1] - window[0] == timedelta(hours=8)


@pytest.mark.parametrize(
    ("start", "seconds", "deadline"),
    [
        # Saturday 16:00 EST + 2h: 1h on Saturday, 1h from Sunday's 09:00 EDT; 17 real hours, not 18.
        (datetime(2026, 3, 7, 16, tzinfo=NEW_YORK), 2 * HOUR, utc(2026, 3, 8, 14)),
        # Saturday 16:00 EDT + 2h: 1h on Saturday, 1h from Sunday's 09:00 EST; 19 real hours.
        (datetime(2026, 10, 31, 16, tzinfo=NEW_YORK), 2 * HOUR, utc(2026, 11, 1, 15)),
        (datetime(2026, 3, 7, 12, tzinfo=NEW_YORK), 24 * HOUR, utc(2026, 3, 10, 16)),
    ],
)
def test_add_across_a_dst_night(start: datetime, seconds: float, deadline: datetime) -> None:
    assert NEW_YORK_DAILY.add(start, seconds) == deadline


def test_between_counts_business_time_across_dst_changes() -> None:
    assert NEW_YORK_DAILY.between(datetime(2026, 3, 7, 16, tzinfo=NEW_YORK), utc(2026, 3, 8, 14)) == 2 * HOUR
    assert NEW_YORK_DAILY.between(datetime(2026, 10, 31, 16, tzinfo=NEW_YORK), utc(2026, 11, 1, 15)) == 2 * HOUR
    assert BERLIN_DAILY.between(berlin(2026, 3, 28, 12), berlin(2026, 3, 30, 12)) == 16 * HOUR
    assert BERLIN_DAILY.between(berlin(2026, 10, 24, 12), berlin(2026, 10, 26, 12)) == 16 * HOUR


def test_hours_over_the_skipped_hour_last_two_real_hours() -> None:
    # 01:00 CET is 00:00 UTC; 04:00 CEST is 02:00 UTC: the wall clock jumps from 02:00 to 03:00.
    assert only_window(NIGHT_SHIFT, date(2026, 3, 29)) == (utc(2026, 3, 29, 0), utc(2026, 3, 29, 2))
    assert NIGHT_SHIFT.between(berlin(2026, 3, 29), berlin(2026, 3, 30)) == 2 * HOUR
    # 2h on the 29th, then 1h from 01:00 CEST on the 30th.
    assert NIGHT_SHIFT.add(berlin(2026, 3, 29, 1), 3 * HOUR) == berlin(2026, 3, 30, 2)
    assert NIGHT_SHIFT.add(berlin(2026, 3, 29, 1), 2 * HOUR) == berlin(2026, 3, 29, 4)


def test_hours_over_the_repeated_hour_last_four_real_hours() -> None:
    # 01:00 CEST is 23:00 UTC the day before; 04:00 CET is 03:00 UTC: 02:00-03:00 happens twice.
    assert only_window(NIGHT_SHIFT, date(2026, 10, 25)) == (utc(2026, 10, 24, 23), utc(2026, 10, 25, 3))
    assert NIGHT_SHIFT.between(berlin(2026, 10, 25), berlin(2026, 10, 26)) == 4 * HOUR
    assert NIGHT_SHIFT.add(berlin(2026, 10, 25, 1), 4 * HOUR) == utc(2026, 10, 25, 3)
    assert NIGHT_SHIFT.is_open(datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN))


def test_skipped_and_repeated_wall_times_resolve_with_fold_zero() -> None:
    # 02:30 does not exist on 2026-03-29: with the winter offset it is 01:30 UTC (03:30 summer time).
    late = BusinessCalendar(BERLIN, EVERY_DAY, time(2, 30), time(5))
    assert only_window(late, date(2026, 3, 29)) == (utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 3))
    # 02:30 happens twice on 2026-10-25: the first one, summer time, 00:30 UTC.
    assert only_window(late, date(2026, 10, 25)) == (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 4))
    # Opening at 02:30 (-> 03:30 summer time) and closing at 03:15 summer time leaves no window that day.
    squeezed = BusinessCalendar(BERLIN, EVERY_DAY, time(2, 30), time(3, 15))
    assert list(squeezed.windows(date(2026, 3, 28), date(2026, 3, 31))) == [
        (utc(2026, 3, 28, 1, 30), utc(2026, 3, 28, 2, 15)),
        (utc(2026, 3, 30, 0, 30), utc(2026, 3, 30, 1, 15)),
    ]
    assert squeezed.next_open(berlin(2026, 3, 29)) == utc(2026, 3, 30, 0, 30)


# --- within -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("within", "seconds"),
    [("30m", 1800), ("4h", 14400), ("5d", 144000), ("1d", 28800), ("90m", 5400)],
)
def test_parse_within(within: str, seconds: int) -> None:
    assert parse_within(within, OFFICE.day_seconds) == seconds


@pytest.mark.parametrize("within", ["0h", "0d", "4", "4x", "-1h", "h", "", " 4h", "4h ", "4h\n", "1.5h", "4H"])
def test_parse_within_refuses_what_is_not_a_positive_duration(within: str) -> None:
    with pytest.raises(ValueError):
        parse_within(within, OFFICE.day_seconds)


def test_parse_within_needs_a_day_that_lasts() -> None:
    with pytest.raises(ValueError):
        parse_within("1d", 0)


# --- properties ---------------------------------------------------------------------------------

CALENDARS = st.sampled_from([OFFICE, BERLIN_DAILY, NEW_YORK_DAILY, NIGHT_SHIFT])
INSTANTS = st.datetimes(
    min_value=datetime(2026, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive; instants get a zone below
    max_value=datetime(2027, 12, 31, 23, 59, 59),  # noqa: DTZ001
    timezones=st.sampled_from([UTC, BERLIN, NEW_YORK, ZoneInfo("Asia/Kolkata")]),
)
PROPERTY = settings(deadline=None, max_examples=200)


@st.composite
def business_seconds(draw: st.DrawFn, calendar: BusinessCalendar) -> float:
    most = 30 * calendar.day_seconds
    return draw(st.one_of(st.integers(0, most), st.floats(0, most, allow_nan=False)))


def is_closing_instant(calendar: BusinessCalendar, moment: datetime) -> bool:
    day = moment.astimezone(calendar.zone).date()
    return any(close == moment for _, close in calendar.windows(day - timedelta(days=1), day + timedelta(days=2)))


@PROPERTY
@given(calendar=CALENDARS, start=INSTANTS, data=st.data())
def test_between_undoes_add(calendar: BusinessCalendar, start: datetime, data: st.DataObject) -> None:
    seconds = data.draw(business_seconds(calendar))
    assert calendar.between(start, calendar.add(start, seconds)) == pytest.approx(seconds, abs=1e-6)


@PROPERTY
@given(calendar=CALENDARS, start=INSTANTS, data=st.data())
def test_add_lands_in_business_hours_or_on_a_closing_instant(
    calendar: BusinessCalendar, start: datetime, data: st.DataObject
) -> None:
    deadline = calendar.add(start, data.draw(business_seconds(calendar)))
    assert deadline.tzinfo is UTC
    assert deadline >= start
    assert calendar.is_open(deadline) or is_closing_instant(calendar, deadline)


@PROPERTY
@given(calendar=CALENDARS, start=INSTANTS, data=st.data())
def test_add_is_monotonic(calendar: BusinessCalendar, start: datetime, data: st.DataObject) -> None:
    shorter, longer = sorted((data.draw(business_seconds(calendar)), data.draw(business_seconds(calendar))))
    assert calendar.add(start, shorter) <= calendar.add(start, longer)


@PROPERTY
@given(calendar=CALENDARS, instants=st.lists(INSTANTS, min_size=3, max_size=3))
def test_between_adds_up(calendar: BusinessCalendar, instants: list[datetime]) -> None:
    a, b, c = sorted(instants)
    assert calendar.between(a, c) == pytest.approx(calendar.between(a, b) + calendar.between(b, c), abs=1e-6)


@PROPERTY
@given(calendar=CALENDARS, start=INSTANTS)
def test_next_open_is_open_and_not_before(calendar: BusinessCalendar, start: datetime) -> None:
    opening = calendar.next_open(start)
    assert opening >= start
    assert calendar.is_open(opening)
    assert calendar.add(start, 0) == opening
    assert calendar.between(start, opening) == 0


@PROPERTY
@given(calendar=CALENDARS, start=INSTANTS)
def test_is_open_agrees_with_windows(calendar: BusinessCalendar, start: datetime) -> None:
    day = start.astimezone(calendar.zone).date()
    inside = any(o <= start < c for o, c in calendar.windows(day - timedelta(days=1), day + timedelta(days=2)))
    assert calendar.is_open(start) is inside
