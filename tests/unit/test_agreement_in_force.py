"""The judge finds the agreement in force at an instant by its local dates, in any zone (contract §3)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.agreements import load_agreement
from pipelines.core.sla import Judge, local_day_bounds
from schemas.agreement import Agreement

BASE = load_agreement(Path(__file__).resolve().parents[2] / "agreements" / "2026-H2.yaml")
# zones with DST at 02:00, at midnight (Santiago, Havana), half and quarter hours, and a date-line jump
ZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",
    "America/Havana",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Apia",
)


def _agreement(zone: str, start: date, days: int) -> Agreement:
    return BASE.model_copy(update={"timezone": zone, "effective_from": start, "effective_to": start + timedelta(days)})


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(
    zone=st.sampled_from(ZONES),
    start=st.dates(min_value=date(2010, 1, 1), max_value=date(2035, 12, 31)),
    days=st.integers(min_value=1, max_value=400),
    offset=st.integers(min_value=-2 * 24 * 3600, max_value=3 * 24 * 3600),
)
def test_bounds_agree_with_local_dates(zone: str, start: date, days: int, offset: int) -> None:
    agreement = _agreement(zone, start, days)
    for edge in local_day_bounds(agreement):
        instant = edge + timedelta(seconds=offset)
        in_force = agreement.in_force_on(instant.astimezone(agreement.zone).date())
        found = Judge([agreement]).agreement_at(instant)
        assert (found is agreement) == in_force, (zone, start, days, instant)


def test_the_edges_are_exact_to_the_microsecond() -> None:
    agreement = _agreement("America/Santiago", date(2026, 9, 6), 10)  # clocks jump 00:00 -> 01:00 that night
    start, end = local_day_bounds(agreement)
    assert start.astimezone(agreement.zone) == datetime(2026, 9, 6, 1, 0, tzinfo=ZoneInfo("America/Santiago"))
    judge = Judge([agreement])
    assert judge.agreement_at(start) is agreement
    assert judge.agreement_at(start - timedelta(microseconds=1)) is None
    assert judge.agreement_at(end - timedelta(microseconds=1)) is agreement
    assert judge.agreement_at(end) is None


def test_the_first_of_two_agreements_in_force_wins() -> None:
    first = _agreement("Europe/Berlin", date(2026, 7, 1), 184)
    second = _agreement("Europe/Berlin", date(2027, 1, 1), 181).model_copy(update={"name": "2027-H1"})
    judge = Judge([first, second])
    new_year = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)  # already 1 January in Berlin
    assert judge.agreement_at(new_year) is second
    assert judge.agreement_at(new_year - timedelta(microseconds=1)) is first
