"""Goal maths (contract §3 and §4): worked backwards with ceil at every step, prorated, paced, revised.

Every expected figure here was worked out by hand; the comments show the steps.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from pipelines.core.planning import (
    Cohort,
    add_months,
    add_plans,
    business_days_elapsed,
    cumulative_conversion,
    elapsed_share,
    exact,
    goal_shares,
    is_mature,
    money,
    month_bounds,
    months_back,
    pace,
    propose_rate,
    rounded,
    work_backwards,
)
from schemas.agreement import Agreement

H2_RATES = {
    "visit_to_lead": 0.02,
    "lead_to_mql": 0.4,
    "mql_to_sql": 0.5,
    "sql_to_opportunity": 0.6,
    "opportunity_to_customer": 0.25,
}


def agreement(name: str, start: date, end: date, revenue: str, deal: str, rates: dict[str, float]) -> Agreement:
    return Agreement.model_validate(
        {
            "name": name,
            "effective_from": start,
            "effective_to": end,
            "timezone": "Europe/Berlin",
            "business_hours": {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"},
            "goals": {"revenue": revenue, "currency": "EUR", "average_deal_size": deal, "rates": rates},
        }
    )


H2 = agreement("2026-H2", date(2026, 7, 1), date(2027, 1, 1), "1200000", "20000", H2_RATES)


# -- worked backwards -------------------------------------------------------------------------------


def test_the_contract_example_works_back_to_whole_numbers() -> None:
    # 1,200,000 / 20,000 = 60 customers; / 0.25 = 240; / 0.6 = 400; / 0.5 = 800; / 0.4 = 2,000; / 0.02 = 100,000
    assert work_backwards(Decimal(1_200_000), Decimal(20_000), H2_RATES) == {
        "visits": 100_000,
        "lead": 2_000,
        "mql": 800,
        "sql": 400,
        "opportunity": 240,
        "customer": 60,
    }


def test_every_step_rounds_up_on_its_own() -> None:
    # 1,000,001 / 20,000 = 50.00005 -> 51; 51 / 0.25 = 204; 204 / 0.6 = 340; 340 / 0.5 = 680;
    # 680 / 0.4 = 1,700; 1,700 / 0.02 = 85,000 (ceil once at the end would give 83,334: 50.00005 ... / 0.02)
    assert work_backwards(1_000_001, 20_000, H2_RATES) == {
        "visits": 85_000,
        "lead": 1_700,
        "mql": 680,
        "sql": 340,
        "opportunity": 204,
        "customer": 51,
    }


def test_rates_count_as_the_decimals_written_not_as_floats() -> None:
    # 420,000 / 20,000 = 21; 21 / 0.7 = 30 exactly (in floats 30.000000000000004, which ceil makes 31);
    # 30 / 0.6 = 50; 50 / 0.5 = 100; 100 / 0.3 = 333.3 -> 334; 334 / 0.1 = 3,340
    rates = {
        "opportunity_to_customer": 0.7,
        "sql_to_opportunity": 0.6,
        "mql_to_sql": 0.5,
        "lead_to_mql": 0.3,
        "visit_to_lead": 0.1,
    }
    assert 21 / 0.7 > 30  # the trap that exact maths avoids
    assert work_backwards(420_000, 20_000, rates) == {
        "customer": 21,
        "opportunity": 30,
        "sql": 50,
        "mql": 100,
        "lead": 334,
        "visits": 3_340,
    }


def test_a_cent_over_a_whole_number_of_deals_needs_one_more_customer() -> None:
    # 40,000.01 / 20,000 = 2.0000005 -> 3; 3 / 0.25 = 12; 12 / 0.6 = 20; 20 / 0.5 = 40; 40 / 0.4 = 100;
    # 100 / 0.02 = 5,000
    assert work_backwards(Decimal("40000.01"), Decimal(20_000), H2_RATES)["customer"] == 3
    assert work_backwards(Decimal("40000.00"), Decimal(20_000), H2_RATES)["customer"] == 2
    assert work_backwards(Decimal("40000.01"), Decimal(20_000), H2_RATES)["visits"] == 5_000


def test_no_revenue_needs_nothing() -> None:
    assert set(work_backwards(0, 20_000, H2_RATES).values()) == {0}


def test_a_rate_of_one_passes_the_count_through() -> None:
    ones = dict.fromkeys(H2_RATES, 1.0)
    assert set(work_backwards(100_000, 20_000, ones).values()) == {5}


# -- proration --------------------------------------------------------------------------------------


def test_a_month_gets_its_days_share_of_the_period() -> None:
    # November: 30 of the 184 days of [2026-07-01, 2027-01-01): 1,200,000 * 30 / 184 = 195,652.173913...
    # customers ceil(9.78) = 10; 10 / 0.25 = 40; 40 / 0.6 = 66.7 -> 67; 67 / 0.5 = 134; 134 / 0.4 = 335;
    # 335 / 0.02 = 16,750
    (share,) = goal_shares([H2], date(2026, 11, 1), date(2026, 12, 1))
    assert (share.shared_days, share.period_days) == (30, 184)
    assert share.revenue == Fraction(1_200_000 * 30, 184)
    assert money(share.revenue) == "195652.17"
    assert share.plan == {"visits": 16_750, "lead": 335, "mql": 134, "sql": 67, "opportunity": 40, "customer": 10}


def test_the_whole_period_is_the_whole_goal() -> None:
    (share,) = goal_shares([H2], date(2026, 1, 1), date(2028, 1, 1))
    assert share.revenue == 1_200_000 and (share.first_day, share.end_day) == (date(2026, 7, 1), date(2027, 1, 1))


def test_a_window_outside_every_period_has_no_goal() -> None:
    assert goal_shares([H2], date(2027, 1, 1), date(2027, 2, 1)) == []


def test_a_window_across_two_agreements_adds_shares_worked_back_each_with_its_own_figures() -> None:
    h1_rates = {**H2_RATES, "opportunity_to_customer": 0.5, "visit_to_lead": 0.05}
    h1 = agreement("2027-H1", date(2027, 1, 1), date(2027, 7, 1), "1810000", "25000", h1_rates)
    shares = goal_shares([h1, H2], date(2026, 12, 15), date(2027, 1, 15))
    assert [s.agreement.name for s in shares] == ["2026-H2", "2027-H1"]
    h2_share, h1_share = shares
    # 2026-H2: 17 of 184 days: 1,200,000 * 17 / 184 = 110,869.57; / 20,000 = 5.54 -> 6; / 0.25 = 24; / 0.6 = 40;
    #          / 0.5 = 80; / 0.4 = 200; / 0.02 = 10,000
    assert money(h2_share.revenue) == "110869.57"
    assert h2_share.plan == {"customer": 6, "opportunity": 24, "sql": 40, "mql": 80, "lead": 200, "visits": 10_000}
    # 2027-H1: 14 of 181 days: 1,810,000 * 14 / 181 = 140,000; / 25,000 = 5.6 -> 6; / 0.5 = 12; / 0.6 = 20;
    #          / 0.5 = 40; / 0.4 = 100; / 0.05 = 2,000
    assert h1_share.revenue == 140_000
    assert h1_share.plan == {"customer": 6, "opportunity": 12, "sql": 20, "mql": 40, "lead": 100, "visits": 2_000}
    assert add_plans([h2_share.plan, h1_share.plan]) == {
        "visits": 12_000,
        "lead": 300,
        "mql": 120,
        "sql": 60,
        "opportunity": 36,
        "customer": 12,
    }


# -- money and rounding -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0.00"),
        (Fraction(1, 200), "0.01"),  # 0.005 rounds half up
        (Fraction(1, 3), "0.33"),
        (Fraction(2, 3), "0.67"),
        (Decimal("2.675"), "2.68"),  # float(2.675) is 2.67499999... and would round down
        (Decimal("1234.5"), "1234.50"),
        (Fraction(1_200_000 * 30, 184), "195652.17"),
        (Decimal("99999999999999.995"), "100000000000000.00"),
    ],
)
def test_money_has_two_places_rounded_half_up(value: Fraction | Decimal | int, expected: str) -> None:
    assert money(value) == expected


def test_exact_reads_floats_as_written() -> None:
    assert (
        exact(0.1) == Fraction(1, 10) and exact(Decimal("0.1")) == Fraction(1, 10) and exact("0.02") == Fraction(1, 50)
    )
    with pytest.raises(ValueError):
        exact(float("nan"))


def test_rounded_ratios_have_six_places() -> None:
    assert rounded(Fraction(2, 3)) == 0.666667 and rounded(None) is None and rounded(Fraction(5, 3), 3) == 1.667


def test_cumulative_conversion_is_each_stage_over_the_visits() -> None:
    counts = {"visits": 1000, "lead": 20, "mql": 8, "sal": 6, "sql": 4, "opportunity": 3, "customer": 1}
    assert cumulative_conversion(counts) == {
        "visit_to_lead": 0.02,
        "visit_to_mql": 0.008,
        "visit_to_sal": 0.006,
        "visit_to_sql": 0.004,
        "visit_to_opportunity": 0.003,
        "visit_to_customer": 0.001,
    }
    assert set(cumulative_conversion(dict.fromkeys(counts, 0)).values()) == {None}


# -- pacing -----------------------------------------------------------------------------------------


def _days(first: datetime, count: int) -> list[tuple[datetime, datetime]]:
    return [(first + timedelta(days=n), first + timedelta(days=n, hours=8)) for n in range(count)]


def test_business_days_elapsed_counts_whole_days_and_the_part_of_today() -> None:
    days = _days(datetime(2026, 11, 2, 8, tzinfo=UTC), 3)  # 08:00-16:00 UTC each
    assert business_days_elapsed(days, datetime(2026, 11, 2, 7, tzinfo=UTC)) == 0
    assert business_days_elapsed(days, datetime(2026, 11, 3, 12, tzinfo=UTC)) == Fraction(3, 2)
    assert business_days_elapsed(days, datetime(2026, 11, 3, 20, tzinfo=UTC)) == 2  # evening: today is done
    assert business_days_elapsed(days, datetime(2026, 12, 1, tzinfo=UTC)) == 3
    assert elapsed_share(days, days[0][0], days[-1][1], datetime(2026, 11, 3, 12, tzinfo=UTC)) == Fraction(1, 2)


def test_without_business_days_the_share_elapsed_is_plain_time() -> None:
    lower, upper = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 5, tzinfo=UTC)
    assert elapsed_share([], lower, upper, datetime(2026, 11, 2, tzinfo=UTC)) == Fraction(1, 4)
    assert elapsed_share([], lower, upper, lower - timedelta(days=1)) == 0
    assert elapsed_share([], lower, upper, upper + timedelta(days=1)) == 1


def test_pace_is_actual_over_the_goal_prorated_by_time_elapsed() -> None:
    # 134 MQLs planned, 5.25 of 21 business days elapsed (a quarter): 33.5 expected; 40 done -> pace 1.194030,
    # projected at the end 40 / 0.25 = 160
    line = pace(40, [(134, Fraction(1, 4))], Fraction(1, 4))
    assert (line.goal, line.expected) == (134, Fraction(67, 2))
    assert rounded(line.pace) == 1.19403 and line.projected == 160


def test_pace_adds_the_parts_of_a_window_across_agreements() -> None:
    # first part all elapsed (goal 10), second a fifth (goal 20): expected 10 + 4 = 14
    line = pace(7, [(10, Fraction(1)), (20, Fraction(1, 5))], Fraction(1, 2))
    assert (line.goal, line.expected, line.pace) == (30, 14, Fraction(1, 2))


def test_pace_before_anything_is_expected_is_undefined() -> None:
    line = pace(3, [(10, Fraction(0))], Fraction(0))
    assert line.pace is None and line.projected is None and line.expected == 0


# -- rates for the next agreement -------------------------------------------------------------------


def test_the_proposal_pools_mature_cohorts_and_leaves_immature_ones_out() -> None:
    cohorts = [
        Cohort("2026-09", 100, 40, True),
        Cohort("2026-10", 300, 90, True),
        Cohort("2026-11", 200, 10, False),  # too recent: most have not had their chance yet
    ]
    proposal = propose_rate(0.4, cohorts, min_sample=30)
    # (40 + 90) / (100 + 300) = 0.325
    assert (proposal.entered, proposal.went_on, proposal.observed) == (400, 130, Fraction(13, 40))
    assert proposal.proposed == 0.325 and proposal.basis == "observed"


def test_a_proposed_rate_has_four_places_and_is_never_zero_or_above_one() -> None:
    assert propose_rate(0.5, [Cohort("m", 3000, 1001, True)], 30).proposed == 0.3337  # 0.333666... -> 0.3337
    assert propose_rate(0.5, [Cohort("m", 100_000, 1, True)], 30).proposed == 0.0001  # 0.00001 -> at least 0.0001
    assert propose_rate(0.5, [Cohort("m", 40, 44, True)], 30).proposed == 1.0  # went on through a side door


@pytest.mark.parametrize(
    ("cohorts", "basis"),
    [
        ([], "kept: no mature cohort"),
        ([Cohort("m", 500, 200, False)], "kept: no mature cohort"),
        ([Cohort("m", 29, 10, True)], "kept: sample below 30"),
        ([Cohort("m", 100, 0, True)], "kept: none went on (rate 0 cannot plan)"),
    ],
)
def test_without_a_usable_sample_the_current_rate_is_kept(cohorts: list[Cohort], basis: str) -> None:
    proposal = propose_rate(0.4, cohorts, min_sample=30)
    assert proposal.proposed == 0.4 and proposal.basis == basis


def test_a_cohort_is_mature_once_the_maturity_has_passed_after_its_month() -> None:
    end = datetime(2026, 11, 30, 23, tzinfo=UTC)
    assert is_mature(end, end + timedelta(days=30), timedelta(days=30))
    assert not is_mature(end, end + timedelta(days=29, hours=23), timedelta(days=30))


# -- months -----------------------------------------------------------------------------------------


def test_months() -> None:
    assert month_bounds("2026-11") == (date(2026, 11, 1), date(2026, 12, 1))
    assert month_bounds("2026-12") == (date(2026, 12, 1), date(2027, 1, 1))
    assert add_months(date(2026, 1, 1), -1) == date(2025, 12, 1)
    assert months_back(date(2027, 2, 17), 4) == [
        date(2026, 11, 1),
        date(2026, 12, 1),
        date(2027, 1, 1),
        date(2027, 2, 1),
    ]
    for bad in ("2026-13", "Nov 2026", "2026-11-01"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            month_bounds(bad)
