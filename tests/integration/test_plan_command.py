"""`leadflow plan`: the goal worked backwards, and rates for the next agreement from a replayed autumn's cohorts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipelines.core.planning import work_backwards
from tests.integration.processes import base_env, leadflow, leadflow_json
from tests.integration.test_monthly_report import replay_autumn

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
