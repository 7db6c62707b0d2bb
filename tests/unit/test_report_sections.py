"""The report's goal, revenue, SLA and feedback sections from hand-made rows, without a store."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from pipelines.core.planning import goal_shares
from services.errors import UsageError
from services.plan import pacing_section, plan_section, share_times, targets_section
from services.report import report_window
from services.report_feedback import handed_back_reasons, mql_acceptance
from services.report_revenue import DealStep, deals_section, parse_amount, revenue_section, won_amount
from services.report_sla import sla_by_owner, worst_breaches
from tests.unit.test_planning import H2, H2_RATES, agreement

NOVEMBER = (date(2026, 11, 1), date(2026, 12, 1))
AT = datetime(2026, 11, 10, 12, tzinfo=UTC)


class RowsStore:
    """A store that answers every query with the same rows and remembers the parameters."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows
        self.parameters: list[dict[str, Any]] = []

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        self.parameters.append(parameters or {})
        return self.rows

    def insert(self, table: str, rows: Any, columns: Any) -> None:
        raise AssertionError("reports only read")

    def close(self) -> None:
        pass


def stored(*parts: int) -> datetime:
    """A UTC instant as the store returns it: without tzinfo."""
    return datetime(*parts, tzinfo=UTC).replace(tzinfo=None)  # type: ignore[misc]


def step(deal: str, stage: str, amount: str, currency: str = "EUR") -> DealStep:
    return DealStep(deal, stage, AT, Decimal(amount), currency)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('"18500.00"', Decimal("18500.00")),
        ("18500", Decimal(18500)),
        ("1.5E3", Decimal(1500)),
        (' "0.10" ', Decimal("0.10")),
    ],
)
def test_amounts_are_read_as_exact_decimals_from_strings_or_numbers(raw: str, expected: Decimal) -> None:
    assert parse_amount(raw) == expected


def test_an_amount_that_is_no_decimal_is_refused() -> None:
    with pytest.raises(ValueError, match="not a decimal"):
        parse_amount('"18.500,00"')


def test_revenue_is_won_against_the_prorated_goal_and_other_currencies_stay_apart() -> None:
    steps = [
        step("d1", "created", "90000.00"),
        step("d1", "won", "99999.99"),
        step("d2", "won", "0.02"),
        step("d3", "won", "8350.00", "USD"),
        step("d4", "proposal", "12000.00"),
    ]
    shares = goal_shares([H2], *NOVEMBER)
    # 100,000.01 EUR won of 195,652.17: 100000.01 * 184 / (1,200,000 * 30) = 0.511111...
    assert revenue_section(steps, shares, "EUR") == {
        "currency": "EUR",
        "won": 100000.01,
        "goal": 1_200_000 * 30 / 184,
        "attainment": 0.511111,
        "deals_won": 2,
        "other_currencies": {"USD": {"won": 8350.0, "deals_won": 1, "goal": None}},
    }
    assert won_amount(steps, "EUR") == Decimal("100000.01")
    assert deals_section(steps) == {"created": 1, "proposal": 1, "won": 3, "lost": 0}


def test_a_goal_in_another_currency_is_reported_beside_not_added() -> None:
    usd = agreement("2027-H1", date(2027, 1, 1), date(2027, 7, 1), "905000", "25000", H2_RATES)
    usd = usd.model_copy(update={"goals": usd.goals.model_copy(update={"currency": "USD"})})
    shares = goal_shares([H2, usd], date(2026, 12, 1), date(2027, 2, 1))
    section = revenue_section([], shares, "EUR")
    # EUR: 31 of 184 days of 1,200,000 = 202,173.91; USD: 31 of 181 days of 905,000 = 155,000
    assert (section["goal"], section["won"], section["attainment"]) == (1_200_000 * 31 / 184, 0.0, 0.0)
    assert section["other_currencies"] == {"USD": {"won": 0.0, "deals_won": 0, "goal": 155000.0}}


def test_pacing_prorates_the_plan_by_business_days_elapsed() -> None:
    shares = goal_shares([H2], *NOVEMBER)
    counts = {"visits": 9000, "lead": 150, "mql": 70, "sal": 50, "sql": 30, "opportunity": 20, "customer": 5}
    # 2026-11-16 00:00 Berlin: Nov 2-6 and 9-13 elapsed, 10 of November's 21 business days
    as_of = datetime(2026, 11, 15, 23, tzinfo=UTC)
    section = pacing_section(share_times(shares), counts, Decimal(100_000), "EUR", as_of)
    assert (section["business_days"], section["business_days_elapsed"], section["elapsed_share"]) == (21, 10.0, 0.47619)
    # MQLs: 134 * 10 / 21 = 63.810 expected; 70 / 63.81 = 1.097015; 70 * 21 / 10 = 147 projected
    assert section["stages"]["mql"] == {
        "actual": 70,
        "plan": 134,
        "expected": 63.81,
        "pace": 1.097015,
        "projected": 147.0,
    }
    # revenue: 195,652.17 * 10 / 21 = 93,167.70 expected; pace 100,000 * 21 * 184 / (1,200,000 * 30 * 10) = 1.073333
    assert section["revenue"] == {
        "currency": "EUR",
        "actual": 100000.0,
        "goal": 1_200_000 * 30 / 184,
        "expected": pytest.approx(1_200_000 * 30 / 184 * 10 / 21),
        "pace": 1.073333,
        "projected": 210000.0,
    }
    assert plan_section(shares)["mql"] == 134 and plan_section([]) == {}


def test_target_rates_stand_beside_the_period_rates() -> None:
    counts = {"visits": 1000, "lead": 30, "mql": 12, "sal": 9, "sql": 7, "opportunity": 3, "customer": 0}
    targets = targets_section(counts, H2)
    assert targets["visit_to_lead"] == {"actual": 0.03, "target": 0.02}
    assert targets["mql_to_sql"] == {"actual": 0.583333, "target": 0.5}  # sql over mql: the agreement skips sal
    assert targets["opportunity_to_customer"] == {"actual": 0.0, "target": 0.25}


def test_acceptance_leaves_pending_mqls_out_of_the_rate() -> None:
    store = RowsStore([("accepted", 6), ("recycled", 1), ("disqualified", 1), ("unworked", 2), ("pending", 5)])
    section = mql_acceptance(store, {"start": "s", "end": "e", "as_of": "a"}, ["mql_follow_up"])
    # 6 / (6 + 1 + 1 + 2) = 0.6
    assert section == {
        "mqls": 15,
        "accepted": 6,
        "recycled": 1,
        "disqualified": 1,
        "unworked": 2,
        "pending": 5,
        "acceptance_rate": 0.6,
        "follow_up_handoffs": ["mql_follow_up"],
    }
    assert store.parameters[0]["follow_ups"] == ["mql_follow_up"]


def test_reasons_are_counted_most_given_first_and_a_missing_one_is_named() -> None:
    rows = [
        ("recycled", "no budget", 2),
        ("recycled", "bad timing", 5),
        ("disqualified", "", 1),
        ("disqualified", "spam", 3),
    ]
    reasons = handed_back_reasons(RowsStore(rows), {})
    assert reasons == {
        "recycled": {"bad timing": 5, "no budget": 2},
        "disqualified": {"spam": 3, "(no reason given)": 1},
    }
    assert list(reasons["recycled"]) == ["bad timing", "no budget"]
    assert handed_back_reasons(RowsStore([]), {}) == {"recycled": {}, "disqualified": {}}


def test_sla_per_owner_names_clocks_without_an_owner() -> None:
    rows = [
        ("mql_follow_up", "", 2, 1, 1, 2, [60.0, 100.0]),
        ("mql_follow_up", "rep-01", 3, 3, 0, 3, [10.0, 20.0], 0, 0),
    ]
    section = sla_by_owner(RowsStore(rows), {})
    assert section["mql_follow_up"]["(no owner)"]["compliance"] == 0.5
    assert section["mql_follow_up"]["rep-01"] == {
        "started": 3,
        "met": 3,
        "breached": 0,
        "open": 0,
        "compliance": 1.0,
        "p50_business_seconds": 10.0,
        "p90_business_seconds": 20.0,
        "escalated": 0,
        "reassign_suggested": 0,
    }


def test_worst_breaches_are_ordered_by_business_time_past_the_deadline() -> None:
    # deadlines Mon 2026-11-02 10:00 Berlin (09:00 UTC); business hours 09-17 Berlin
    deadline = stored(2026, 11, 2, 9)
    rows = [
        # stopped Tue 10:00 Berlin: 7 h Monday + 1 h Tuesday = 8 business hours late
        ("lead-a", "mql_follow_up", "2026-H2", "rep-01", stored(2026, 11, 2, 8), deadline, stored(2026, 11, 3, 9)),
        # still open at as_of, Mon 2026-11-09 09:00 Berlin: 5 business days of 8 h minus the first hour = 39 h
        ("lead-b", "mql_follow_up", "2026-H2", "", stored(2026, 11, 2, 8), deadline, None),
        # stopped on Saturday: Monday's 7 h + Tuesday to Friday's 32 h = 39 h, tie broken by lead id
        ("lead-c", "mql_follow_up", "2026-H2", "rep-02", stored(2026, 11, 2, 8), deadline, stored(2026, 11, 7, 10)),
    ]
    as_of = datetime(2026, 11, 9, 8, tzinfo=UTC)
    breaches = worst_breaches(RowsStore(rows), {}, [H2], as_of, limit=2)
    assert [(b["lead_id"], b["overrun_business_seconds"]) for b in breaches] == [
        ("lead-b", 140400.0),
        ("lead-c", 140400.0),
    ]
    assert breaches[0]["stopped_at"] is None and breaches[0]["owner_id"] == "(no owner)"
    assert worst_breaches(RowsStore(rows), {}, [H2], as_of)[-1]["overrun_business_seconds"] == 28800.0


def test_the_report_window_comes_from_dates_or_a_month() -> None:
    assert report_window(None, None, "2026-11") == NOVEMBER
    assert report_window(*NOVEMBER, None) == NOVEMBER
    for start, end, month, message in [
        (date(2026, 11, 1), None, "2026-11", "one or the other"),
        (None, None, "November", "YYYY-MM"),
        (date(2026, 11, 1), None, None, "--from and --to"),
        (date(2026, 11, 2), date(2026, 11, 1), None, "must be after"),
    ]:
        with pytest.raises(UsageError, match=message):
            report_window(start, end, month)
