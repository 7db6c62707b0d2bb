"""Business-hours calendar of an agreement (contract §3): open hours, deadlines and business time.

A business day is a local date whose weekday is one of `days` and that is not a holiday. Its window
is [opens, closes) on that date in the agreement's zone, taken as the real UTC instants those wall
times name, so a day with a DST change keeps its local hours and its window is as long as the real
time between them. Wall times that do not exist or exist twice are read with zoneinfo's fold=0 rule:
a skipped time counts with the offset before the change (02:30 on a spring-forward night is 03:30
summer time), a repeated one is its first occurrence. A day whose resolved closing instant is not
after its opening instant, or whose times resolve onto another date, has no window.

Every method takes timezone-aware datetimes (ValueError on naive ones) and returns aware UTC ones.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from schemas.agreement import Agreement

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SEARCH_DAYS = 3660  # give up looking for the next business day after about ten years
# Business time is looked up in blocks of UTC days, each holding its windows and running totals,
# so `add` and `between` bisect instead of walking day by day, and skip whole blocks by their total.
BLOCK_DAYS = 256
SEARCH_BLOCKS = SEARCH_DAYS // BLOCK_DAYS + 2
CACHED_BLOCKS = 256  # about 180 years of windows per calendar
LAST_DAY = date.max.toordinal()
NOTHING = timedelta(0)
MICROSECOND = timedelta(microseconds=1)
EDGE_SEARCH = timedelta(hours=3)  # no zone moves its clocks by more than this at once
WITHIN = re.compile(r"(\d+)([mhd])")
UNIT_SECONDS = {"m": 60, "h": 3600}

Window = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class _Block:
    """The business windows inside a range of UTC instants, clipped to it, with running totals."""

    opens: tuple[datetime, ...]
    closes: tuple[datetime, ...]
    before: tuple[timedelta, ...]  # business time of the block before each window
    through: tuple[timedelta, ...]  # ... and up to each window's end
    total: timedelta

    def elapsed(self, moment: datetime) -> timedelta:
        """Return the block's business time before `moment`."""
        i = bisect_right(self.opens, moment) - 1
        return NOTHING if i < 0 else self.before[i] + (min(moment, self.closes[i]) - self.opens[i])

    def instant(self, offset: timedelta) -> datetime:
        """Return the instant at which `offset` (0 < offset <= total) of the block's business time has passed."""
        i = bisect_left(self.through, offset)
        return self.opens[i] + (offset - self.before[i])

    def next_open(self, moment: datetime) -> datetime | None:
        """Return `moment` if open, else the block's next opening after it, else None."""
        i = bisect_right(self.closes, moment)
        return max(moment, self.opens[i]) if i < len(self.opens) else None


@dataclass(frozen=True)
class BusinessCalendar:
    """Working days and opening hours in a time zone, minus holidays and minus absences (spans of UTC instants)."""

    zone: ZoneInfo
    days: frozenset[int]
    opens: time
    closes: time
    holidays: frozenset[date] = frozenset()
    absences: tuple[Window, ...] = ()  # [from, to) spans with no business time, merged and in order
    _blocks: dict[int, _Block] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValueError("opening and closing times are wall times of the zone: give them without tzinfo")
        if self.closes <= self.opens:
            raise ValueError(f"closing time {self.closes} must be after opening time {self.opens}")
        if not self.days <= frozenset(range(7)):
            raise ValueError(f"days are weekday numbers 0 (Monday) to 6 (Sunday), got {sorted(self.days)}")
        object.__setattr__(self, "absences", merged(self.absences))

    @classmethod
    def from_agreement(cls, agreement: Agreement) -> BusinessCalendar:
        """Build the calendar of an agreement's time zone, business hours and holidays."""
        hours = agreement.business_hours
        return cls(
            zone=ZoneInfo(agreement.timezone),
            days=frozenset(WEEKDAYS.index(day) for day in hours.days),
            opens=hours.start,
            closes=hours.end,
            holidays=frozenset(agreement.holidays),
        )

    @property
    def day_seconds(self) -> int:
        """Nominal business seconds of a day, closes - opens (the length of a `Nd` day)."""
        return int(_clock_seconds(self.closes) - _clock_seconds(self.opens))

    def is_open(self, instant: datetime) -> bool:
        """Say whether an instant falls in [open, close) of a business day."""
        moment = _utc(instant)
        return self._block(_block_number(moment)).next_open(moment) == moment

    def next_open(self, instant: datetime) -> datetime:
        """Return the instant itself (in UTC) if open, else the next opening."""
        moment = _utc(instant)
        number = _block_number(moment)
        opening = self._block(number).next_open(moment)
        return opening if opening is not None else self._open_block(number + 1)[1].opens[0]

    def add(self, instant: datetime, seconds: int | float) -> datetime:
        """Return the instant `seconds` of business time after `instant` (counted from the next opening).

        When the business time runs out exactly at a closing instant, that closing instant is the
        result (a deadline of 4h from 13:00 is 17:00 the same day, not 09:00 the next), so the result
        is always open or a closing instant. `add(t, 0)` is `next_open(t)`.
        """
        moment, remaining = _utc(instant), _duration(seconds)
        if not remaining:
            return self.next_open(moment)
        number = _block_number(moment)
        block = self._block(number)
        offset = block.elapsed(moment) + remaining
        while offset > block.total:
            offset -= block.total
            number, block = self._open_block(number + 1)
        return block.instant(offset)

    def between(self, start: datetime, end: datetime) -> float:
        """Return the business seconds in [start, end); 0 if end <= start."""
        first, last = _utc(start), _utc(end)
        if last <= first:
            return 0.0
        head, tail = _block_number(first), _block_number(last)
        whole = sum((self._block(number).total for number in range(head, tail)), NOTHING)
        return (whole + self._block(tail).elapsed(last) - self._block(head).elapsed(first)).total_seconds()

    def windows(self, start_day: date, end_day: date) -> Iterator[Window]:
        """Yield each business day's [open, close) as UTC instants, for local days in [start_day, end_day)."""
        for ordinal in range(start_day.toordinal(), end_day.toordinal()):
            window = self._window(date.fromordinal(ordinal))
            if window is not None:
                yield window

    def _window(self, day: date) -> Window | None:
        """Return a local day's [open, close) as UTC instants, or None if it is no business day."""
        if day.weekday() not in self.days or day in self.holidays:
            return None
        opening, closing = _resolve(day, self.opens, self.zone), _resolve(day, self.closes, self.zone)
        if opening is None or closing is None or closing <= opening:
            return None
        return opening, closing

    def _block(self, number: int) -> _Block:
        """Return (and keep) the block of UTC days [number * BLOCK_DAYS, (number + 1) * BLOCK_DAYS)."""
        block = self._blocks.get(number)
        if block is None:
            if len(self._blocks) >= CACHED_BLOCKS:
                self._blocks.clear()
            block = self._blocks[number] = _build_block(self, number)
        return block

    def _open_block(self, number: int) -> tuple[int, _Block]:
        """Return the first block from `number` on that holds business time."""
        for later in range(number, number + SEARCH_BLOCKS):
            block = self._block(later)
            if block.total:
                return later, block
        raise NoBusinessTime("calendar has no business days")


class NoBusinessTime(ValueError):
    """A calendar with no business time in the next ten years (its days, holidays and absences leave none)."""


def parse_within(within: str, day_seconds: int) -> int:
    """Return the business seconds of a `within` duration: Nm, Nh, or N days of `day_seconds`."""
    match = WITHIN.fullmatch(within)
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"expected a positive business duration like 30m, 4h or 5d, got {within!r}")
    if day_seconds <= 0:
        raise ValueError(f"a business day must last a positive number of seconds, got {day_seconds}")
    amount, unit = int(match.group(1)), match.group(2)
    return amount * UNIT_SECONDS.get(unit, day_seconds)


def _build_block(calendar: BusinessCalendar, number: int) -> _Block:
    """Collect the windows that overlap a block's UTC days, clipped to them, with running totals."""
    first, last = max(number * BLOCK_DAYS, 1), min((number + 1) * BLOCK_DAYS, LAST_DAY)
    low, high = _midnight(first), _midnight(last)
    # A window lies within its local day, which is at most a day away from the UTC day; keep a margin.
    windows = calendar.windows(date.fromordinal(max(first - 2, 1)), date.fromordinal(min(last + 2, LAST_DAY)))
    clipped = [(max(o, low), min(c, high)) for o, c in windows if o < high and c > low]
    if calendar.absences:
        clipped = list(without(clipped, calendar.absences))
    lengths = [c - o for o, c in clipped]
    through = tuple(_running_sum(lengths))
    return _Block(
        opens=tuple(o for o, _ in clipped),
        closes=tuple(c for _, c in clipped),
        before=tuple(t - n for t, n in zip(through, lengths, strict=True)),
        through=through,
        total=through[-1] if through else NOTHING,
    )


def merged(spans: Iterable[Window]) -> tuple[Window, ...]:
    """Return spans of aware instants in UTC, in order, overlapping and touching ones joined; empty ones dropped."""
    result: list[Window] = []
    for start, end in sorted((_utc(a), _utc(b)) for a, b in spans):
        if end <= start:
            continue
        if result and start <= result[-1][1]:
            result[-1] = (result[-1][0], max(result[-1][1], end))
        else:
            result.append((start, end))
    return tuple(result)


def without(windows: Iterable[Window], absences: Sequence[Window]) -> Iterator[Window]:
    """Yield the parts of ordered, disjoint windows outside merged absences (both [start, end) in UTC)."""
    starts = [start for start, _ in absences]
    for opening, closing in windows:
        cursor = opening
        i = max(bisect_right(starts, opening) - 1, 0)
        while i < len(absences) and absences[i][0] < closing:
            away_from, away_to = absences[i]
            if away_to > cursor:
                if away_from > cursor:
                    yield cursor, away_from
                cursor = max(cursor, away_to)
            i += 1
        if cursor < closing:
            yield cursor, closing


def _running_sum(lengths: list[timedelta]) -> Iterator[timedelta]:
    total = NOTHING
    for length in lengths:
        total += length
        yield total


def _block_number(moment: datetime) -> int:
    """Return the number of the block holding a UTC instant."""
    return moment.toordinal() // BLOCK_DAYS


def _midnight(ordinal: int) -> datetime:
    """Return UTC midnight of a day ordinal."""
    return datetime.combine(date.fromordinal(ordinal), time(0), UTC)


def first_instant_of(day: date, zone: tzinfo) -> datetime:
    """Return the first instant whose local date is `day`: local midnight, or where a DST jump over it lands."""
    try:
        guess = datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
        low, high = guess - EDGE_SEARCH, guess + EDGE_SEARCH
    except OverflowError:  # the first or last days of the calendar: nothing lies beyond them
        return datetime.min.replace(tzinfo=UTC) if day.year == 1 else datetime.max.replace(tzinfo=UTC)
    while high - low > MICROSECOND:
        middle = low + (high - low) / 2
        if middle.astimezone(zone).date() >= day:
            high = middle
        else:
            low = middle
    return high


def _resolve(day: date, wall: time, zone: ZoneInfo) -> datetime | None:
    """Return the UTC instant of a wall time on a day (fold=0), or None if it lands on another date."""
    try:
        moment = datetime.combine(day, wall.replace(fold=0), zone).astimezone(UTC)
    except OverflowError:  # at the ends of the datetime range
        return None
    return moment if moment.astimezone(zone).date() == day else None


def _utc(instant: datetime) -> datetime:
    """Return an aware instant in UTC; ValueError for a naive one."""
    if instant.tzinfo is UTC:
        return instant
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got naive {instant!r}")
    return instant.astimezone(UTC)


def _duration(seconds: int | float) -> timedelta:
    """Return a non-negative, finite amount of seconds as a timedelta."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"business time must be a finite, non-negative number of seconds, got {seconds!r}")
    return timedelta(0, seconds)


def _clock_seconds(wall: time) -> float:
    """Return the seconds since midnight of a wall time."""
    return wall.hour * 3600 + wall.minute * 60 + wall.second + wall.microsecond / 1_000_000
