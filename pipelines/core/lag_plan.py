"""The plan by month (docs/reports.md): when each stage's entries are needed for the customers to land in time.

The calendar is an axis of days: a local date is one unit, and an instant is its date plus the share of that
day gone by (a day of 23 or 25 hours is still one unit, as the plan's proration counts days). A goal share's
customers land evenly over its days, as the plan prorates them; a stage's entries are needed evenly over the
same days moved earlier by the lags between it and customer (the median stage-to-stage times). Everything is
exact; rounding happens once, as the running need rounded up (`Need.whole`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from pipelines.core.funnel import window_bounds
from pipelines.core.planning import PLAN_KEYS, RATE_PAIRS, Number, add_months, exact

DAY_SECONDS = 86400


def lead_times(lags: Mapping[str, Fraction]) -> dict[str, Fraction]:
    """Return per plan key how many days before its customer an entry is needed: the lags after it, added."""
    ahead = {"customer": Fraction(0)}
    for name, earlier, later in reversed(RATE_PAIRS):
        ahead[earlier] = ahead[later] + lags[name]
    return {key: ahead[key] for key in PLAN_KEYS}


def day_position(instant: datetime, zone: ZoneInfo) -> Fraction:
    """Return an instant on the day axis: its local date's ordinal plus the share of that local day gone by."""
    day = instant.astimezone(zone).date()
    opens, closes = window_bounds(day, day + timedelta(days=1), zone)
    micro = timedelta(microseconds=1)
    return Fraction(day.toordinal()) + Fraction((instant - opens) // micro, (closes - opens) // micro)


def day_start(day: date) -> Fraction:
    """Return the start of a local date on the day axis."""
    return Fraction(day.toordinal())


@dataclass(frozen=True, slots=True)
class Need:
    """`total` entries of one stage needed evenly over [first, end) of the day axis."""

    total: int
    first: Fraction
    end: Fraction

    def by(self, moment: Fraction) -> Fraction:
        """Return the entries needed before `moment`, exactly."""
        if moment <= self.first:
            return Fraction(0)
        if moment >= self.end:
            return Fraction(self.total)
        return self.total * (moment - self.first) / (self.end - self.first)

    def between(self, lower: Fraction, upper: Fraction) -> Fraction:
        """Return the entries needed in [lower, upper), exactly."""
        return self.by(upper) - self.by(lower)

    def whole(self, lower: Fraction, upper: Fraction) -> int:
        """Return the whole entries needed in [lower, upper): how much the running need, rounded up, grows in it."""
        return math.ceil(self.by(upper)) - math.ceil(self.by(lower))


def stage_needs(
    plan: Mapping[str, int], first_day: date, end_day: date, lags: Mapping[str, Fraction]
) -> dict[str, Need]:
    """Return per plan key the need of a share whose customers land evenly over [first_day, end_day)."""
    ahead = lead_times(lags)
    first, end = day_start(first_day), day_start(end_day)
    return {key: Need(plan[key], first - ahead[key], end - ahead[key]) for key in PLAN_KEYS}


def months_spanned(needs: Iterable[Need]) -> list[date]:
    """Return the first days of the months from the earliest need to the latest, oldest first."""
    spans = [n for n in needs if n.end > n.first]
    first = date.fromordinal(math.floor(min(n.first for n in spans))).replace(day=1)
    last = date.fromordinal(math.ceil(max(n.end for n in spans)) - 1).replace(day=1)
    months = [first]
    while months[-1] < last:
        months.append(add_months(months[-1], 1))
    return months


def monthly_needs(shares: Sequence[Mapping[str, Need]], months: Sequence[date]) -> list[dict[str, int]]:
    """Return per month the whole entries each plan key needs, each share rounded on its own and the shares added."""
    rows = []
    for month in months:
        lower, upper = day_start(month), day_start(add_months(month, 1))
        rows.append({key: sum(share[key].whole(lower, upper) for share in shares) for key in PLAN_KEYS})
    return rows


def lags_from_days(days: Mapping[str, Number]) -> dict[str, Fraction]:
    """Return lags given in days (decimals as written, or exact fractions) as exact fractions per rate."""
    return {name: exact(days[name]) for name, _, _ in RATE_PAIRS}
