"""Charts of the monthly report, drawn by matplotlib as inline SVG (text kept as text, no network, no files)."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter
from matplotlib.typing import RcKeyType

from pipelines.core.funnel import PAIRS

FADED = 0.3  # months whose cohorts may still go on: drawn, but faded
MARKETING, SALES, PLAN, GRID = "#2563eb", "#0f766e", "#9ca3af", "#e5e7eb"
GOOD, WARN, BAD, MUTED, INK = "#16a34a", "#d97706", "#dc2626", "#6b7280", "#111827"
STYLE: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",  # text stays text: searchable, selectable, checked by the tests
    "svg.hashsalt": "leadflow",  # the same report gives the same bytes
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.edgecolor": GRID,
    "axes.labelcolor": INK,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": MUTED,
    "ytick.color": INK,
}
LABELS = {
    "visits": "Visits",
    "lead": "Leads",
    "mql": "MQLs",
    "sal": "SALs",
    "sql": "SQLs",
    "opportunity": "Opportunities",
    "customer": "Customers",
    "revenue": "Revenue",
}
PAIR_LABELS = {
    "lead_to_mql": "Lead → MQL",
    "mql_to_sal": "MQL → SAL",
    "sal_to_sql": "SAL → SQL",
    "sql_to_opportunity": "SQL → opportunity",
    "opportunity_to_customer": "Opportunity → customer",
}
RATE_LABELS = {
    "visit_to_lead": "Visit → lead",
    "lead_to_mql": "Lead → MQL",
    "mql_to_sql": "MQL → SQL",
    "sql_to_opportunity": "SQL → opportunity",
    "opportunity_to_customer": "Opportunity → customer",
}


def pace_colour(pace: float | None) -> str:
    """Green on or above pace, amber within 15 % of it, red below that."""
    if pace is None:
        return MUTED
    return GOOD if pace >= 1 else WARN if pace >= 0.85 else BAD


def _svg(figure: Figure, name: str) -> str:
    """Render a figure as an <svg> element whose ids cannot clash with another chart's on the same page."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None}, transparent=True)
    text = buffer.getvalue()
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text[text.index("<svg") :], flags=re.DOTALL)
    text = re.sub(r'id="([^"]+)"', rf'id="{name}-\1"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{name}-\1)", text)
    return re.sub(r'href="#([^"]+)"', rf'href="#{name}-\1"', text)


@contextmanager
def _figure(width: float, height: float, name: str, out: list[str]) -> Iterator[Figure]:
    with rc_context(STYLE):
        figure = Figure(figsize=(width, height), layout="constrained")
        yield figure
        out.append(_svg(figure, name))


def _number(value: float) -> str:
    return f"{value:,.0f}"


def _percent_of(axes: Axes) -> None:
    axes.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    axes.grid(axis="x", color=GRID, linewidth=0.8)
    axes.set_axisbelow(True)


def scorecard_chart(sides: Mapping[str, Sequence[dict[str, Any]]], elapsed: float) -> str:
    """Bars of each scorecard line's share of its plan, with the share expected by now marked."""
    out: list[str] = []
    rows = max(len(lines) for lines in sides.values())
    with _figure(10, 0.38 * rows + 0.9, "scorecard", out) as figure:
        for axes, (side, lines) in zip(figure.subplots(1, len(sides), sharex=True), sides.items(), strict=True):
            names = [line["label"] for line in lines][::-1]
            shares = [min(line["of_plan"] or 0.0, 1.5) for line in lines][::-1]
            colours = [pace_colour(line["pace"]) for line in lines][::-1]
            axes.barh(names, shares, color=colours, height=0.55)
            axes.axvline(1.0, color=INK, linewidth=1)
            axes.axvline(elapsed, color=MUTED, linewidth=1, linestyle="--")
            for y, line in enumerate(lines[::-1]):
                axes.text(min(line["of_plan"] or 0, 1.5) + 0.02, y, line["short"], va="center", fontsize=8.5)
            axes.set_xlim(0, 1.75)
            axes.set_title(f"{side}: share of plan (dashed: expected by now, {elapsed:.0%})", loc="left")
            _percent_of(axes)
    return out[0]


def funnel_chart(counts: Mapping[str, int], plan: Mapping[str, int], conversion: Mapping[str, float | None]) -> str:
    """Funnel stages as bars on a log scale, the plan as an outline, next-step conversion in the labels."""
    out: list[str] = []
    stages = ["visits", "lead", "mql", "sal", "sql", "opportunity", "customer"]
    with _figure(10, 3.8, "funnel", out) as figure:
        axes = figure.subplots()
        ys = list(range(len(stages)))[::-1]
        axes.barh(ys, [counts[s] or math.nan for s in stages], color=MARKETING, height=0.6, label="actual")
        planned = [(y, plan[s]) for y, s in zip(ys, stages, strict=True) if plan.get(s)]
        axes.barh(
            [y for y, _ in planned],
            [p for _, p in planned],
            height=0.6,
            fill=False,
            edgecolor=INK,
            linewidth=1.2,
            linestyle="--",
            label="plan",
        )
        for y, stage in zip(ys, stages, strict=True):
            label = _number(counts[stage]) + (f" (plan {_number(plan[stage])})" if plan.get(stage) else "")
            axes.text(max(counts[stage], plan.get(stage, 0), 1) * 1.15, y, label, va="center", fontsize=8.5)
        axes.set_yticks(ys, [_stage_label(s, conversion) for s in stages])
        axes.set_xscale("log")
        top = max([*counts.values(), *plan.values(), 10])
        axes.set_xlim(0.7, top * 30)
        axes.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _number(v) if v >= 1 else ""))
        axes.set_title("Stage entries in the month (log scale); dashed outline: plan", loc="left")
        axes.legend(loc="lower right", frameon=False)
    return out[0]


def _stage_label(stage: str, conversion: Mapping[str, float | None]) -> str:
    into = next((name for name, _, later in PAIRS if later == stage), None)
    value = conversion.get(into) if into else None
    return LABELS[stage] if value is None else f"{LABELS[stage]}\n{value:.1%} of previous"


def rates_chart(history: Sequence[dict[str, Any]]) -> str:
    """One panel per agreement rate: the monthly rate against the agreement's target."""
    out: list[str] = []
    labels = [line["label"].replace(" 20", "\n'") for line in history]
    x = list(range(len(history)))
    with _figure(10, 2.6, "rates", out) as figure:
        for axes, name in zip(figure.subplots(1, len(RATE_LABELS)), RATE_LABELS, strict=True):
            actual = [math.nan if line["rates"][name] is None else line["rates"][name] for line in history]
            target = [math.nan if line["targets"][name] is None else line["targets"][name] for line in history]
            axes.plot(x, target, color=INK, linestyle="--", linewidth=1.2, drawstyle="steps-mid", label="target")
            axes.plot(x, actual, color=MARKETING, marker="o", linewidth=2, label="actual")
            axes.set_xticks(x, labels)
            axes.set_xlim(-0.5, len(x) - 0.5)
            axes.set_title(RATE_LABELS[name], loc="left", fontsize=9)
            axes.yaxis.set_major_formatter(
                PercentFormatter(1.0, decimals=1 if max(_finite(actual, target)) < 0.1 else 0)
            )
            axes.set_ylim(0, max(_finite(actual, target)) * 1.3 or 1)
            axes.tick_params(axis="x", labelsize=7)
            axes.grid(axis="y", color=GRID, linewidth=0.8)
        figure.legend(*axes.get_legend_handles_labels(), loc="outside lower center", ncols=2, frameon=False)
    return out[0]


def _finite(*lines: Sequence[float]) -> list[float]:
    values = [v for line in lines for v in line if not math.isnan(v)]
    return values or [0.0]


def pacing_chart(
    days: Sequence[date],
    cumulative: Mapping[str, Sequence[float | None]],
    expected: Mapping[str, Sequence[float]],
    currency: str,
) -> str:
    """Cumulative actual per day against the goal prorated by business days, for each stage and revenue."""
    out: list[str] = []
    keys = ["visits", "lead", "mql", "sql", "customer", "revenue"]
    with _figure(10, 4.8, "pacing", out) as figure:
        for axes, key in zip(figure.subplots(2, 3).flat, keys, strict=True):
            x = [d.day for d in days]
            actual = [math.nan if v is None else v for v in cumulative[key]]
            axes.plot(
                x, expected[key], color=INK, linestyle="--", linewidth=1.2, label="goal, prorated by business days"
            )
            colour = SALES if key in ("sql", "customer", "revenue") else MARKETING
            axes.plot(x, actual, color=colour, linewidth=2.2, label="actual, cumulative")
            last = next((v for v in reversed(actual) if not math.isnan(v)), 0.0)
            goal = expected[key][-1] if expected[key] else 0.0
            unit = f" {currency}" if key == "revenue" else ""
            axes.set_title(f"{LABELS[key]}: {_number(last)}{unit} of {_number(goal)}", loc="left", fontsize=9)
            axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _short(v)))
            axes.grid(color=GRID, linewidth=0.8)
            axes.set_xlim(1, max(x[-1], 2))
            axes.set_xlabel(f"day of {days[0]:%B}" if days[0].month == days[-1].month else "day", color=MUTED)
        figure.legend(*axes.get_legend_handles_labels(), loc="outside lower center", ncols=2, frameon=False)
    return out[0]


def _short(value: float) -> str:
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.0f}"


def sla_chart(by_owner: Mapping[str, Mapping[str, Mapping[str, Any]]], overall: Mapping[str, Mapping[str, Any]]) -> str:
    """Per handoff, each owner's clocks met, breached and open, with the owner's compliance."""
    out: list[str] = []
    handoffs = sorted(by_owner)
    owners = max((len(by_owner[h]) for h in handoffs), default=1)
    with _figure(10, 0.32 * owners + 1.4, "sla", out) as figure:
        panels = figure.subplots(1, max(len(handoffs), 1), squeeze=False)[0]
        for axes, handoff in zip(panels, handoffs, strict=False):
            lines = by_owner[handoff]
            names = list(lines)[::-1]
            left = [0.0] * len(names)
            for status, colour in (("met", GOOD), ("breached", BAD), ("open", PLAN)):
                values = [lines[n][status] for n in names]
                axes.barh(names, values, left=left, color=colour, height=0.6, label=status)
                left = [a + b for a, b in zip(left, values, strict=True)]
            for y, name in enumerate(names):
                compliance = lines[name]["compliance"]
                text = "—" if compliance is None else f"{compliance:.0%}"
                axes.text(left[y] + 0.3, y, text, va="center", fontsize=8)
            total = overall.get(handoff, {}).get("compliance")
            axes.set_title(f"{handoff}: {'—' if total is None else f'{total:.1%}'} compliance", loc="left")
            axes.set_xlim(0, max(left, default=1) * 1.18 + 1)
            axes.grid(axis="x", color=GRID, linewidth=0.8)
            axes.set_axisbelow(True)
        figure.legend(*panels[0].get_legend_handles_labels(), loc="outside lower center", ncols=3, frameon=False)
    return out[0]


def feedback_chart(acceptance: Mapping[str, Any], reasons: Mapping[str, Mapping[str, int]]) -> str:
    """MQLs by sales' first decision, and the reasons given for handing leads back."""
    out: list[str] = []
    outcomes = [("accepted", GOOD), ("recycled", WARN), ("disqualified", BAD), ("unworked", INK), ("pending", PLAN)]
    with _figure(10, 3.2, "feedback", out) as figure:
        left, right = figure.subplots(1, 2, width_ratios=(1, 1.3))
        names = [name for name, _ in outcomes][::-1]
        values = [acceptance[name] for name in names]
        left.barh(names, values, color=[c for _, c in outcomes][::-1], height=0.6)
        for y, value in enumerate(values):
            left.text(value + 0.3, y, _number(value), va="center", fontsize=8.5)
        rate = acceptance["acceptance_rate"]
        left.set_title(f"MQLs by sales' decision: {'—' if rate is None else f'{rate:.1%}'} accepted", loc="left")
        left.set_xlim(0, max([*values, 1]) * 1.2)
        items = [
            (f"{why} ({kind})", n, WARN if kind == "recycled" else BAD)
            for kind in reasons
            for why, n in reasons[kind].items()
        ]
        items.sort(key=lambda item: item[1])
        right.barh(
            [i[0] for i in items] or ["none"],
            [i[1] for i in items] or [0],
            color=[i[2] for i in items] or [PLAN],
            height=0.6,
        )
        right.set_title("Reasons given when handing leads back", loc="left")
        for axes in (left, right):
            axes.grid(axis="x", color=GRID, linewidth=0.8)
            axes.set_axisbelow(True)
    return out[0]


def time_chart(bins: Mapping[str, Mapping[str, int]], history: Sequence[dict[str, Any]]) -> str:
    """Per funnel pair: the month's members that went on in fixed bins of time, and p50/p90 by month, in days."""
    out: list[str] = []
    labels = [line["label"].replace(" 20", "\n'") for line in history]
    x = list(range(len(history)))
    with _figure(10, 4.6, "timing", out) as figure:
        grid = figure.subplots(2, len(PAIR_LABELS))
        for column, (pair, title) in enumerate(PAIR_LABELS.items()):
            counts = bins.get(pair, {})
            top, bottom = grid[0][column], grid[1][column]
            top.bar(range(len(counts)), list(counts.values()), color=SALES, width=0.7)
            top.set_xticks(range(len(counts)), list(counts), rotation=90, fontsize=7)
            top.set_title(title, loc="left", fontsize=9)
            top.grid(axis="y", color=GRID, linewidth=0.8)
            top.set_axisbelow(True)
            for key, style in (("p50_seconds", "-"), ("p90_seconds", "--")):
                days = [_days(line["time_to_convert"][pair][key]) for line in history]
                bottom.plot(x, days, color=MARKETING, linestyle=style, alpha=FADED, marker="o", markersize=3)
                mature = [math.nan if line["immature"][pair] else d for line, d in zip(history, days, strict=True)]
                bottom.plot(x, mature, color=MARKETING, linestyle=style, marker="o", markersize=3, label=key[:3])
            bottom.set_xticks(x, labels)
            bottom.tick_params(axis="x", labelsize=7)
            bottom.set_xlim(-0.5, len(x) - 0.5)
            bottom.grid(axis="y", color=GRID, linewidth=0.8)
        grid[0][0].set_ylabel("went on", color=MUTED)
        grid[1][0].set_ylabel("days", color=MUTED)
        figure.legend(*grid[1][0].get_legend_handles_labels(), loc="outside lower center", ncols=2, frameon=False)
    return out[0]


def _days(value: float | None) -> float:
    return math.nan if value is None else value / 86400
