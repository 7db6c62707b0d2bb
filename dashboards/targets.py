"""What the boards take from the agreements: target rates, the time zone, and the goal worked backwards."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from pipelines.core.planning import PLAN_KEYS, RATE_PAIRS
from schemas.agreement import Agreement

__all__ = ["CUMULATIVE", "NEXT_STEP", "PLAN_KEYS", "Targets", "plan_sql", "reference", "targets"]

EPOCH = date(1970, 1, 1)
# (plan key, agreement rate it divides by, the plan key before it), customers first: the core's rate pairs
# (planning.RATE_PAIRS, which `work_backwards` walks) read backwards, so the SQL plan takes the same steps.
BACKWARDS: tuple[tuple[str, str, str], ...] = tuple(
    (later, name, earlier) for name, earlier, later in reversed(RATE_PAIRS)
)
# Share of judged clocks to meet in time. The agreement file has no field for it (contract §3), so it
# lives here and in deploy/prometheus/rules/leadflow.yml (LeadflowSlaComplianceLow); a test keeps them equal.
COMPLIANCE_TARGET = 0.9
NEXT_STEP: tuple[tuple[str, str, str], ...] = (
    ("visit_to_lead", "visits", "lead"),
    ("lead_to_mql", "lead", "mql"),
    ("mql_to_sal", "mql", "sal"),
    ("sal_to_sql", "sal", "sql"),
    ("mql_to_sql", "mql", "sql"),
    ("sql_to_opportunity", "sql", "opportunity"),
    ("opportunity_to_customer", "opportunity", "customer"),
)
# (cumulative ratio, stage counted over visits, the agreement rate that takes the step to that stage)
CUMULATIVE: tuple[tuple[str, str, str], ...] = (
    ("visit_to_lead", "lead", "visit_to_lead"),
    ("visit_to_mql", "mql", "lead_to_mql"),
    ("visit_to_sal", "sal", ""),
    ("visit_to_sql", "sql", "mql_to_sql"),
    ("visit_to_opportunity", "opportunity", "sql_to_opportunity"),
    ("visit_to_customer", "customer", "opportunity_to_customer"),
)


@dataclass(frozen=True)
class Targets:
    """The reference agreement's numbers that colour the boards."""

    agreement: str
    timezone: str
    currency: str
    next_step: dict[str, float]
    cumulative: dict[str, float]


def reference(agreements: Sequence[Agreement]) -> Agreement:
    """Return the agreement whose targets the boards show: the one that starts last."""
    if not agreements:
        raise ValueError("the boards need at least one agreement (LEADFLOW_AGREEMENTS)")
    return max(agreements, key=lambda a: a.effective_from)


def targets(agreements: Sequence[Agreement]) -> Targets:
    """Return the next-step and cumulative target rates of the reference agreement."""
    agreement = reference(agreements)
    rates = agreement.goals.rates.model_dump()
    cumulative: dict[str, float] = {}
    running = 1.0
    for name, _, rate in CUMULATIVE:
        if rate:  # the agreement sets no rate into sal: no target there
            running *= rates[rate]
            cumulative[name] = round(running, 9)
    next_step = {k: float(v) for k, v in rates.items()}
    return Targets(agreement.name, agreement.timezone, agreement.goals.currency, next_step, cumulative)


def _decimal(value: Decimal | float) -> str:
    return f"toDecimal128('{Decimal(str(value))}', 9)"


def _wall_ms(instant: str, zone: str) -> str:
    """Milliseconds of local wall-clock time since 1970 in `zone`: whole local days differ by 86,400,000."""
    return f"toUnixTimestamp64Milli(toDateTime64(toString({instant}, '{zone}'), 3, 'UTC'))"


def _agreement_plan_sql(agreement: Agreement, currency: str) -> str:
    """One row: the agreement's revenue prorated by the local days it shares with the range, worked backwards."""
    start = (agreement.effective_from - EPOCH).days * 86_400_000
    end = (agreement.effective_to - EPOCH).days * 86_400_000
    lower, upper = _wall_ms("$__fromTime_ms", agreement.timezone), _wall_ms("$__toTime_ms", agreement.timezone)
    rates = agreement.goals.rates.model_dump()
    steps = [f"ceil(revenue / {_decimal(agreement.goals.average_deal_size)}) AS customer"]
    steps += [f"ceil({stage} / {_decimal(rates[rate])}) AS {previous}" for stage, rate, previous in BACKWARDS]
    overlap = f"greatest(0, least({upper}, {end}) - greatest({lower}, {start}))"
    prorated = f"{_decimal(agreement.goals.revenue)} * toDecimal128({overlap}, 0) / {end - start}"
    counted = "1" if agreement.goals.currency == currency else "0"  # a goal in another currency is not added
    return f"SELECT {prorated} AS revenue, revenue * {counted} AS revenue_in_currency, " + ", ".join(steps)


def plan_sql(agreements: Sequence[Agreement], currency: str) -> str:
    """Return SQL of one row (revenue, visits, lead, mql, sql, opportunity, customer): the range's plan."""
    parts = "\n    UNION ALL\n    ".join(_agreement_plan_sql(a, currency) for a in agreements)
    sums = ", ".join(f"toInt64(sum({k})) AS {k}" for k in PLAN_KEYS)
    return f"SELECT toFloat64(sum(revenue_in_currency)) AS revenue, {sums}\nFROM (\n    {parts}\n)"
