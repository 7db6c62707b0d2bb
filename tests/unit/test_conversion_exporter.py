"""The conversion exporter's pure parts: which agreement judges now, which window, what a failed measurement shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipelines.agreements import load_agreements
from pipelines.core.sla import Judge
from services.conversion_exporter import Cohort, Measurement, cohort_window, maturity, metrics

AGREEMENTS = load_agreements(Path(__file__).resolve().parents[2] / "agreements")


def _samples(measured: Measurement | None, up: bool) -> dict[tuple[str, tuple[str, ...]], float]:
    return {(s.name, tuple(s.labels.values())): s.value for m in metrics(measured, up) for s in m.samples}


def test_the_agreement_in_force_is_read_on_its_own_calendar() -> None:
    # 2027-01-01 begins at 23:00 UTC on New Year's Eve in Berlin: 2026-H2 ends there
    judge = Judge(AGREEMENTS)  # the exporter judges which agreement is in force as the clocks do
    assert judge.agreement_at(datetime(2026, 12, 31, 22, 59, tzinfo=UTC)) is AGREEMENTS[0]
    assert judge.agreement_at(datetime(2026, 12, 31, 23, 0, tzinfo=UTC)) is None


def test_each_rate_is_judged_once_its_conversion_window_has_passed() -> None:
    agreement = AGREEMENTS[0].model_copy(
        update={"conversion_windows": AGREEMENTS[0].conversion_windows.model_copy(update={"sal_to_sql": 12})}
    )
    days = {rate: window.days for rate, window in maturity(agreement).items()}
    # mql_to_sql passes through SAL: its window is mql_to_sal's and sal_to_sql's added
    assert days == {"visit_to_lead": 30, "lead_to_mql": 30, "mql_to_sql": 42, "sql_to_opportunity": 30,
                    "opportunity_to_customer": 30}  # fmt: skip
    now = datetime(2026, 12, 5, 12, tzinfo=UTC)
    start, end = cohort_window(agreement, "mql_to_sql", now)
    assert end == now - timedelta(days=42) and start == end - timedelta(days=90)


def test_a_measurement_is_exported_per_rate_with_its_target_and_minimum() -> None:
    agreement = AGREEMENTS[0]
    start, end = cohort_window(agreement, "lead_to_mql", datetime(2026, 12, 5, tzinfo=UTC))
    samples = _samples(Measurement(agreement, {"lead_to_mql": Cohort(start, end, 200, 40)}), True)
    assert samples[("leadflow_conversion_entered", ("2026-H2", "lead_to_mql"))] == 200
    assert samples[("leadflow_conversion_went_on", ("2026-H2", "lead_to_mql"))] == 40
    assert samples[("leadflow_conversion_target", ("2026-H2", "lead_to_mql"))] == 0.4
    assert samples[("leadflow_conversion_min_sample", ("2026-H2", "lead_to_mql"))] == 30
    assert samples[("leadflow_conversion_window_end_seconds", ("2026-H2", "lead_to_mql"))] == end.timestamp()
    assert samples[("leadflow_conversion_up", ())] == 1


def test_a_failed_measurement_exports_only_that_the_store_did_not_answer() -> None:
    assert _samples(None, False) == {("leadflow_conversion_up", ()): 0}
