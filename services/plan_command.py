"""`leadflow plan`: an agreement's revenue goal worked backwards, and with --from-actuals rates for the next one."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from rich.console import Console, Group
from rich.table import Table

from pipelines.agreements import in_force, load_agreements
from pipelines.core.planning import RATE_PAIRS, GoalShare, goal_shares, json_amount
from pipelines.settings import load_settings
from pipelines.store.client import Store
from schemas.agreement import Agreement
from services.arguments import aware_instant, store_day
from services.errors import UsageError
from services.plan import plan_section, share_json
from services.plan_by_month import by_month_section
from services.plan_lags import lags_json, observed_json, observed_lags, resolve_lags
from services.report import report_window

T = TypeVar("T")

STEP_LABELS = {
    "customer": "customers",
    "opportunity": "opportunities",
    "sql": "SQLs",
    "mql": "MQLs",
    "lead": "leads",
    "visits": "visits",
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add `leadflow plan` to the subcommands."""
    p = sub.add_parser("plan", help="an agreement's revenue goal worked backwards to the visits it needs")
    p.add_argument("--agreement", help="the agreement by name (default: the one in force today, else the next)")
    p.add_argument("--month", help="plan one month, YYYY-MM (its prorated share of the goal)")
    p.add_argument("--from", dest="start", type=store_day, help="first day of a window (inclusive)")
    p.add_argument("--to", dest="end", type=store_day, help="last day of a window (exclusive)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--by-month", action="store_true", help="in which month each stage's entries are needed (lags)")
    p.add_argument(
        "--lags-from-actuals",
        action="store_true",
        help="plan by month with the median times observed (reads the store)",
    )
    actuals = p.add_argument_group("rates for the next agreement (reads the store)")
    actuals.add_argument("--from-actuals", action="store_true", help="propose rates from observed monthly cohorts")
    actuals.add_argument("--months", type=int, default=6, help="trailing months of cohorts (default 6)")
    actuals.add_argument("--maturity-days", type=int, default=30, help="days a month's cohort needs after it ends")
    actuals.add_argument("--min-sample", type=int, default=30, help="fewest entries to propose a rate (default 30)")
    actuals.add_argument("--as-of", type=aware_instant, help="judge cohorts as of this instant")
    p.set_defaults(handler=run_plan)


MAX_MONTHS, MAX_MATURITY_DAYS = 120, 3660


def _window(args: argparse.Namespace, agreements: Sequence[Agreement], today: date) -> tuple[date, date]:
    if args.month or args.start or args.end:
        return report_window(args.start, args.end, args.month)
    chosen = _chosen(agreements, today)
    return chosen.effective_from, chosen.effective_to


def _chosen(agreements: Sequence[Agreement], today: date) -> Agreement:
    upcoming = [a for a in agreements if a.effective_from > today]
    chosen = in_force(agreements, today) or (upcoming[0] if upcoming else None)
    if chosen is None:
        raise UsageError("no agreement is in force today or later: give --agreement, --month or --from/--to")
    return chosen


def _agreements(args: argparse.Namespace) -> list[Agreement]:
    agreements = load_agreements(load_settings().agreements)
    if args.agreement:
        agreements = [a for a in agreements if a.name == args.agreement]
        if not agreements:
            raise UsageError(f"no agreement named {args.agreement!r} in LEADFLOW_AGREEMENTS")
    if not agreements:
        raise UsageError("no agreement files in LEADFLOW_AGREEMENTS")
    return agreements


def build_plan(args: argparse.Namespace, now: datetime) -> dict[str, Any]:
    """Return the plan document of `leadflow plan` (see docs/reports.md)."""
    agreements = _agreements(args)
    start, end = _window(args, agreements, now.astimezone(UTC).date())
    shares = goal_shares(agreements, start, end)
    if not shares:
        raise UsageError(f"no agreement is in force between {start} and {end}")
    main = in_force(agreements, start) or shares[0].agreement
    document: dict[str, Any] = {
        "window": {"from": start.isoformat(), "to": end.isoformat()},
        "goal": _goal(shares, main.goals.currency),
        "shares": [share_json(s) for s in shares],
        "plan": plan_section(shares),
    }
    if args.from_actuals:
        document["proposal"] = _with_store(args, now, lambda store, as_of: _proposal(args, main, shares, store, as_of))
    if args.by_month:
        document["by_month"] = _by_month(args, main, shares, now)
    return document


def _goal(shares: Sequence[GoalShare], currency: str) -> dict[str, Any]:
    totals: dict[str, Any] = {}
    for goal in shares:
        totals[goal.currency] = totals.get(goal.currency, 0) + goal.revenue
    others = {c: json_amount(v) for c, v in sorted(totals.items()) if c != currency}
    return {"currency": currency, "revenue": json_amount(totals.get(currency, 0)), "other_currencies": others}


def _with_store(args: argparse.Namespace, now: datetime, use: Callable[[Store, datetime], T]) -> T:
    """Open the store, check the bounds of what is read from it, and call `use` with it and the as-of instant."""
    from pipelines.store.client import open_store
    from services.report import default_as_of

    # bounded so that the cohorts looked at stay within the days the store holds
    if not (1 <= args.months <= MAX_MONTHS and 0 <= args.maturity_days <= MAX_MATURITY_DAYS and args.min_sample >= 1):
        raise UsageError(
            f"--months must be 1 to {MAX_MONTHS}, --maturity-days 0 to {MAX_MATURITY_DAYS}, --min-sample at least 1"
        )
    store = open_store(load_settings())
    try:
        return use(store, args.as_of or default_as_of(store, now))
    finally:
        store.close()


def _proposal(
    args: argparse.Namespace, main: Agreement, shares: Sequence[GoalShare], store: Store, as_of: datetime
) -> dict[str, Any]:
    from services.plan_actuals import proposal_section

    return proposal_section(store, main, shares, as_of, args.months, args.maturity_days, args.min_sample)


def _by_month(args: argparse.Namespace, main: Agreement, shares: Sequence[GoalShare], now: datetime) -> dict[str, Any]:
    """Return the plan by month, with the agreements' lags or, with --lags-from-actuals, the observed ones."""
    observed, about = None, {}
    if args.lags_from_actuals:
        observed, as_of = _with_store(args, now, lambda store, at: (observed_lags(store, main, at, args.months), at))
        about = {"observed": observed_json(as_of, main, args.months)}
    lags = {s.agreement.name: resolve_lags(s.agreement, observed) for s in shares}
    section = by_month_section(shares, lags, now.astimezone(main.zone).date())
    return {"lags": {name: lags_json(line) for name, line in lags.items()}, **about, **section}


def run_plan(args: argparse.Namespace) -> int:
    """Print the plan as JSON or as tables."""
    document = build_plan(args, datetime.now(UTC))
    if args.format == "json":
        print(json.dumps(document, sort_keys=True))
    else:
        Console().print(plan_tables(document))
    return 0


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.2%}" if value >= 0.01 else f"{value:.3%}"


def plan_tables(document: dict[str, Any]) -> Group:
    """Return the plan (and the proposal, if any) as tables."""
    window, goal = document["window"], document["goal"]
    tables: list[Any] = []
    for part in document["shares"]:
        title = (
            f"{part['agreement']}: {part['revenue']} {part['currency']} of {part['period_revenue']} "
            f"({part['shared_days']} of {part['period_days']} days, {part['from']} → {part['to']})"
        )
        table = Table(title=title, title_justify="left")
        for column in ("needed", "how", "count"):
            table.add_column(column, justify="right" if column == "count" else "left")
        table.add_row(
            "customers", f"revenue ÷ average deal {part['average_deal_size']}", f"{part['plan']['customer']:,}"
        )
        for name, earlier, later in reversed(RATE_PAIRS):
            how = f"{STEP_LABELS[later]} ÷ {name} {part['rates'][name]}"
            table.add_row(STEP_LABELS[earlier], how, f"{part['plan'][earlier]:,}")
        tables.append(table)
    total = Table(
        title=f"Plan {window['from']} → {window['to']}: {goal['revenue']} {goal['currency']}", title_justify="left"
    )
    for label in STEP_LABELS.values():
        total.add_column(label, justify="right")
    total.add_row(*(f"{document['plan'][key]:,}" for key in STEP_LABELS))
    tables.append(total)
    if "proposal" in document:
        tables.extend(_proposal_tables(document["proposal"]))
    if "by_month" in document:
        tables.extend(_by_month_tables(document["by_month"]))
    return Group(*tables)


def _by_month_tables(section: dict[str, Any]) -> list[Any]:
    table = Table(title=f"Entries needed by month (today {section['today']})", title_justify="left")
    table.add_column("month")
    for label in STEP_LABELS.values():
        table.add_column(label, justify="right")
    for line in section["months"]:
        month = line["month"] + (
            "  past" if line["status"] == "past" else "  now" if line["status"] == "current" else ""
        )
        cells = (f"{line['needs'][key]:,}" for key in STEP_LABELS)
        table.add_row(month, *cells, style="dim" if line["status"] == "past" else None)
    table.add_row("total", *(f"{section['totals'][key]:,}" for key in STEP_LABELS), style="bold")
    notes: list[Any] = [table]
    for name, lags in section["lags"].items():
        rates = ", ".join(f"{rate} {line['days']:g} d ({line['source']})" for rate, line in lags["rates"].items())
        notes.append(f"[dim]lags of {name}:[/dim] {rates}")
    if "observed" in section:
        observed = section["observed"]
        notes.append(f"[dim]observed: cohorts of {', '.join(observed['months'])} as of {observed['as_of']}[/dim]")
    return notes


def _proposal_tables(proposal: dict[str, Any]) -> list[Any]:
    title = (
        f"Rates for the next agreement: cohorts of {proposal['months'][0]} → {proposal['months'][-1]} "
        f"as of {proposal['as_of']}, mature {proposal['maturity_days']} days after their month"
    )
    table = Table(title=title, title_justify="left")
    for column in ("rate", "current", "observed", "went on / entered", "proposed", "note"):
        table.add_column(column, justify="left" if column in ("rate", "note") else "right")
    for name, line in proposal["rates"].items():
        left = [c["month"] for c in line["cohorts"] if not c["mature"] and c["entered"]]
        note = line["basis"] + (f"; immature, left out: {', '.join(left)}" if left else "")
        sample = f"{line['went_on']:,} / {line['entered']:,}"
        table.add_row(name, _rate(line["current"]), _rate(line["observed"]), sample, _rate(line["proposed"]), note)
    plan = Table(title="The same goal with the proposed rates", title_justify="left")
    for label in STEP_LABELS.values():
        plan.add_column(label, justify="right")
    plan.add_row(*(f"{proposal['plan'][key]:,}" for key in STEP_LABELS))
    rates = ", ".join(f"{name}: {line['proposed']}" for name, line in proposal["rates"].items())
    return [table, plan, f"[dim]agreement YAML:[/dim]  rates: {{{rates}}}"]
