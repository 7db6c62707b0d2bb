"""Deals and revenue of a report window: each deal counts once per stage, at its first event of that stage.

Amounts are summed as exact decimals per currency; a deal in another currency than the goal's is reported
beside it (`other_currencies`), never converted or added to it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from pipelines.core.planning import GoalShare, exact, json_amount, rounded, share
from pipelines.store.client import Store
from services.report_sql import TS, stored_time

DEAL_STAGES = ("created", "proposal", "won", "lost")


@dataclass(frozen=True, slots=True)
class DealStep:
    """A deal's first event of one stage: when, and the amount and currency it carried."""

    deal_id: str
    stage: str
    at: datetime
    amount: Decimal
    currency: str


def deal_steps(store: Store, params: dict[str, Any]) -> list[DealStep]:
    """Return each deal's first event of each stage whose time is in the window (deduplicated by deal_id)."""
    rows = store.query(
        f"""
        SELECT deal_id, stage, amount, currency, first_at FROM (
            SELECT JSONExtractString(payload, 'data', 'deal_id') AS deal_id,
                   JSONExtractString(payload, 'data', 'stage') AS stage,
                   argMin(JSONExtractRaw(payload, 'data', 'amount'), (time, source, id)) AS amount,
                   argMin(JSONExtractString(payload, 'data', 'currency'), (time, source, id)) AS currency,
                   min(time) AS first_at
            FROM events FINAL
            WHERE type = 'crm.deal_changed'
            GROUP BY deal_id, stage)
        WHERE first_at >= {{start:{TS}}} AND first_at < {{end:{TS}}}
        ORDER BY first_at, deal_id, stage
        """,
        params,
    )
    return [DealStep(str(d), str(s), stored_time(at), parse_amount(str(a)), str(c)) for d, s, a, c, at in rows]


def parse_amount(raw: str) -> Decimal:
    """Read an amount as the event carried it: a JSON number or a JSON string holding a decimal."""
    text = raw.strip()
    value = json.loads(text) if text.startswith('"') else text
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a decimal amount: {raw!r}") from None


def won_by_currency(steps: Sequence[DealStep]) -> dict[str, tuple[Decimal, int]]:
    """Return the amount and number of deals won per currency."""
    totals: dict[str, list[Any]] = defaultdict(lambda: [Decimal(0), 0])
    for step in steps:
        if step.stage == "won":
            totals[step.currency][0] += step.amount
            totals[step.currency][1] += 1
    return {currency: (amount, count) for currency, (amount, count) in sorted(totals.items())}


def deals_section(steps: Sequence[DealStep]) -> dict[str, int]:
    """Count the deals that reached each deal stage in the window (first event of that stage)."""
    return {stage: sum(1 for s in steps if s.stage == stage) for stage in DEAL_STAGES}


def revenue_section(steps: Sequence[DealStep], shares: Sequence[GoalShare], currency: str) -> dict[str, Any]:
    """Won against the prorated goal in the goal's currency; other currencies beside it, not summed."""
    won = won_by_currency(steps)
    goals: dict[str, Fraction] = defaultdict(Fraction)
    for goal in shares:
        goals[goal.currency] += goal.revenue
    amount, deals = won.get(currency, (Decimal(0), 0))
    others = {
        other: {
            "won": json_amount(won.get(other, (Decimal(0), 0))[0]),
            "deals_won": won.get(other, (Decimal(0), 0))[1],
            "goal": json_amount(goals[other]) if other in goals else None,
        }
        for other in sorted({*won, *goals} - {currency})
    }
    return {
        "currency": currency,
        "won": json_amount(amount),
        "goal": json_amount(goals[currency]),
        "attainment": rounded(share(amount, goals[currency])),
        "deals_won": deals,
        "other_currencies": others,
    }


def won_amount(steps: Sequence[DealStep], currency: str) -> Fraction:
    """Return the exact amount won in one currency."""
    return exact(won_by_currency(steps).get(currency, (Decimal(0), 0))[0])
