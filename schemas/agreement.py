"""Pydantic model of the sales-marketing agreement file (contract §3)."""

from __future__ import annotations

import re
from datetime import date, time
from decimal import Decimal
from itertools import pairwise
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.events import FUNNEL, Stage

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Rate = Annotated[float, Field(gt=0, le=1)]
DURATION = re.compile(r"^(\d+)([mhd])$")


def known_zone(value: str) -> str:
    """Return an IANA time zone name, or raise ValueError naming it."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


class Strict(BaseModel):
    """A model of a configuration file: unknown fields are refused, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class BusinessHours(Strict):
    """Working days and opening hours, in the agreement's time zone."""

    days: Annotated[tuple[Weekday, ...], Field(min_length=1)]
    start: time
    end: time

    @model_validator(mode="after")
    def _opens_before_closing(self) -> BusinessHours:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if len(set(self.days)) != len(self.days):
            raise ValueError("days must not repeat")
        return self


class Rates(Strict):
    """Target next-step conversion rates."""

    visit_to_lead: Rate
    lead_to_mql: Rate
    mql_to_sql: Rate
    sql_to_opportunity: Rate
    opportunity_to_customer: Rate


# Calendar days, to the thousandth (about 86 seconds): a median time is not known any closer than that.
LagDays = Annotated[Decimal, Field(ge=0, le=3650, decimal_places=3)]


class Lags(Strict):
    """Median calendar days from entering each rate's first stage to entering its second (the plan by month)."""

    visit_to_lead: LagDays
    lead_to_mql: LagDays
    mql_to_sql: LagDays
    sql_to_opportunity: LagDays
    opportunity_to_customer: LagDays


class Goals(Strict):
    """The revenue goal of the agreement period, the rates it is worked backwards with and, optionally, the lags."""

    revenue: Annotated[Decimal, Field(gt=0)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    average_deal_size: Annotated[Decimal, Field(gt=0)]
    rates: Rates
    lags: Lags | None = None


Days = Annotated[int, Field(ge=1, le=3650)]
MATURITY_DAYS = 30  # the default: a month, as `leadflow plan --from-actuals --maturity-days`


class ConversionWindows(Strict):
    """Days after entering a pair's first stage within which a member may still go on (younger: immature)."""

    visit_to_lead: Days = MATURITY_DAYS
    lead_to_mql: Days = MATURITY_DAYS
    mql_to_sal: Days = MATURITY_DAYS
    sal_to_sql: Days = MATURITY_DAYS
    sql_to_opportunity: Days = MATURITY_DAYS
    opportunity_to_customer: Days = MATURITY_DAYS


class StartsOn(Strict):
    """The funnel stage whose entry starts a handoff clock (side stages are moved to, never entered)."""

    stage: Stage

    @field_validator("stage")
    @classmethod
    def _funnel_stage(cls, value: Stage) -> Stage:
        if value not in FUNNEL:
            raise ValueError(f"must be a funnel stage ({', '.join(FUNNEL)}): clocks start when a stage is entered")
        return value


class StopsOn(Strict):
    """What stops a handoff clock: a human activity and/or entering one of the stages."""

    human_activity: bool = False
    stages: tuple[Stage, ...] = ()

    @model_validator(mode="after")
    def _something_stops(self) -> StopsOn:
        if not self.human_activity and not self.stages:
            raise ValueError("needs human_activity: true or at least one stage")
        return self


def business_duration(value: str) -> str:
    """Return a positive business duration like 30m, 4h or 5d, or raise ValueError."""
    match = DURATION.fullmatch(value)
    if not match or int(match.group(1)) == 0:
        raise ValueError("expected a positive business duration like 30m, 4h or 5d")
    return value


Duration = Annotated[str, AfterValidator(business_duration)]


class EscalationStep(Strict):
    """One rung of a handoff's escalation ladder: `after` business time past the deadline, escalate `to`."""

    after: Duration
    to: Literal["manager", "reassign"]


def _ladder(steps: tuple[EscalationStep, ...]) -> tuple[EscalationStep, ...]:
    """Check that a ladder's steps come later one after the other and that each kind of step appears once."""
    targets = [s.to for s in steps]
    if len(set(targets)) != len(targets):
        raise ValueError("each `to` may appear once")
    units = {s.after[-1] == "d" for s in steps}
    if len(units) > 1:  # a business day's length depends on the calendar a clock counts with
        raise ValueError("use days for every step, or hours and minutes for every step, not both")
    amounts = [int(s.after[:-1]) * (60 if s.after.endswith("h") else 1) for s in steps]
    if any(later <= earlier for earlier, later in pairwise(amounts)):
        raise ValueError("after must increase from one step to the next")
    return steps


class Handoff(Strict):
    """A handoff promise: a clock from `starts_on` to `stops_on`, due `within` business time."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    starts_on: StartsOn
    stops_on: StopsOn
    within: Duration
    warn_at: Annotated[float, Field(gt=0, lt=1)] | None = None
    # whose business time the clock counts: the agreement's hours, or those of the lead's owner when it starts
    clock: Literal["agreement", "owner"] = "agreement"
    escalate: Annotated[tuple[EscalationStep, ...], AfterValidator(_ladder)] = ()


class ConversionAlerts(Strict):
    """When a rate's drop below its target is confident enough to alert (contract §3).

    The cohort is the mature entries to a rate's first stage: those of the `window_days` that ended the rate's
    conversion window ago. An alert needs at least `min_sample` of them, and the upper 95 % Wilson bound of their
    rate below the target.
    """

    window_days: Annotated[int, Field(ge=1, le=366)] = 90
    min_sample: Annotated[int, Field(ge=1)] = 30


class Agreement(Strict):
    """One agreement, in force for [effective_from, effective_to) in its time zone."""

    name: Annotated[str, Field(min_length=1)]
    effective_from: date
    effective_to: date
    timezone: str
    business_hours: BusinessHours
    holidays: tuple[date, ...] = ()
    goals: Goals
    handoffs: tuple[Handoff, ...] = ()
    conversion_windows: ConversionWindows = ConversionWindows()
    conversion_alerts: ConversionAlerts = ConversionAlerts()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)

    @model_validator(mode="after")
    def _consistent(self) -> Agreement:
        if self.effective_to <= self.effective_from:
            raise ValueError("effective_to must be after effective_from")
        names = [h.name for h in self.handoffs]
        if len(set(names)) != len(names):
            raise ValueError("handoff names must be unique")
        return self

    @property
    def zone(self) -> ZoneInfo:
        """Return the agreement's time zone."""
        return ZoneInfo(self.timezone)

    def in_force_on(self, day: date) -> bool:
        """Say whether the agreement is in force on a (local) day."""
        return self.effective_from <= day < self.effective_to
