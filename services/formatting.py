"""Reports for people: rich tables of the report's sections."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.table import Table

from pipelines.core.funnel import PAIRS


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def report_tables(report: dict[str, Any]) -> Group:
    """Return the counts, conversion and cohort sections as tables."""
    window = report["window"]
    title = f"{window['from']} → {window['to']} ({window['timezone']}), as of {window['as_of']}"
    counts = Table(title=f"Funnel {title}", title_justify="left")
    for column in ("stage", "entries", "period conversion", "cohort conversion"):
        counts.add_column(column, justify="right" if column != "stage" else "left")
    counts.add_row("visits", str(report["counts"]["visits"]), "", "")
    counts.add_row("visitors", str(report["counts"]["visitors"]), "", "")
    for name, _, stage in PAIRS:
        counts.add_row(
            stage, str(report["counts"][stage]), _pct(report["conversion"][name]), _pct(report["cohort"][name])
        )
    if not report.get("sla"):
        return Group(counts)
    sla = Table(title="SLA handoffs (clocks started in the window)", title_justify="left")
    columns = ("handoff", "started", "met", "breached", "open", "compliance", "p50", "p90", "escalated", "reassign")
    for column in columns:
        sla.add_column(column, justify="left" if column == "handoff" else "right", no_wrap=column == "handoff")
    for name, line in report["sla"].items():
        sla.add_row(
            name,
            *(str(line[k]) for k in ("started", "met", "breached", "open")),
            _pct(line["compliance"]),
            _duration(line["p50_business_seconds"]),
            _duration(line["p90_business_seconds"]),
            *(str(line[k]) for k in ("escalated", "reassign_suggested")),
        )
    return Group(counts, sla)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def goal_tables(report: dict[str, Any]) -> Group:
    """Return the plan, pacing and revenue sections and the feedback from sales as tables."""
    tables: list[Any] = []
    revenue, pacing = report.get("revenue"), report.get("pacing")
    if revenue:
        tables.append(
            f"[bold]Revenue[/bold] won {revenue['won']} {revenue['currency']} in {revenue['deals_won']} deal(s) "
            f"of a goal of {revenue['goal']}: {_pct(revenue['attainment'])}"
        )
    if pacing:
        title = (
            f"Goal pacing: {pacing['business_days_elapsed']:g} of {pacing['business_days']} business days elapsed "
            f"({_pct(pacing['elapsed_share'])})"
        )
        table = Table(title=title, title_justify="left")
        for column in ("measure", "actual", "expected by now", "plan", "pace", "projected"):
            table.add_column(column, justify="left" if column == "measure" else "right")
        for key, line in pacing["stages"].items():
            table.add_row(
                key,
                f"{line['actual']:,}",
                _number(line["expected"]),
                f"{line['plan']:,}",
                _pct(line["pace"]),
                _number(line["projected"]),
            )
        money = pacing["revenue"]
        table.add_row(
            f"revenue ({money['currency']})",
            # amounts are decimal strings, or floats once a window is prorated over several agreements
            str(money["actual"]),
            str(money["expected"]),
            str(money["goal"]),
            _pct(money["pace"]),
            str(money["projected"] or "—"),
        )
        tables.append(table)
        for currency, other in report["revenue"]["other_currencies"].items():
            tables.append(f"[yellow]not summed:[/yellow] {other['won']} {currency} won in {other['deals_won']} deal(s)")
    feedback = report.get("feedback")
    if feedback:
        tables.append(_feedback_table(feedback))
    return Group(*tables)


def _feedback_table(feedback: dict[str, Any]) -> Table:
    acceptance = feedback["mql_acceptance"]
    title = f"Feedback from sales: {_pct(acceptance['acceptance_rate'])} of {acceptance['mqls']} MQLs accepted"
    table = Table(title=title, title_justify="left")
    for column in (
        "accepted",
        "recycled",
        "disqualified",
        "unworked",
        "pending",
        "reasons given (recycled / disqualified)",
    ):
        table.add_column(column, justify="left" if column.startswith("reasons") else "right")
    reasons = "; ".join(
        f"{kind}: " + ", ".join(f"{why} {n}" for why, n in found.items())
        for kind, found in feedback["reasons"].items()
        if found
    )
    outcomes = ("accepted", "recycled", "disqualified", "unworked", "pending")
    table.add_row(*(str(acceptance[k]) for k in outcomes), reasons or "—")
    return table


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def print_report(report: dict[str, Any], console: Console | None = None) -> None:
    """Print the report as tables."""
    (console or Console()).print(report_tables(report), goal_tables(report))
