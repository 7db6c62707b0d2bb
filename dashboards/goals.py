"""Goals & pacing: each agreement's goal worked backwards, next to what the range achieved."""

from __future__ import annotations

from collections.abc import Sequence

from dashboards import queries
from dashboards.panels import bargauge_panel, stat_panel, table_panel, text_panel, timeseries_panel
from dashboards.sdk import Board, ClickHouse, thresholds, unit
from dashboards.targets import PLAN_KEYS, Targets, plan_sql
from pipelines.core.planning import goals_plan
from schemas.agreement import Agreement

UID = "leadflow-goals"
PACING_COLOURS = ((0.8, "orange"), (1.0, "green"))


def _plan_note(agreements: Sequence[Agreement]) -> str:
    """Markdown: every agreement's whole-period goal, worked backwards."""
    lines = ["| agreement | period | revenue | " + " | ".join(PLAN_KEYS) + " |", "|---" * (3 + len(PLAN_KEYS)) + "|"]
    for a in agreements:
        plan = goals_plan(a.goals, a.goals.revenue)
        figures = " | ".join(f"{plan[k]:,}" for k in PLAN_KEYS)
        period = f"{a.effective_from} → {a.effective_to}"
        lines.append(f"| {a.name} | {period} | {a.goals.revenue:,} {a.goals.currency} | {figures} |")
    return "\n".join(lines)


def build(goals: Targets, agreements: Sequence[Agreement]) -> Board:
    """Return the goals and pacing board."""
    board = Board(
        UID,
        "leadflow · Goals & pacing",
        "The revenue goal prorated by the days of the range (each agreement's share, in its time zone), worked "
        "backwards with ceil at every step, next to the entries and revenue of the range.",
        refresh="10s",
        since="now-30d",
        tags=["goals"],
    )
    plan = plan_sql(agreements, goals.currency)
    board.row("The range against its goal")
    revenue = ClickHouse(queries.revenue_vs_goal(plan, goals.currency), ["won", "goal", "attainment"])
    board.add(
        stat_panel("Revenue", "Won in the range (each deal once, at its first win) and the goal prorated to it.",
                   [revenue], unit=f"currency{goals.currency}", width=16)
        .override_by_name("attainment", [unit("percentunit")])
        .thresholds(thresholds("blue"))
    )  # fmt: skip
    others = ClickHouse(queries.won_other_currencies(goals.currency), ["currency", "won", "deals_won"])
    board.add(
        table_panel("Won in other currencies", f"Deals won in the range in another currency than {goals.currency}: "
                    "shown beside the goal, never converted or added.", [others], width=8, height=4)
    )  # fmt: skip
    versus = ClickHouse(queries.goal_vs_actual(plan), ["stage", "goal", "actual", "pacing"])
    board.add(
        table_panel("Goal worked backwards vs. actuals", "Per stage: goal for the range, entries, pacing.",
                    [versus], width=12, height=8)
        .override_by_name("pacing", [unit("percentunit")])
        .thresholds(thresholds("red", *PACING_COLOURS))
    )  # fmt: skip
    pacing = ClickHouse(queries.goal_vs_actual(plan), ["stage", "goal", "actual", "pacing"])
    board.add(
        bargauge_panel("Pacing per stage", "Entries over the goal for the range; 100 % is on plan.", [pacing],
                       unit="percentunit", width=12, fields="/^pacing$/")
        .thresholds(thresholds("red", *PACING_COLOURS))
        .min(0)
        .max(1.5)
    )  # fmt: skip
    won = ClickHouse(queries.revenue_pacing(plan, goals.currency), ["time", "won", "goal"], time_series=True)
    board.add(
        timeseries_panel("Revenue pacing", "Cumulative revenue won in the range against the goal prorated to each "
                         "moment.", [won], unit=f"currency{goals.currency}", width=24)
    )  # fmt: skip
    board.row("The agreements' goals")
    board.add(text_panel("Goals worked backwards (whole periods)", _plan_note(agreements), height=5))
    return board
