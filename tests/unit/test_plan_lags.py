"""Lags of the plan by month: observed medians against a brute force over random histories; which source wins."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given

from pipelines.core.planning import RATE_NAMES, RATE_PAIRS
from pipelines.store.client import ClickHouseStore
from schemas.agreement import Agreement, Lags
from services.errors import UsageError
from services.plan_lags import Observed, maturity_days, observed_lags, resolve_lags
from tests.unit.funnel_histories import PROPERTY, Lead, cases, fill, line, milliseconds, open_store

MONTHS = 3
AGREEMENT = Agreement.model_validate(
    {
        "name": "test",
        "effective_from": date(2026, 7, 1),
        "effective_to": date(2027, 1, 1),
        "timezone": "UTC",
        "business_hours": {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"},
        "goals": {
            "revenue": 1_000_000,
            "currency": "EUR",
            "average_deal_size": 10_000,
            "rates": dict.fromkeys(RATE_NAMES, 0.5),
        },
        "conversion_windows": {"visit_to_lead": 3, "lead_to_mql": 5, "mql_to_sal": 2, "sal_to_sql": 4,
                               "sql_to_opportunity": 10, "opportunity_to_customer": 20},
    }
)  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseStore]:
    """One embedded store for the module; each example replaces its leads."""
    opened = open_store(tmp_path_factory.mktemp("lags") / "store")
    yield opened
    opened.close()


def _start(lead: Lead, times: dict[str, datetime], stage: str) -> datetime | None:
    if stage != "visits":
        return times.get(stage)
    return min(t for t, _, _ in lead.touches) if lead.touches else None


def brute_lags(history: tuple[Lead, ...], as_of: datetime) -> dict[str, dict[str, Any]]:
    """Per rate: members entered from the trailing months' start to as_of less the window, gone on by as_of."""
    first = as_of.year * 12 + as_of.month - 1 - (MONTHS - 1)  # months since year 0, across a new year too
    lower = datetime(first // 12, first % 12 + 1, 1, tzinfo=UTC)
    windows = {"visit_to_lead": 3, "lead_to_mql": 5, "mql_to_sql": 6, "sql_to_opportunity": 10,
               "opportunity_to_customer": 20}  # fmt: skip
    times: dict[str, list[int]] = defaultdict(list)
    for lead in history:
        for episode in lead.episodes:
            entered = dict(episode)
            for name, a, b in RATE_PAIRS:
                start, went_on = _start(lead, entered, a), entered.get(b)
                mature = as_of - timedelta(days=windows[name])
                if start is not None and went_on is not None and lower <= start <= mature and went_on <= as_of:
                    times[name].append(milliseconds(went_on, start))
    return {name: line(times[name]) for name in RATE_NAMES}


@PROPERTY
@given(cases)
def test_observed_lags_are_the_medians_of_the_trailing_mature_cohorts(
    store: ClickHouseStore, case: tuple[Any, datetime]
) -> None:
    history, as_of = case
    fill(store, history)
    expected = brute_lags(history, as_of)
    observed = observed_lags(store, AGREEMENT, as_of, MONTHS)
    assert observed == {name: Observed(e["n"], e["p50_seconds"]) for name, e in expected.items()}


def test_mql_to_sql_matures_over_both_of_its_steps() -> None:
    assert maturity_days(AGREEMENT) == {"visit_to_lead": 3, "lead_to_mql": 5, "mql_to_sql": 6,
                                        "sql_to_opportunity": 10, "opportunity_to_customer": 20}  # fmt: skip


OWN = Lags.model_validate(dict.fromkeys(RATE_NAMES, "2.5"))


def test_observed_lags_win_where_seen_else_the_agreements_else_none() -> None:
    seen = {name: Observed(0, None) for name in RATE_NAMES} | {
        "lead_to_mql": Observed(4, 129_600.0),  # 1.5 days
        "visit_to_lead": Observed(2, -60.0),  # a visit tied after the lead entered: never less than 0
    }
    with_own = AGREEMENT.model_copy(update={"goals": AGREEMENT.goals.model_copy(update={"lags": OWN})})
    lags = resolve_lags(with_own, seen)
    assert (lags["lead_to_mql"].days, lags["lead_to_mql"].source) == (Fraction(3, 2), "actuals")
    assert (lags["visit_to_lead"].days, lags["visit_to_lead"].source) == (0, "actuals")
    assert (lags["mql_to_sql"].days, lags["mql_to_sql"].source) == (Fraction(5, 2), "agreement")
    bare = resolve_lags(AGREEMENT, seen)
    assert (bare["mql_to_sql"].days, bare["mql_to_sql"].source) == (0, "none")
    own = resolve_lags(with_own, None)
    assert {lag.source for lag in own.values()} == {"agreement"} and own["sql_to_opportunity"].days == Decimal("2.5")


def test_without_lags_or_actuals_the_plan_by_month_says_what_to_do() -> None:
    with pytest.raises(UsageError, match=r"sets no goals\.lags: set them in its file or give --lags-from-actuals"):
        resolve_lags(AGREEMENT, None)
