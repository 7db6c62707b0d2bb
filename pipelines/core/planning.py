"""Goal planning (contract §3 and §4): the revenue goal worked backwards, prorated, paced and revised.

Everything is exact: money and rates are read as the decimals they are written as (a rate of 0.1 is 1/10,
not the float nearest to it) and carried as fractions, so `ceil` at every step never rounds up a figure
that is whole on paper. Rounding happens once, when a figure is given out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

from pipelines.core.lifecycle import FUNNEL
from schemas.agreement import Agreement, Goals

PLAN_KEYS: tuple[str, ...] = ("visits", "lead", "mql", "sql", "opportunity", "customer")
# The agreement's target rates, each as (rate, from count, to count), in funnel order.
RATE_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("visit_to_lead", "visits", "lead"),
    ("lead_to_mql", "lead", "mql"),
    ("mql_to_sql", "mql", "sql"),
    ("sql_to_opportunity", "sql", "opportunity"),
    ("opportunity_to_customer", "opportunity", "customer"),
)
RATE_NAMES: tuple[str, ...] = tuple(name for name, _, _ in RATE_PAIRS)
RATIO_DIGITS = 6
QUANTITY_DIGITS = 3
PROPOSED_RATE_DIGITS = 4
CENT = Decimal("0.01")

Number = Fraction | Decimal | float | int | str


def exact(value: Number) -> Fraction:
    """Return a number as an exact fraction; a float counts as the shortest decimal that prints it (0.1 is 1/10)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value!r}")
        return Fraction(repr(value))
    return Fraction(value)


def money(value: Number) -> str:
    """Return an amount as a string with two decimal places, rounded half up (1234.5 -> '1234.50')."""
    amount = exact(value)
    with localcontext() as context:
        context.prec = 60
        quotient = Decimal(amount.numerator) / Decimal(amount.denominator)
        return str(quotient.quantize(CENT, rounding=ROUND_HALF_UP))


def json_amount(value: Number) -> float:
    """Return an amount as a JSON number: the nearest float to its exact value (no rounding to cents)."""
    return float(exact(value))


def rounded(value: Number | None, digits: int = RATIO_DIGITS) -> float | None:
    """Return a number as a float rounded to `digits` places (None stays None)."""
    return None if value is None else round(float(exact(value)), digits)


def share(numerator: Number, divisor: Number) -> Fraction | None:
    """Return numerator / divisor exactly, or None when the divisor is 0."""
    below = exact(divisor)
    return None if below == 0 else exact(numerator) / below


def cumulative_conversion(counts: Mapping[str, int]) -> dict[str, float | None]:
    """Each funnel stage's entries over the visits: `visit_to_<stage>`, rounded to 6 places, None without visits."""
    return {f"visit_to_{stage}": rounded(share(counts[stage], counts["visits"])) for stage in FUNNEL}


# -- the goal worked backwards ----------------------------------------------------------------------


def work_backwards(revenue: Number, average_deal_size: Number, rates: Mapping[str, Number]) -> dict[str, int]:
    """Return the customers, opportunities, SQLs, MQLs, leads and visits a revenue goal needs, ceil at every step."""
    need = {"customer": math.ceil(exact(revenue) / exact(average_deal_size))}
    for name, earlier, later in reversed(RATE_PAIRS):
        need[earlier] = math.ceil(need[later] / exact(rates[name]))
    return {key: need[key] for key in PLAN_KEYS}


def goals_plan(goals: Goals, revenue: Number, rates: Mapping[str, Number] | None = None) -> dict[str, int]:
    """Work a revenue goal backwards with an agreement's deal size and its rates (or other rates given)."""
    chosen = rates if rates is not None else goals.rates.model_dump()
    return work_backwards(revenue, goals.average_deal_size, chosen)


def add_plans(plans: Sequence[Mapping[str, int]]) -> dict[str, int]:
    """Add plans key by key (the plan of a window that spans agreements)."""
    return {key: sum(plan[key] for plan in plans) for key in PLAN_KEYS}


# -- proration --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GoalShare:
    """The part of one agreement's goal that falls in a window: its shared days, prorated revenue and plan."""

    agreement: Agreement
    first_day: date
    end_day: date  # exclusive
    shared_days: int
    period_days: int
    revenue: Fraction

    @property
    def currency(self) -> str:
        """Return the currency of the goal."""
        return self.agreement.goals.currency

    @property
    def plan(self) -> dict[str, int]:
        """Return this share of the goal worked backwards with its agreement's own figures."""
        return goals_plan(self.agreement.goals, self.revenue)


def goal_shares(agreements: Sequence[Agreement], start: date, end: date) -> list[GoalShare]:
    """Return each agreement's revenue goal prorated by the days its period shares with [start, end)."""
    shares = []
    for agreement in sorted(agreements, key=lambda a: a.effective_from):
        first, last = max(start, agreement.effective_from), min(end, agreement.effective_to)
        if first >= last:
            continue
        shared = (last - first).days
        period = (agreement.effective_to - agreement.effective_from).days
        revenue = exact(agreement.goals.revenue) * Fraction(shared, period)
        shares.append(GoalShare(agreement, first, last, shared, period, revenue))
    return shares


# -- pacing -----------------------------------------------------------------------------------------


def _micro(span: timedelta) -> int:
    return span // timedelta(microseconds=1)


def business_days_elapsed(windows: Sequence[tuple[datetime, datetime]], as_of: datetime) -> Fraction:
    """Return the business days of `windows` ([open, close) per day) elapsed by `as_of`, the current one in part."""
    elapsed = Fraction(0)
    for opens, closes in windows:
        if as_of >= closes:
            elapsed += 1
        elif as_of > opens:
            elapsed += Fraction(_micro(as_of - opens), _micro(closes - opens))
    return elapsed


def elapsed_share(
    windows: Sequence[tuple[datetime, datetime]], lower: datetime, upper: datetime, as_of: datetime
) -> Fraction:
    """Return the share of [lower, upper) elapsed by `as_of`: in business days, in plain time when it has none."""
    if windows:
        return business_days_elapsed(windows, as_of) / len(windows)
    if as_of <= lower:
        return Fraction(0)
    return Fraction(1) if as_of >= upper else Fraction(_micro(as_of - lower), _micro(upper - lower))


@dataclass(frozen=True, slots=True)
class Pace:
    """A figure to date against its goal: `expected` is the goal prorated by the business time elapsed."""

    actual: Fraction
    goal: Fraction
    expected: Fraction
    elapsed: Fraction  # share of the window's business time elapsed

    @property
    def pace(self) -> Fraction | None:
        """Return actual over expected (1 is on pace), None before anything is expected."""
        return share(self.actual, self.expected)

    @property
    def projected(self) -> Fraction | None:
        """Return the actual run rate carried to the end of the window, None before any business time passed."""
        return share(self.actual, self.elapsed)


def pace(actual: Number, parts: Sequence[tuple[Number, Fraction]], elapsed: Fraction) -> Pace:
    """Pace a figure against goal parts, each (goal, share of its business time elapsed), e.g. one per agreement.

    `elapsed` is the share of the whole window's business time elapsed, for the projection.
    """
    goal = sum((exact(g) for g, _ in parts), Fraction(0))
    expected = sum((exact(g) * part_elapsed for g, part_elapsed in parts), Fraction(0))
    return Pace(exact(actual), goal, expected, elapsed)


# -- rates for the next agreement -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cohort:
    """Entries to a stage in one month and how many of them went on to the next stage by `as_of`."""

    month: str
    entered: int
    went_on: int
    mature: bool  # the month ended long enough before as_of for its entries to have had their chance


def is_mature(month_end: datetime, as_of: datetime, maturity: timedelta) -> bool:
    """Say whether a cohort whose month ended at `month_end` has had `maturity` to convert by `as_of`."""
    return month_end + maturity <= as_of


@dataclass(frozen=True, slots=True)
class ProposedRate:
    """A rate for the next agreement from the mature cohorts, or the current one kept, and why."""

    current: float
    observed: Fraction | None
    proposed: float
    entered: int
    went_on: int
    basis: str


def propose_rate(current: float, cohorts: Sequence[Cohort], min_sample: int) -> ProposedRate:
    """Pool the mature cohorts into an observed rate; propose it rounded to 4 places if the sample allows."""
    mature = [c for c in cohorts if c.mature]
    entered, went_on = sum(c.entered for c in mature), sum(c.went_on for c in mature)
    observed = share(went_on, entered)
    if not mature or entered == 0:
        return ProposedRate(current, observed, current, entered, went_on, "kept: no mature cohort")
    if entered < min_sample:
        return ProposedRate(current, observed, current, entered, went_on, f"kept: sample below {min_sample}")
    if went_on == 0:
        return ProposedRate(current, observed, current, entered, went_on, "kept: none went on (rate 0 cannot plan)")
    step = Fraction(1, 10**PROPOSED_RATE_DIGITS)
    value = min(Fraction(1), max(step, exact(round(float(observed or 0), PROPOSED_RATE_DIGITS))))
    return ProposedRate(current, observed, float(value), entered, went_on, "observed")


# -- months -----------------------------------------------------------------------------------------


def month_bounds(month: str) -> tuple[date, date]:
    """Return [first day, first day of the next month) of a `YYYY-MM` month."""
    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError:
        raise ValueError(f"expected a month as YYYY-MM, got {month!r}") from None
    return first, add_months(first, 1)


def add_months(first: date, months: int) -> date:
    """Return the first day of the month `months` after (or before) the month of `first`."""
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def months_back(first: date, count: int) -> list[date]:
    """Return the first days of the `count` months ending with the month of `first`, oldest first."""
    return [add_months(first.replace(day=1), -back) for back in range(count - 1, -1, -1)]
