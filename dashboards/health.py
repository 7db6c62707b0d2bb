"""Pipeline health, from Prometheus: throughput, consumer lag, dead letters, the sink, workers and alerts."""

from __future__ import annotations

from dashboards.panels import stat_panel, timeseries_panel
from dashboards.sdk import Board, promql, thresholds

UID = "leadflow-health"
WORKERS = 'job="leadflow-worker"'


def _status_row(board: Board) -> None:
    board.row("Status")
    board.add(
        stat_panel(
            "Workers up", "Workers that answer Prometheus's scrape.", [promql(f"sum(up{{{WORKERS}}})", "up")]
        ).thresholds(thresholds("red", (1, "green")))
    )
    lag = promql("sum(leadflow_consumer_lag)", "lag")
    board.add(
        stat_panel(
            "Consumer lag", "Messages the worker group has not committed yet, all partitions.", [lag]
        ).thresholds(thresholds("green", (1000, "orange"), (10000, "red")))
    )
    dead = promql("sum(increase(leadflow_invalid_events_total[1h]))", "dead letters")
    board.add(
        stat_panel("Dead letters, last hour", "Inputs sent to leadflow.deadletter.", [dead]).thresholds(
            thresholds("green", (1, "orange"), (50, "red"))
        )
    )
    firing = promql('count(ALERTS{alertstate="firing", alertname=~"Leadflow.*"}) or vector(0)', "firing")
    board.add(
        stat_panel("Alerts firing", "leadflow alerts firing now (see Alertmanager).", [firing]).thresholds(
            thresholds("green", (1, "red"))
        )
    )


def _flow_row(board: Board) -> None:
    board.row("Flow")
    events = promql("sum by (type) (rate(leadflow_events_total[$__rate_interval]))", "{{type}}")
    board.add(timeseries_panel("Events/s by type", "Valid input events processed.", [events], unit="ops"))
    lag = promql("sum by (topic) (leadflow_consumer_lag)", "{{topic}}")
    board.add(timeseries_panel("Consumer lag by topic", "End offset minus committed offset.", [lag]))
    dead = promql("sum by (topic) (rate(leadflow_invalid_events_total[$__rate_interval]))", "{{topic}}")
    duplicates = promql("sum by (type) (rate(leadflow_duplicate_events_total[$__rate_interval]))", "dup {{type}}")
    board.add(
        timeseries_panel(
            "Dead letters and duplicates/s", "Invalid inputs by input topic; repeated events by type.",
            [dead, duplicates], unit="ops",
        )
    )  # fmt: skip
    transitions = promql("sum by (to_stage) (rate(leadflow_transitions_total[$__rate_interval]))", "{{to_stage}}")
    board.add(timeseries_panel("Stage moves/s", "New events that move a lead, by stage.", [transitions], unit="ops"))


def _sink_row(board: Board) -> None:
    board.row("Store sink")
    quantile = "histogram_quantile({q}, sum by (le) (rate(leadflow_sink_flush_seconds_bucket[$__rate_interval])))"
    latency = [promql(quantile.format(q=0.5), "p50"), promql(quantile.format(q=0.99), "p99")]
    board.add(timeseries_panel("Sink write latency", "Time to write one batch to the store.", latency, unit="s"))
    errors = promql("sum(rate(leadflow_sink_errors_total[$__rate_interval]))", "errors/s")
    pending = promql("sum(leadflow_sink_pending_rows)", "pending rows")
    backlog = "Failed writes (retried) and rows waiting."
    board.add(timeseries_panel("Sink errors and backlog", backlog, [errors, pending]))
    rows = promql("sum by (table) (rate(leadflow_sink_rows_total[$__rate_interval]))", "{{table}}")
    board.add(timeseries_panel("Rows written/s", "Rows written to the store, by table.", [rows], unit="ops"))
    workers = promql(f"up{{{WORKERS}}}", "{{instance}}")
    agreements = promql("count(count by (fingerprint) (leadflow_agreements_info))", "agreement sets")
    board.add(
        timeseries_panel(
            "Workers and agreement sets", "Each worker's scrape (1 = up); distinct agreement sets (must be 1).",
            [workers, agreements],
        )
    )  # fmt: skip


def build() -> Board:
    """Return the pipeline health board."""
    board = Board(
        UID,
        "leadflow · Pipeline health",
        "The workers' Prometheus metrics: throughput, consumer lag, dead letters, the store sink and alerts.",
        refresh="5s",
        since="now-1h",
        tags=["health"],
    )
    _status_row(board)
    _flow_row(board)
    _sink_row(board)
    return board
