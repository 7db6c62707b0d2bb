"""The monthly report as one self-contained HTML page: jinja2 templates, inline CSS and inline SVG charts.

Every figure from the report is written through `figure(path, kind)`, which tags it with `data-path` (its
place in `leadflow report --format json`) and `data-value` (the JSON value), so a reader's number and
the JSON can be checked against each other.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from pipelines.core.funnel import PAIRS
from services.monthly import charts
from services.monthly.data import MonthlyData

TEMPLATES = Path(__file__).with_name("templates")
PLANNED = (("visits", "Visits"), ("lead", "Leads"), ("mql", "MQLs"))
SALES_PLANNED = (("sql", "SQLs"), ("opportunity", "Opportunities (proposals)"), ("customer", "Customers"))


def lookup(report: dict[str, Any], path: Sequence[str | int]) -> Any:
    """Return the value at `path` (keys, and indexes into lists) in the report; None where nothing is."""
    value: Any = report
    for key in path:
        if isinstance(value, dict):
            value = value.get(key)
        elif isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
            value = value[key]
        else:
            return None
    return value


def show(value: Any, kind: str, zone: ZoneInfo | None = None) -> str:
    """Format a report value for people: counts with separators, ratios as %, money, business durations."""
    if value is None:
        return "—"
    if kind == "count":
        whole = isinstance(value, int) or float(value).is_integer() or abs(value) >= 100
        return f"{value:,.0f}" if whole else f"{value:,.1f}"
    if kind == "percent":
        return f"{value:.1%}"
    if kind == "money":
        return f"{float(value):,.2f}"
    if kind == "duration":
        return _duration(float(value))
    if kind == "hours":
        return f"{value / 3600:,.1f} h"
    if kind == "time":
        return datetime.fromisoformat(value).astimezone(zone or ZoneInfo("UTC")).strftime("%d %b %H:%M %Z")
    return str(value)


def _duration(value: float) -> str:
    """Calendar seconds as minutes, hours or days, whichever reads best."""
    if value < 3600:
        return f"{value / 60:,.1f} min"
    if value < 2 * 86400:
        return f"{value / 3600:,.1f} h"
    return f"{value / 86400:,.1f} d"


def _figure_tag(report: dict[str, Any]) -> Any:
    zone = ZoneInfo(report["window"]["timezone"])

    def figure(path: Sequence[str | int], kind: str = "count") -> Markup:
        value = lookup(report, path)
        return Markup('<span class="fig" data-path="{}" data-value="{}">{}</span>').format(
            json.dumps(list(path)), json.dumps(value), show(value, kind, zone)
        )

    return figure


def _line(report: dict[str, Any], key: str, label: str) -> dict[str, Any]:
    line = report["pacing"]["stages"][key]
    actual, planned, pace = line["actual"], line["plan"], line["pace"]
    of_plan = actual / planned if planned else None
    short = f"{actual:,}" + (f" of {planned:,}" if planned else "")
    lagged = line.get("pace_lagged")
    return {
        "key": key,
        "label": label,
        "of_plan": of_plan,
        "pace": pace,
        "pace_lagged": lagged,
        "short": short,
        "money": False,
    }


def _revenue_line(report: dict[str, Any]) -> dict[str, Any]:
    line = report["pacing"]["revenue"]
    won, goal = float(line["actual"]), float(line["goal"])
    short = f"{won:,.0f} of {goal:,.0f} {line['currency']}"
    pace = line["pace"]
    return {
        "key": "revenue",
        "label": "Revenue won",
        "of_plan": won / goal if goal else None,
        "pace": pace,
        "short": short,
        "money": True,
    }


def scorecard(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Return the plan-based lines of the two sides of the scorecard (empty without a goal)."""
    if not report["plan"]:
        return {}
    marketing = [_line(report, key, label) for key, label in PLANNED]
    sales = [*(_line(report, key, label) for key, label in SALES_PLANNED), _revenue_line(report)]
    return {"Marketing": marketing, "Sales": sales}


def follow_up(report: dict[str, Any]) -> str | None:
    """Return the handoff that times sales' follow-up of MQLs (one that starts on `mql`), if the report has it."""
    names = report["feedback"]["mql_acceptance"]["follow_up_handoffs"]
    return next((name for name in names if name in report["sla"]), None)


def _charts(report: dict[str, Any], data: MonthlyData, sides: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    drawn = {
        "funnel": charts.funnel_chart(report["counts"], report["plan"], report["conversion"]),
        "rates": charts.rates_chart(data.history),
        "timing": charts.time_chart(report["time_to_convert_histogram"], data.history),
        "feedback": charts.feedback_chart(report["feedback"]["mql_acceptance"], report["feedback"]["reasons"]),
    }
    if sides:
        drawn["scorecard"] = charts.scorecard_chart(sides, report["pacing"]["elapsed_share"] or 0.0)
        currency = report["revenue"]["currency"]
        drawn["pacing"] = charts.pacing_chart(data.days, data.cumulative, data.expected, currency)
    if report["sla_by_owner"]:
        drawn["sla"] = charts.sla_chart(report["sla_by_owner"], report["sla"])
    return drawn


def title_of(report: dict[str, Any]) -> str:
    """Return 'November 2026' for a whole month, else the window's dates."""
    window = report["window"]
    start, end = datetime.fromisoformat(window["from"]), datetime.fromisoformat(window["to"])
    if start.day == 1 and end.day == 1 and (end.year * 12 + end.month) - (start.year * 12 + start.month) == 1:
        return f"{start:%B %Y}"
    return f"{window['from']} to {window['to']}"


def render_html(data: MonthlyData, generated_at: datetime) -> str:
    """Render the monthly report as one HTML document."""
    report = data.report
    sides = scorecard(report)
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined
    )
    template = environment.get_template("monthly.html.j2")
    return template.render(
        report=report,
        data=data,
        title=title_of(report),
        sides=sides,
        follow_up=follow_up(report),
        charts={name: Markup(svg) for name, svg in _charts(report, data, sides).items()},
        css=Markup((TEMPLATES / "monthly.css").read_text(encoding="utf-8")),  # our own file, not input
        fig=_figure_tag(report),
        show=show,
        pairs=PAIRS,
        rate_labels=charts.RATE_LABELS,
        pair_labels=charts.PAIR_LABELS,
        labels=charts.LABELS,
        pace_colour=charts.pace_colour,
        generated_at=generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
