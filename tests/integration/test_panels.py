"""Every ClickHouse panel, its Grafana macros expanded for a range, run against a store filled by a simulation:
it runs, returns the columns its panel reads, and its numbers agree with `leadflow report` for the same range."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from datetime import date, datetime, time
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dashboards.build import clickhouse_queries
from pipelines.agreements import load_agreements
from pipelines.core.model import Event
from pipelines.core.validate import parse_event
from services.simulate import SimulationSummary
from tests.integration.processes import REPO, base_env, leadflow_json

pytestmark = pytest.mark.integration

BERLIN = ZoneInfo("Europe/Berlin")
AGREEMENT = load_agreements(REPO / "agreements")[-1]
RANGES = [(date(2026, 11, 5), date(2026, 11, 12)), (date(2026, 11, 1), date(2026, 12, 1))]
COUNTS = ("started", "met", "breached", "open")
MAY_BE_EMPTY = {"Won in other currencies", "Current breaches"}
STAGES = ("lead", "mql", "sal", "sql", "opportunity", "customer")
# teams of some simulated owners (rep-07 and rep-08 are in none); no owner entries, so every clock counts as before
OWNERS_FILE = """
teams:
  - {name: emea, manager: mgr-emea, members: [rep-01, rep-02, rep-03]}
  - {name: amer, manager: mgr-amer, members: [rep-04, rep-05, rep-06]}
"""


@pytest.fixture(scope="module")
def store(simulated: tuple[Path, SimulationSummary], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of an embedded store filled by `leadflow replay` of the simulation."""
    folder = tmp_path_factory.mktemp("panels")
    owners = folder / "owners.yaml"
    owners.write_text(OWNERS_FILE, encoding="utf-8")
    env = base_env(LEADFLOW_STORE=f"chdb:{folder / 'store'}", LEADFLOW_OWNERS=str(owners))
    leadflow_json(["replay", str(simulated[0]), "--no-progress"], env, folder)
    return env


def _instant(day: date) -> datetime:
    return datetime.combine(day, time(0), BERLIN)


def _panels(env: dict[str, str], start: date, end: date) -> dict[str, dict[str, Any]]:
    args = ["dashboards", "run", "--from", _instant(start).isoformat(), "--to", _instant(end).isoformat()]
    answer = leadflow_json([*args, "--interval", "3600", "--format", "json"], env, REPO)
    assert answer["interval_s"] == 3600
    return {p["panel"]: p for p in answer["panels"]}


def _report(env: dict[str, str], start: date, end: date) -> dict[str, Any]:
    window = ["--from", start.isoformat(), "--to", end.isoformat(), "--as-of", _instant(end).isoformat()]
    return dict(leadflow_json(["report", *window, "--format", "json"], env, REPO))


def _month_start(year: int, month: int) -> Any:
    """Return how `dashboards run` writes the first instant of a month in Berlin (the agreement's zone)."""
    return datetime(year, month, 1, tzinfo=BERLIN).astimezone(ZoneInfo("UTC")).replace(tzinfo=None).isoformat()


def _rows(panel: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(zip(panel["columns"], row, strict=True)) for row in panel["rows"]]


def _one(panel: dict[str, Any]) -> dict[str, Any]:
    rows = _rows(panel)
    assert len(rows) == 1, panel["panel"]
    return rows[0]


def _close(panel_value: float | None, report_value: float | None, digits: int = 6) -> bool:
    if panel_value is None or report_value is None:
        return panel_value is report_value
    return round(panel_value, digits) == pytest.approx(report_value, abs=10**-digits)


def _sums(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> dict[str, int]:
    return {c: sum(int(r[c]) for r in rows) for c in columns}


@pytest.fixture(scope="module", params=RANGES, ids=lambda r: f"{r[0]}..{r[1]}")
def checked(request: pytest.FixtureRequest, store: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any], date]:
    """(panels, report, end day) of one range."""
    start, end = request.param
    return _panels(store, start, end), _report(store, start, end), end


def test_every_panel_runs_and_returns_the_columns_it_reads(checked: tuple[dict[str, Any], Any, date]) -> None:
    panels, _, _ = checked
    queries = clickhouse_queries(load_agreements(REPO / "agreements"))
    assert sorted(panels) == sorted(q.panel for q in queries)
    for query in queries:
        panel = panels[query.panel]
        assert panel["missing"] == [] and tuple(panel["columns"]) == query.columns, query.panel
        if query.time_series:
            assert panel["types"][0].startswith("DateTime"), query.panel
        assert panel["rows"] or query.panel in MAY_BE_EMPTY, f"{query.panel} returned no rows"


def test_funnel_panels_agree_with_the_report(checked: tuple[dict[str, Any], dict[str, Any], date]) -> None:
    panels, report, _ = checked
    counts = report["counts"]
    assert _one(panels["Funnel"]) == {k: counts[k] for k in ("visits", *STAGES)}
    over_time: dict[str, int] = defaultdict(int)
    for row in _rows(panels["Stage entries over time"]):
        over_time[row["stage"]] += row["entries"]
    assert {s: over_time.get(s, 0) for s in STAGES} == {s: counts[s] for s in STAGES}
    next_step = _one(panels["Next-step conversion vs. target"])
    for name, value in report["conversion"].items():
        assert _close(next_step[name], value), name
    assert _close(next_step["mql_to_sql"], counts["sql"] / counts["mql"] if counts["mql"] else None)
    cumulative = _one(panels["Cumulative conversion vs. target"])
    for stage in STAGES:
        assert _close(cumulative[f"visit_to_{stage}"], counts[stage] / counts["visits"]), stage
    for name, value in report.get("conversion_cumulative", {}).items():
        assert _close(cumulative[name], value), name
    cohort = _one(panels["Cohort conversion"])
    for name, value in report["cohort"].items():
        assert _close(cohort[name], value), name
    assert _sums(_rows(panels["By source and campaign"]), STAGES) == {s: counts[s] for s in STAGES}
    assert _sums(_rows(panels["By owner"]), STAGES) == {s: counts[s] for s in STAGES}


def test_time_to_convert_panels_agree_with_the_report(checked: tuple[dict[str, Any], dict[str, Any], date]) -> None:
    panels, report, _ = checked
    times = {row.pop("pair"): row for row in _rows(panels["Time to convert"])}
    assert sum(line["n"] for line in report["time_to_convert"].values()) > 0, "nobody went on in the range"
    for pair, line in report["time_to_convert"].items():
        got = times.get(pair, {"n": 0, "p50_seconds": None, "p90_seconds": None})
        assert got["n"] == line["n"] == report["cohort_sizes"][pair]["went_on"], pair
        for key in ("p50_seconds", "p90_seconds"):
            assert _close(got[key], line[key], 4), (pair, key)
    for row in _rows(panels["Time to convert by source and campaign"]):
        line = report["time_to_convert_by_source"][row["pair"]][row["source"]][row["campaign"]]
        assert {k: row[k] for k in ("n",)} == {"n": line["n"]} and _close(row["p90_seconds"], line["p90_seconds"], 4)
    for row in _rows(panels["Time to convert by owner"]):
        line = report["time_to_convert_by_owner"][row["pair"]][row["owner"]]
        assert row["n"] == line["n"] and _close(row["p50_seconds"], line["p50_seconds"], 4), row
    for name, key in (("Time to convert by source and campaign", "source"), ("Time to convert by owner", "owner")):
        assert len(_rows(panels[name])) == sum(
            len(v) if key == "owner" else sum(len(c) for c in v.values())
            for v in report[f"time_to_convert_by_{key}"].values()
        ), name
    # both ranges lie in November (Berlin): the trend's only month is the range, judged as of its end
    months = _rows(panels["Time to convert by month"])
    assert {row["time"] for row in months} == {_month_start(2026, 11)}
    by_month = {row["pair"]: row for row in months}
    for pair, line in report["time_to_convert"].items():
        got = by_month.get(pair, {"n": 0, "p50_seconds": None, "p90_seconds": None})
        assert got["n"] == line["n"] and all(_close(got[k], line[k], 4) for k in ("p50_seconds", "p90_seconds"))
    bins = {row.pop("bin"): row for row in _rows(panels["Time to convert in fixed bins"])}
    for pair, counts in report["time_to_convert_histogram"].items():
        assert {b: bins[b][pair] for b in counts} == counts, pair


def test_sla_panels_agree_with_the_report(
    checked: tuple[dict[str, Any], dict[str, Any], date], store: dict[str, str]
) -> None:
    panels, report, end = checked
    per_handoff = {row.pop("handoff"): row for row in _rows(panels["Compliance per handoff"])}
    assert per_handoff, "no clocks in the range"
    for handoff, expected in report["sla"].items():
        got = per_handoff.get(handoff, {})
        for key in ("started", "met", "breached", "open"):
            assert got.get(key, 0) == expected[key], (handoff, key)
        assert _close(got.get("compliance"), expected["compliance"]), handoff
        for key in ("p50_business_seconds", "p90_business_seconds"):
            assert _close(got.get(key), expected[key], 3), (handoff, key)
    owners: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in _rows(panels["Compliance per owner"]):
        for key in ("started", "met", "breached", "open"):
            owners[row["handoff"]][key] += row[key]
    for handoff, expected in report["sla"].items():
        assert {k: owners[handoff][k] for k in ("started", "met", "breached", "open")} == {
            k: expected[k] for k in ("started", "met", "breached", "open")
        }, handoff
    for row in _rows(panels["Compliance per owner"]) if "sla_by_owner" in report else []:
        expected = report["sla_by_owner"][row["handoff"]][row["owner"]]
        for key in ("started", "met", "breached", "open"):
            assert row[key] == expected[key], (row["handoff"], row["owner"], key)
        assert _close(row["compliance"], expected["compliance"]), (row["handoff"], row["owner"])
        assert _close(row["p90_business_seconds"], expected["p90_business_seconds"], 3), row["owner"]
    teams = {(row["handoff"], row["team"]): row for row in _rows(panels["Compliance per team"])}
    expected_teams = {(h, team): line for h, lines in report["sla_by_team"].items() for team, line in lines.items()}
    assert sorted(teams) == sorted(expected_teams) and {t for _, t in teams} >= {"emea", "amer", "(no team)"}
    for key, expected in expected_teams.items():
        assert {k: teams[key][k] for k in COUNTS} == {k: expected[k] for k in COUNTS}, key
        assert _close(teams[key]["compliance"], expected["compliance"]), key
        assert _close(teams[key]["p90_business_seconds"], expected["p90_business_seconds"], 3), key
    # clocks running at the end, whenever they started = the report's open clocks of all time, as of the end
    everything = _report(store, date(2026, 10, 1), end)
    running = _one(panels["Open clocks"])["open_clocks"]
    assert running == sum(h["open"] for h in everything["sla"].values())
    assert 0 <= _one(panels["Due within the hour"])["due_within_hour"] <= running
    breached = sum(h["breached"] for h in everything["sla"].values())
    assert 0 <= _one(panels["Breaches today"])["breaches_today"] <= breached
    current = _rows(panels["Current breaches"])
    assert len(current) <= breached
    assert all(row["overdue_seconds"] > 0 for row in current)


def _plan(days: int) -> dict[str, int]:
    """The goal of `days` days of the agreement, worked backwards per contract §3, with exact fractions."""
    goals = AGREEMENT.goals
    period = (AGREEMENT.effective_to - AGREEMENT.effective_from).days
    revenue = Fraction(goals.revenue) * days / period
    rate = {k: Fraction(Decimal(str(v))) for k, v in goals.rates.model_dump().items()}
    customer = math.ceil(revenue / Fraction(goals.average_deal_size))
    opportunity = math.ceil(customer / rate["opportunity_to_customer"])
    sql = math.ceil(opportunity / rate["sql_to_opportunity"])
    mql = math.ceil(sql / rate["mql_to_sql"])
    lead = math.ceil(mql / rate["lead_to_mql"])
    visits = math.ceil(lead / rate["visit_to_lead"])
    return {"visits": visits, "lead": lead, "mql": mql, "sql": sql, "opportunity": opportunity, "customer": customer}


def _won(path: Path, start: datetime, end: datetime, currency: str) -> tuple[Decimal, dict[str, Decimal]]:
    """Revenue of deals whose first `won` event lies in [start, end), from the simulated file itself:
    in `currency`, and per other currency."""
    first: dict[str, Event] = {}
    seen: set[tuple[str, str]] = set()
    for line in path.read_bytes().splitlines():
        event = parse_event(line)
        if not isinstance(event, Event) or (event.source, event.id) in seen:
            continue
        seen.add((event.source, event.id))
        if event.type == "crm.deal_changed" and event.deal_stage == "won" and event.deal_id:
            known = first.get(event.deal_id)
            if known is None or (event.time, event.source, event.id) < (known.time, known.source, known.id):
                first[event.deal_id] = event
    won: dict[str, Decimal] = defaultdict(Decimal)
    for e in first.values():
        if start <= e.time < end:
            won[e.currency or ""] += e.amount or Decimal(0)
    return won.pop(currency, Decimal(0)), dict(won)


def test_goals_panels_follow_the_contract(
    checked: tuple[dict[str, Any], dict[str, Any], date], simulated: tuple[Path, SimulationSummary]
) -> None:
    panels, report, end = checked
    start = next(s for s, e in RANGES if e == end)
    plan = _plan((end - start).days)
    assert report["plan"] == plan
    rows = {row["stage"]: row for row in _rows(panels["Goal worked backwards vs. actuals"])}
    assert {k: rows[k]["goal"] for k in plan} == plan
    counts = {"visits": report["counts"]["visits"], **{s: report["counts"][s] for s in STAGES}}
    assert {k: rows[k]["actual"] for k in plan} == {k: counts[k] for k in plan}
    for key, row in rows.items():
        assert _close(row["pacing"], counts[key] / plan[key]), key
        if "pacing" in report:  # judged at the end of the range, all of its business time has elapsed
            assert _close(row["pacing"], report["pacing"]["stages"][key]["pace"]), key
    currency = AGREEMENT.goals.currency
    won, others = _won(simulated[0], _instant(start), _instant(end), currency)
    expected_goal = Fraction(AGREEMENT.goals.revenue) * (end - start).days / 184
    revenue = _one(panels["Revenue"])
    assert revenue["won"] == pytest.approx(float(won)) == pytest.approx(float(report["revenue"]["won"]))
    assert revenue["goal"] == pytest.approx(float(expected_goal), rel=1e-9)
    assert revenue["goal"] == pytest.approx(float(report["revenue"]["goal"]), abs=0.005)
    assert _close(revenue["attainment"], report["revenue"]["attainment"])
    other = {row["currency"]: row for row in _rows(panels["Won in other currencies"])}
    assert {c: pytest.approx(float(v)) for c, v in others.items()} == {c: r["won"] for c, r in other.items()}
    assert {c: float(r["won"]) for c, r in report["revenue"]["other_currencies"].items()} == {
        c: r["won"] for c, r in other.items()
    }
    pacing = _rows(panels["Revenue pacing"])
    assert pacing[-1]["won"] == pytest.approx(float(won)) and pacing[-1]["goal"] == pytest.approx(float(expected_goal))
    assert all(a["won"] <= b["won"] and a["goal"] <= b["goal"] for a, b in itertools.pairwise(pacing))
