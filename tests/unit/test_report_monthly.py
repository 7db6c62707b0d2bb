"""The monthly report's HTML, charts and figures, rendered from hand-made report data (no store, no browser)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest

from pipelines.core.timing import BINS
from services.monthly import charts
from services.monthly.data import MonthlyData
from services.monthly.render import lookup, render_html, show, title_of

STAGES = ("lead", "mql", "sal", "sql", "opportunity", "customer")
TIME_LINE = {"n": 1, "p50_seconds": 5400.0, "p90_seconds": 259200.5}
NOBODY = {"n": 0, "p50_seconds": None, "p90_seconds": None}


class Figures(HTMLParser):
    """Collects data-path/data-value pairs, chart names and headings."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: list[tuple[list[Any], Any]] = []
        self.charts: list[str] = []
        self.headings: list[str] = []
        self._heading = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if "data-path" in found:
            self.figures.append((json.loads(found["data-path"] or ""), json.loads(found["data-value"] or "")))
        if "data-chart" in found:
            self.charts.append(found["data-chart"] or "")
        self._heading = tag == "h2"

    def handle_data(self, data: str) -> None:
        if self._heading and data.strip():
            self.headings.append(data.strip())
            self._heading = False


def empty_report() -> dict[str, Any]:
    """A report of a window no agreement covers: no plan, no SLA, a few leads."""
    counts = {"visits": 40, "visitors": 30, "lead": 4, "mql": 2, "sal": 1, "sql": 1, "opportunity": 0, "customer": 0}
    pairs = (
        "visit_to_lead",
        "lead_to_mql",
        "mql_to_sal",
        "sal_to_sql",
        "sql_to_opportunity",
        "opportunity_to_customer",
    )
    return {
        "window": {
            "from": "2027-03-01",
            "to": "2027-04-01",
            "timezone": "UTC",
            "agreement": None,
            "start": "2027-03-01T00:00:00+00:00",
            "end": "2027-04-01T00:00:00+00:00",
            "as_of": "2027-03-20T10:00:00+00:00",
        },
        "counts": counts,
        "conversion": dict.fromkeys(pairs, 0.5),
        "cohort": dict.fromkeys(pairs, 0.25),
        "cohort_mature": dict.fromkeys(pairs, 0.5) | {"customer": None},
        "cohort_sizes": {
            p: {"entered": 4, "went_on": 1, "mature": 2, "mature_went_on": 1, "window_days": 30} for p in pairs
        },
        "time_to_convert": {p: TIME_LINE for p in pairs[1:]} | {"sal_to_sql": NOBODY},
        "time_to_convert_by_source": {p: {"(direct)": {"spring <sale>": TIME_LINE}} for p in pairs[1:]},
        "time_to_convert_by_owner": {p: {"rep-01": TIME_LINE} for p in pairs[1:]},
        "time_to_convert_histogram": {p: dict.fromkeys((b for b, _ in BINS), 0) | {"1h-1d": 1} for p in pairs[1:]},
        "conversion_cumulative": {f"visit_to_{s}": 0.1 for s in STAGES},
        "sla": {},
        "sla_by_owner": {},
        "worst_breaches": [],
        "feedback": {
            "mql_acceptance": {
                "mqls": 2,
                "accepted": 1,
                "recycled": 0,
                "disqualified": 1,
                "unworked": 0,
                "pending": 0,
                "acceptance_rate": 0.5,
                "follow_up_handoffs": [],
            },
            "reasons": {"recycled": {}, "disqualified": {"student <intern>": 1}},
        },
        "revenue": {},
        "plan": {},
        "pacing": {},
        "deals": {"created": 0, "proposal": 0, "won": 0, "lost": 0},
        "conversion_targets": {},
    }


def monthly(report: dict[str, Any]) -> MonthlyData:
    days = [date(2027, 3, 1) + timedelta(days=n) for n in range(31)]
    history = [
        {
            "month": f"2026-{m:02d}",
            "label": f"M{m}",
            "counts": {},
            "rates": dict.fromkeys(charts.RATE_LABELS),
            "targets": dict.fromkeys(charts.RATE_LABELS),
            "time_to_convert": dict.fromkeys(charts.PAIR_LABELS, TIME_LINE if m % 2 else NOBODY),
            "immature": dict.fromkeys(charts.PAIR_LABELS, m == 11),
        }
        for m in range(7, 13)
    ]
    keys = ("visits", "lead", "mql", "sql", "customer", "revenue")
    return MonthlyData(
        report=report,
        history=history,
        days=days,
        cumulative={k: [1.0] * 20 + [None] * 11 for k in keys},
        expected={k: [0.0] * 31 for k in keys},
    )


@pytest.fixture(scope="module")
def page() -> str:
    return render_html(monthly(empty_report()), datetime(2027, 3, 20, tzinfo=UTC))


def test_a_window_without_agreement_renders_what_it_has_and_says_what_it_lacks(page: str) -> None:
    report = empty_report()
    parsed = Figures()
    parsed.feed(page)
    assert parsed.charts == ["funnel", "timing", "rates", "feedback"]
    assert "no plan to score against" in page and "No agreement is in force" in page
    assert parsed.headings[:4] == [
        "Scorecard: did each side keep its word?",
        "Funnel",
        "Time to convert",
        "Conversion against the agreement's targets",
    ]
    shown = [path for path, _ in parsed.figures if path[0].startswith("time_to_convert")]
    assert ["time_to_convert_by_source", "mql_to_sal", "(direct)", "spring <sale>", "p90_seconds"] in shown
    assert ["time_to_convert_by_owner", "lead_to_mql", "rep-01", "n"] in shown
    assert (["cohort_mature", "sal_to_sql"], 0.5) in parsed.figures
    assert (["cohort_sizes", "sal_to_sql", "mature"], 2) in parsed.figures
    assert "spring &lt;sale&gt;" in page and "3.0 d" in page and "1.5 h" in page
    assert parsed.figures and all(lookup(report, path) == value for path, value in parsed.figures)
    assert "student &lt;intern&gt;" in page and "<intern>" not in page  # reasons come from the CRM: escaped


def test_the_page_needs_no_network(page: str) -> None:
    assert "<script" not in page and "<link" not in page and "@import" not in page
    addresses = set(re.findall(r"https?://[^\s\"')]+", page))
    assert addresses == {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}  # namespace names, not fetched


def test_chart_ids_are_unique_on_the_page(page: str) -> None:
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)) and ids


def test_charts_keep_their_text_as_text() -> None:
    svg = charts.funnel_chart(
        {"visits": 100, "lead": 10, "mql": 5, "sal": 4, "sql": 3, "opportunity": 2, "customer": 1},
        {"visits": 200, "lead": 20, "mql": 8, "sql": 4, "opportunity": 3, "customer": 1},
        {"visit_to_lead": 0.1, "lead_to_mql": 0.5},
    )
    assert svg.startswith("<svg") and "Customers" in svg and "1 (plan 1)" in svg and "10.0% of previous" in svg
    assert charts.funnel_chart.__doc__ and svg == charts.funnel_chart(
        {"visits": 100, "lead": 10, "mql": 5, "sal": 4, "sql": 3, "opportunity": 2, "customer": 1},
        {"visits": 200, "lead": 20, "mql": 8, "sql": 4, "opportunity": 3, "customer": 1},
        {"visit_to_lead": 0.1, "lead_to_mql": 0.5},
    )  # the same data draws the same bytes


def test_immature_months_are_drawn_faded() -> None:
    history = monthly(empty_report()).history
    faded = charts.time_chart({}, history)
    solid = charts.time_chart({}, [{**line, "immature": dict.fromkeys(charts.PAIR_LABELS, False)} for line in history])
    assert faded != solid and f"opacity: {charts.FADED}" in faded


def test_figures_are_shown_for_people() -> None:
    assert show(5730, "count") == "5,730" and show(16750.0, "count") == "16,750" and show(63.81, "count") == "63.8"
    assert show(67.0, "count") == "67" and show(21.0, "count") == "21"
    assert show(0.734513, "percent") == "73.5%" and show("195652.17", "money") == "195,652.17"
    assert show(30109.9, "hours") == "8.4 h" and show(None, "percent") == "—"
    assert show(90.0, "duration") == "1.5 min" and show(7200, "duration") == "2.0 h"
    assert show(172800, "duration") == "2.0 d"
    assert show("2026-11-02T08:15:30+00:00", "time") == "02 Nov 08:15 UTC"


def test_lookup_follows_keys_and_list_indexes() -> None:
    report = {"a": {"b": [{"c": 1}]}}
    assert lookup(report, ["a", "b", 0, "c"]) == 1
    assert lookup(report, ["a", "x"]) is None and lookup(report, ["a", "b", 3]) is None


def test_a_whole_month_is_titled_by_its_name() -> None:
    assert title_of({"window": {"from": "2026-11-01", "to": "2026-12-01"}}) == "November 2026"
    assert title_of({"window": {"from": "2026-12-01", "to": "2027-01-01"}}) == "December 2026"
    assert title_of({"window": {"from": "2026-11-01", "to": "2026-11-15"}}) == "2026-11-01 to 2026-11-15"
