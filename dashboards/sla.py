"""SLA handoffs: clocks open and due, breaches, compliance per handoff, owner and team, time to follow-up."""

from __future__ import annotations

from grafana_foundation_sdk.builders import table

from dashboards import queries
from dashboards.panels import stat_panel, table_panel, timeseries_panel
from dashboards.sdk import Board, ClickHouse, promql, thresholds, unit
from dashboards.targets import COMPLIANCE_TARGET, Targets

UID = "leadflow-sla"
COMPLIANCE = ("started", "met", "breached", "open", "compliance")
COMPLIANCE_COLOURS = ((0.8, "orange"), (COMPLIANCE_TARGET, "green"))


def _status_row(board: Board, goals: Targets) -> None:
    board.row("Now (as of the end of the range)")
    running = ClickHouse(queries.open_clocks(), ["open_clocks"])
    board.add(
        stat_panel("Open clocks", "Handoff clocks running at the end of the range.", [running]).thresholds(
            thresholds("blue")
        )
    )
    due = ClickHouse(queries.due_within_hour(), ["due_within_hour"])
    board.add(
        stat_panel("Due within the hour", "Running clocks whose deadline comes within an hour.", [due]).thresholds(
            thresholds("green", (1, "orange"))
        )
    )
    today = ClickHouse(queries.breaches_today(goals.timezone), ["breaches_today"])
    board.add(
        stat_panel("Breaches today", f"Deadlines passed unmet since midnight ({goals.timezone}).", [today]).thresholds(
            thresholds("green", (1, "red"))
        )
    )
    published = promql("sum(increase(leadflow_sla_breaches_total[1h]))", "breaches")
    board.add(
        stat_panel(
            "Breaches published, last hour", "sla.breached events the workers published.", [published]
        ).thresholds(thresholds("green", (1, "red")))
    )


def _compliance_table(title: str, description: str, sql: str, keys: list[str], **size: int) -> table.Panel:
    """Return a compliance table: its keys, then the counts, compliance (coloured) and business time to stop."""
    query = ClickHouse(sql, [*keys, *COMPLIANCE, "p50_business_seconds", "p90_business_seconds"])
    return (
        table_panel(title, description, [query], **size)
        .override_by_name("compliance", [unit("percentunit")])
        .override_by_name("p50_business_seconds", [unit("s")])
        .override_by_name("p90_business_seconds", [unit("s")])
        .thresholds(thresholds("red", *COMPLIANCE_COLOURS))
    )


def _compliance_row(board: Board) -> None:
    board.row("Compliance (clocks started in the range)")
    board.add(
        _compliance_table(
            "Compliance per handoff",
            "met / (met + breached) of clocks started in the range, and business time to stop (p50, p90).",
            queries.compliance_by_handoff(),
            ["handoff"],
            width=24,
            height=6,
        )
    )
    board.add(
        _compliance_table(
            "Compliance per owner",
            "The lowest compliance first.",
            queries.compliance_by_owner(),
            ["handoff", "owner"],
            height=10,
        )
    )
    board.add(
        _compliance_table(
            "Compliance per team",
            "Teams of the owners file (LEADFLOW_OWNERS) as the latest worker or replay loaded it; the lowest first.",
            queries.compliance_by_team(),
            ["handoff", "team"],
            height=10,
        )
    )
    follow_up = ClickHouse(queries.follow_up_quantiles(), ["time", "handoff", "p50", "p90"], time_series=True)
    board.add(
        timeseries_panel(
            "Business time to follow-up, p50 / p90",
            "Business seconds from start to stop of the clocks started in each interval (stopped ones).",
            [follow_up],
            unit="s",
            height=10,
        )
    )


def build(goals: Targets) -> Board:
    """Return the SLA handoffs board."""
    board = Board(
        UID,
        "leadflow · SLA handoffs",
        f"Handoff clocks of the sales-marketing agreements (targets and time zone of {goals.agreement}).",
        refresh="5s",
        since="now-24h",
        tags=["sla"],
    )
    _status_row(board, goals)
    _compliance_row(board)
    board.row("Breaches")
    breaches = ClickHouse(
        queries.current_breaches(), ["lead_id", "handoff", "owner", "started_at", "deadline", "overdue_seconds"]
    )
    board.add(
        table_panel(
            "Current breaches",
            "Clocks whose deadline passed in the range and that are still not stopped: who owes a follow-up.",
            [breaches],
            width=24,
            height=10,
        ).override_by_name("overdue_seconds", [unit("s")])
    )
    events = [
        promql("sum by (handoff) (increase(leadflow_sla_breaches_total[$__rate_interval]))", "breached {{handoff}}"),
        promql("sum by (handoff) (increase(leadflow_sla_warnings_total[$__rate_interval]))", "warned {{handoff}}"),
        promql("sum by (handoff) (increase(leadflow_sla_met_total[$__rate_interval]))", "met {{handoff}}"),
    ]
    board.add(timeseries_panel("SLA events published", "What the workers publish to leadflow.sla.", events))
    board.add(
        timeseries_panel(
            "Clocks to judge (workers)",
            "Leads with a clock still to judge, per worker.",
            [promql("sum by (instance) (leadflow_sla_open_clocks)", "{{instance}}")],
        )
    )
    return board
