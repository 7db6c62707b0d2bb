"""`leadflow plan`: the goal worked backwards, and rates for the next agreement from a replayed autumn's cohorts."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pipelines.core.planning import work_backwards
from tests.integration.processes import REPO, base_env, leadflow, leadflow_json
from tests.integration.test_monthly_report import replay_autumn
from tests.unit.test_lag_plan import brute_months

pytestmark = pytest.mark.integration

AS_OF = "2026-12-20T00:00:00+00:00"
# cohorts of September to December; a month is mature 30 days after it ends, so November and December are not
ACTUALS = ["--from-actuals", "--months", "4", "--maturity-days", "30", "--as-of", AS_OF]
COHORT_PAIRS = ("lead_to_mql", "sql_to_opportunity", "opportunity_to_customer")


@pytest.fixture(scope="module")
def autumn(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    folder = tmp_path_factory.mktemp("plan")
    return replay_autumn(folder), folder


def test_the_agreement_period_works_back_without_a_store(tmp_path: Path) -> None:
    env = base_env(LEADFLOW_STORE=f"chdb:{tmp_path / 'never-opened'}")
    plan = leadflow_json(["plan", "--agreement", "2026-H2", "--format", "json"], env, tmp_path)
    # 1,200,000 / 20,000 = 60; / 0.25 = 240; / 0.6 = 400; / 0.5 = 800; / 0.4 = 2,000; / 0.02 = 100,000
    assert plan["plan"] == {"customer": 60, "opportunity": 240, "sql": 400, "mql": 800, "lead": 2000, "visits": 100_000}
    assert plan["goal"] == {"currency": "EUR", "revenue": 1200000.0, "other_currencies": {}}
    assert plan["window"] == {"from": "2026-07-01", "to": "2027-01-01"}
    assert not (tmp_path / "never-opened").exists()
    table = leadflow(["plan", "--agreement", "2026-H2"], env, tmp_path)
    assert table.returncode == 0 and "100,000" in table.stdout and "opportunity_to_customer 0.25" in table.stdout


def test_a_month_is_planned_as_the_report_plans_it(tmp_path: Path) -> None:
    env = base_env(LEADFLOW_STORE=f"chdb:{tmp_path / 'store'}")
    plan = leadflow_json(["plan", "--month", "2026-11", "--format", "json"], env, tmp_path)
    report = leadflow_json(["report", "--month", "2026-11", "--format", "json"], env, tmp_path)
    assert (
        plan["plan"]
        == report["plan"]
        == {
            "visits": 16_750,
            "lead": 335,
            "mql": 134,
            "sql": 67,
            "opportunity": 40,
            "customer": 10,
        }
    )
    assert plan["goal"]["revenue"] == report["revenue"]["goal"] == 1_200_000 * 30 / 184
    (share,) = plan["shares"]
    assert (share["shared_days"], share["period_days"], share["agreement"]) == (30, 184, "2026-H2")


def _month(line: dict[str, Any], month: str) -> dict[str, Any]:
    return next(c for c in line["cohorts"] if c["month"] == month)


def test_rates_from_actuals_use_mature_monthly_cohorts(autumn: tuple[dict[str, str], Path]) -> None:
    env, folder = autumn
    document = leadflow_json(["plan", "--agreement", "2026-H2", *ACTUALS, "--format", "json"], env, folder)["proposal"]
    assert document["months"] == ["2026-09", "2026-10", "2026-11", "2026-12"]
    october = leadflow_json(["report", "--month", "2026-10", "--as-of", AS_OF, "--format", "json"], env, folder)
    for name in COHORT_PAIRS:  # the same cohorts as the report's cohort section
        cohort = _month(document["rates"][name], "2026-10")
        sizes = october["cohort_sizes"][name]
        assert (cohort["entered"], cohort["went_on"]) == (sizes["entered"], sizes["went_on"]), name
    assert _month(document["rates"]["visit_to_lead"], "2026-10")["entered"] == october["counts"]["visits"]
    for name, line in document["rates"].items():
        mature = [c for c in line["cohorts"] if c["mature"]]
        assert [c["month"] for c in mature] == ["2026-09", "2026-10"], name
        assert line["entered"] == sum(c["entered"] for c in mature) and line["went_on"] == sum(
            c["went_on"] for c in mature
        )
        assert line["basis"] == "observed" and line["proposed"] == round(line["went_on"] / line["entered"], 4), name
    rates = {name: line["proposed"] for name, line in document["rates"].items()}
    assert document["plan"] == work_backwards(1_200_000, 20_000, rates)


def test_the_proposal_reads_as_a_table(autumn: tuple[dict[str, str], Path]) -> None:
    env, folder = autumn
    done = leadflow(["plan", "--agreement", "2026-H2", *ACTUALS], env, folder)
    assert done.returncode == 0, done.stderr
    assert "Rates for the next agreement" in done.stdout and "The same goal with the proposed rates" in done.stdout
    assert "rates: {visit_to_lead: " in done.stdout.replace("\n", " ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--agreement", "2099-H1"], "no agreement named '2099-H1'"),
        (["--from", "2026-11-01"], "give --from and --to, or --month YYYY-MM"),
        (["--month", "2027-02"], "no agreement is in force between 2027-02-01 and 2027-03-01"),
        (["--month", "Nov"], "YYYY-MM"),
    ],
)
def test_a_plan_that_cannot_be_made_says_why(args: list[str], message: str, tmp_path: Path) -> None:
    done = leadflow(["plan", *args], base_env(LEADFLOW_STORE=f"chdb:{tmp_path / 'store'}"), tmp_path)
    assert done.returncode == 2 and message in done.stderr, done.stderr


LAGGED = (
    "  lags: {visit_to_lead: 0, lead_to_mql: 3.5, mql_to_sql: 7, sql_to_opportunity: 10, opportunity_to_customer: 30}\n"
)
LAG_HOURS = {"visit_to_lead": 0, "lead_to_mql": 84, "mql_to_sql": 168, "sql_to_opportunity": 240,
             "opportunity_to_customer": 720}  # fmt: skip


def _with_lags(folder: Path) -> Path:
    """A copy of the committed agreement that sets its lags."""
    text = (REPO / "agreements" / "2026-H2.yaml").read_text(encoding="utf-8")
    rates = next(line for line in text.splitlines(keepends=True) if line.startswith("  rates:"))
    (folder / "agreements").mkdir()
    (folder / "agreements" / "2026-H2.yaml").write_text(text.replace(rates, rates + LAGGED), encoding="utf-8")
    return folder / "agreements"


def test_by_month_each_stage_is_needed_its_lags_before_the_customers(tmp_path: Path) -> None:
    env = base_env(LEADFLOW_AGREEMENTS=str(_with_lags(tmp_path)), LEADFLOW_STORE=f"chdb:{tmp_path / 'never-opened'}")
    document = leadflow_json(["plan", "--agreement", "2026-H2", "--by-month", "--format", "json"], env, tmp_path)
    section, plan = document["by_month"], document["plan"]
    brute = brute_months(plan, date(2026, 7, 1), 184, LAG_HOURS)
    assert [line["month"] for line in section["months"]] == [f"{y}-{m:02d}" for y, m in sorted(brute)]
    assert {tuple(map(int, line["month"].split("-"))): line["needs"] for line in section["months"]} == brute
    assert section["totals"] == plan and section["months"][0]["month"] == "2026-05"  # visits 50.5 days ahead
    today = datetime.now(ZoneInfo("Europe/Berlin")).date()
    assert section["today"] in (today.isoformat(), (today - timedelta(days=1)).isoformat())
    for line in section["months"]:
        ahead = line["month"] > section["today"][:7]
        assert line["status"] == ("ahead" if ahead else "current" if line["month"] == section["today"][:7] else "past")
    (lags,) = section["lags"].values()
    assert lags["rates"]["lead_to_mql"] == {"days": 3.5, "source": "agreement"}
    assert lags["days_ahead"] == {"customer": 0, "opportunity": 30, "sql": 40, "mql": 47, "lead": 50.5, "visits": 50.5}
    assert not (tmp_path / "never-opened").exists()
    table = leadflow(["plan", "--agreement", "2026-H2", "--by-month"], env, tmp_path)
    assert table.returncode == 0 and "Entries needed by month" in table.stdout and "11,142" in table.stdout


def test_by_month_without_lags_says_where_to_get_them(tmp_path: Path) -> None:
    done = leadflow(["plan", "--by-month"], base_env(LEADFLOW_STORE=f"chdb:{tmp_path / 'store'}"), tmp_path)
    assert done.returncode == 2 and "sets no goals.lags" in done.stderr and "--lags-from-actuals" in done.stderr


# 23:59:59.999 in Berlin: 30 days before it, the mature entries end with 2026-11-20, a report window's edge
LAG_AS_OF = "2026-12-20T22:59:59.999+00:00"


def test_lags_from_actuals_are_the_reports_median_times_of_mature_cohorts(
    autumn: tuple[dict[str, str], Path],
) -> None:
    env, folder = autumn
    args = ["--by-month", "--lags-from-actuals", "--months", "4", "--as-of", LAG_AS_OF, "--format", "json"]
    document = leadflow_json(["plan", "--agreement", "2026-H2", *args], env, folder)
    section = document["by_month"]
    assert section["observed"]["months"] == ["2026-09", "2026-10", "2026-11", "2026-12"]
    window = ["--from", "2026-09-01", "--to", "2026-11-21", "--as-of", LAG_AS_OF, "--format", "json"]
    report = leadflow_json(["report", *window], env, folder)
    (lags,) = section["lags"].values()
    for name in COHORT_PAIRS:  # conversion windows of 30 days: the report's cohorts of that window
        line, timed = lags["rates"][name], report["time_to_convert"][name]
        assert (line["n"], line["p50_seconds"]) == (timed["n"], timed["p50_seconds"]), name
        assert line["source"] == "actuals" and line["days"] == round(timed["p50_seconds"] / 86400, 6), name
    assert all(line["n"] > 0 and line["source"] == "actuals" for line in lags["rates"].values())
    assert section["totals"] == document["plan"]


def test_the_reports_lagged_pacing_is_the_plan_by_month(autumn: tuple[dict[str, str], Path]) -> None:
    env, folder = autumn
    report = leadflow_json(["report", "--month", "2026-11", "--as-of", AS_OF, "--format", "json"], env, folder)
    args = ["--by-month", "--lags-from-actuals", "--months", "6", "--as-of", AS_OF, "--format", "json"]
    by_month = leadflow_json(["plan", "--agreement", "2026-H2", *args], env, folder)["by_month"]
    pacing = report["pacing"]
    # the committed agreement sets no lags: the report observes them as the plan does, as of the same instant
    assert pacing["lags"] == by_month["lags"] and pacing["lags_observed"] == by_month["observed"]
    november = next(line["needs"] for line in by_month["months"] if line["month"] == "2026-11")
    for key, line in pacing["stages"].items():
        assert line["plan_lagged"] == november[key], key
        # as_of is after November: all of November's exact need was due by then, less than one entry from its ceil
        assert abs(line["expected_lagged"] - november[key]) < 1 + 1e-3, key
        # pace is of the exact need; expected_lagged shows it to 3 places
        assert line["pace_lagged"] == pytest.approx(line["actual"] / line["expected_lagged"], rel=1e-3), key
