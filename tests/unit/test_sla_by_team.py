"""SLA compliance per team (docs/reports.md `sla_by_team`) on a real chDB store, against a brute-force count."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.core.sla import ESCALATED, REASSIGN
from pipelines.store.client import ClickHouseStore
from schemas.owners import OwnersFile
from services.report_sla import NO_TEAM, sla_by_team
from services.report_sql import sql_time
from tests.unit.funnel_histories import DEC_1, NOV_1, PROPERTY, SNAPSHOT_COLUMNS, open_store, percentile

HOURS = {"days": ["mon"], "start": "09:00", "end": "17:00"}
OWNERS = OwnersFile.model_validate(
    {
        "teams": [
            {"name": "emea", "manager": "mgr-1", "members": ["rep-1", "rep-2"]},
            {"name": "amer", "manager": "mgr-2", "members": ["rep-3"]},
        ],
        "owners": [{"id": "rep-1", "timezone": "UTC", "working_hours": HOURS}],
    }
)
TEAM_OF = {"rep-1": "emea", "rep-2": "emea", "rep-3": "amer"}
# handoff, owner, start, deadline, stop, business seconds, moments of the escalation steps (manager, reassign)
Clock = tuple[str, str, datetime, datetime, datetime | None, float | None, tuple[datetime | None, datetime | None]]
STEP_KINDS = (ESCALATED, REASSIGN)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseStore]:
    opened = open_store(tmp_path_factory.mktemp("teams") / "store")
    yield opened
    opened.close()


@st.composite
def clocks(draw: st.DrawFn) -> Clock:
    start = NOV_1 + timedelta(minutes=draw(st.integers(-3 * 1440, 33 * 1440)))
    deadline = start + timedelta(hours=draw(st.integers(1, 48)))
    stop = draw(st.none() | st.integers(0, 96).map(lambda h: start + timedelta(hours=h)))
    business = None if stop is None else float(draw(st.integers(0, 200_000)))
    owner = draw(st.sampled_from(["rep-1", "rep-2", "rep-3", "rep-9", ""]))
    handoff = draw(st.sampled_from(["mql_follow_up", "sql_to_opportunity"]))
    first = deadline + timedelta(hours=draw(st.integers(1, 24)))
    steps = (first, first + timedelta(hours=draw(st.integers(1, 24)))) if draw(st.booleans()) else (None, None)
    return handoff, owner, start, deadline, stop, business, steps


def reached(clock: Clock) -> list[tuple[str, datetime]]:
    """Return the escalation steps a clock reaches: those that fall before it stops."""
    stop = clock[4]
    return [(k, at) for k, at in zip(STEP_KINDS, clock[6], strict=True) if at and (stop is None or stop > at)]


def _fill(store: ClickHouseStore, drawn: list[Clock]) -> None:
    store._client.command("TRUNCATE TABLE lead_snapshots")
    rows = []
    for n, (handoff, owner, start, deadline, stop, business, steps) in enumerate(drawn):
        clock = (handoff, "2026-H2", 1, start, deadline, None, stop, business, owner)
        entries = [(1, "mql", start)]
        falls = [(handoff, 1, kind, at) for kind, at in zip(STEP_KINDS, steps, strict=True) if at is not None]
        rows.append((f"lead-{n}", 1, start, "mql", 1, 1, owner, [], start, entries, [], [clock], falls))
    store.insert("lead_snapshots", rows, (*SNAPSHOT_COLUMNS, "clock_steps"))


def brute_force(drawn: list[Clock], as_of: datetime) -> dict[str, dict[str, dict[str, Any]]]:
    """Count each (handoff, team) line directly from the clocks started in November."""
    lines: dict[tuple[str, str], list[Clock]] = {}
    for clock in drawn:
        if NOV_1 <= clock[2] < DEC_1:
            lines.setdefault((clock[0], TEAM_OF.get(clock[1], NO_TEAM)), []).append(clock)
    section: dict[str, dict[str, dict[str, Any]]] = {}
    for (handoff, team), members in sorted(lines.items()):
        stopped = [c for c in members if c[4] is not None and c[4] <= as_of]
        met = sum(1 for c in stopped if c[4] is not None and c[4] <= c[3])
        breached = sum(1 for c in members if as_of > c[3] and not (c[4] is not None and c[4] <= c[3]))
        times = [Fraction(c[5]) for c in stopped if c[5] is not None]
        quantiles = [float(percentile(times, Fraction(q, 10))) if times else 0.0 for q in (5, 9)]  # type: ignore[arg-type]
        section.setdefault(handoff, {})[team] = {
            "started": len(members),
            "met": met,
            "breached": breached,
            "open": len(members) - met - breached,
            "compliance": None if met + breached == 0 else round(met / (met + breached), 6),
            "p50_business_seconds": round(quantiles[0], 3) if stopped else None,
            "p90_business_seconds": round(quantiles[1], 3) if stopped else None,
            **{
                key: sum(1 for c in members for k, at in reached(c) if k == kind and at <= as_of)
                for key, kind in (("escalated", ESCALATED), ("reassign_suggested", REASSIGN))
            },
        }
    return section


@PROPERTY
@given(st.lists(clocks(), max_size=25), st.integers(0, 40 * 1440))
def test_each_team_counts_the_clocks_of_its_members(store: ClickHouseStore, drawn: list[Clock], minutes: int) -> None:
    _fill(store, drawn)
    as_of = NOV_1 + timedelta(minutes=minutes)
    params = {"start": sql_time(NOV_1), "end": sql_time(DEC_1), "as_of": sql_time(as_of)}
    assert sla_by_team(store, params, OWNERS) == brute_force(drawn, as_of)


def test_without_teams_there_is_no_section(store: ClickHouseStore) -> None:
    params = {"start": sql_time(NOV_1), "end": sql_time(DEC_1), "as_of": sql_time(DEC_1)}
    assert sla_by_team(store, params, None) == {}
    assert sla_by_team(store, params, OwnersFile.model_validate({"owners": []})) == {}
