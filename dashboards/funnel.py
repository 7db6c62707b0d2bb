"""Funnel & conversion: stage entries over time, conversion against the agreement's targets, cohorts, breakdowns."""

from __future__ import annotations

import itertools

from grafana_foundation_sdk.builders import stat, timeseries
from grafana_foundation_sdk.models.dashboard import DynamicConfigValue

from dashboards import queries, timing_queries
from dashboards.panels import bargauge_panel, stat_panel, table_panel, timeseries_panel
from dashboards.sdk import Board, ClickHouse, promql, threshold_override, thresholds, unit
from dashboards.targets import CUMULATIVE, NEXT_STEP, Targets
from pipelines.core.planning import RATE_NAMES

UID = "leadflow-funnel"
RANGE_NOTE = "Entries whose time lies in the range; ratios are judged as of the end of the range."


def _conversion_stat(title: str, description: str, query: ClickHouse, goals: dict[str, float]) -> stat.Panel:
    """Return a stat of ratio fields, each coloured against its own target (blue where the agreement sets none)."""
    panel = stat_panel(title, description, [query], unit="percentunit", width=24).thresholds(thresholds("blue"))
    for field, goal in goals.items():
        panel = panel.override_by_name(field, threshold_override(goal))
    return panel.decimals(1)


def build(goals: Targets) -> Board:
    """Return the funnel board."""
    board = Board(
        UID,
        "leadflow · Funnel & conversion",
        f"Stage entries and conversion against agreement {goals.agreement}. {RANGE_NOTE}",
        refresh="10s",
        since="now-7d",
        tags=["funnel"],
    )
    board.row("Volume")
    counts = ClickHouse(queries.stage_counts(), queries.COUNT_COLUMNS)
    board.add(
        bargauge_panel("Funnel", "Visits and stage entries in the range, top to bottom.", [counts], unit="short",
                       width=8).thresholds(thresholds("blue"))
    )  # fmt: skip
    over_time = ClickHouse(queries.entries_over_time(), ("time", "stage", "entries"), time_series=True)
    board.add(
        timeseries_panel(
            "Stage entries over time", "Entries per stage and interval (exact, from stage_entries).", [over_time],
            width=16, bars=True,
        )
    )  # fmt: skip
    board.row("Conversion against the agreement")
    next_names = [name for name, _, _ in NEXT_STEP]
    next_step = ClickHouse(queries.next_step_conversion(), next_names)
    board.add(
        _conversion_stat(
            "Next-step conversion vs. target",
            f"Each stage's entries over the previous stage's in the range; green at the target of {goals.agreement}, "
            "orange from 80 % of it, red below. mql_to_sal and sal_to_sql have no target.",
            next_step,
            goals.next_step,
        )
    )
    cumulative_names = [name for name, _, _ in CUMULATIVE]
    cumulative = ClickHouse(queries.cumulative_conversion(), cumulative_names)
    board.add(
        _conversion_stat(
            "Cumulative conversion vs. target",
            "Each stage's entries over the visits in the range, against the product of the target rates up to it "
            "(none for sal: the agreement sets no rate into it).",
            cumulative,
            goals.cumulative,
        )
    )
    cohort_names = ["visit_to_lead", *(f"{a}_to_{b}" for a, b in itertools.pairwise(queries.FUNNEL))]
    cohort = ClickHouse(queries.cohort_conversion(), cohort_names)
    board.add(
        _conversion_stat(
            "Cohort conversion",
            "Of the entries to a stage in the range, the share whose episode entered the next stage by the end of "
            "the range; for visits, the share of the range's visitors who filled a form.",
            cohort,
            {k: v for k, v in goals.next_step.items() if k in cohort_names},
        )
    )
    board.row("Breakdown")
    funnel_columns = list(queries.FUNNEL)
    sources = ClickHouse(queries.by_source(), ["source", "campaign", *funnel_columns, "lead_to_customer"])
    board.add(
        table_panel(
            "By source and campaign", "Stage entries in the range by the lead's first touch.", [sources]
        ).override_by_name("lead_to_customer", [unit("percentunit")])
    )
    owners = ClickHouse(queries.by_owner(), ["owner", *funnel_columns, "mql_to_sql"])
    board.add(
        table_panel("By owner", "Stage entries in the range by the lead's current owner.", [owners]).override_by_name(
            "mql_to_sql", [unit("percentunit")]
        )
    )
    _time_to_convert(board, goals.timezone)
    board.row("Drop alerts")
    board.add(_wilson_band())
    return board


def _time_to_convert(board: Board, timezone: str) -> None:
    """Add the row of time-to-convert panels: the report's `time_to_convert`, its breakdowns and its bins."""
    board.row("Time to convert")
    times = ("pair", *timing_queries.TIME_COLUMNS)
    seconds = [unit("s")]
    board.add(
        table_panel(
            "Time to convert", "Of the entries to a stage in the range that entered the next stage by its end: how "
            "many, and the median and 90th percentile calendar time between the two entries.",
            [ClickHouse(timing_queries.time_to_convert(), times)], width=8,
        ).override_by_name("p50_seconds", seconds).override_by_name("p90_seconds", seconds)
    )  # fmt: skip
    bins = ClickHouse(timing_queries.time_histogram(), ("bin", *timing_queries.PAIR_NAMES))
    board.add(
        table_panel("Time to convert in fixed bins", "Members that went on, per bin of calendar time.", [bins],
                    width=16)
    )  # fmt: skip
    sources = ClickHouse(timing_queries.time_by_source(), ("pair", "source", "campaign", *timing_queries.TIME_COLUMNS))
    board.add(
        table_panel("Time to convert by source and campaign", "By the lead's first touch.", [sources])
        .override_by_name("p50_seconds", seconds).override_by_name("p90_seconds", seconds)
    )  # fmt: skip
    owners = ClickHouse(timing_queries.time_by_owner(), ("pair", "owner", *timing_queries.TIME_COLUMNS))
    board.add(
        table_panel("Time to convert by owner", "By the lead's current owner.", [owners])
        .override_by_name("p50_seconds", seconds).override_by_name("p90_seconds", seconds)
    )  # fmt: skip
    months = ClickHouse(
        timing_queries.time_by_month(timezone), ("time", "pair", *timing_queries.TIME_COLUMNS), time_series=True
    )
    board.add(
        timeseries_panel(
            "Time to convert by month", "Per month of entering the first stage (in the agreements' time zone): "
            "the members that went on by the end of the range, and their median and 90th percentile time.",
            [months], unit="s", width=24,
        )
    )  # fmt: skip


def _wilson_band() -> timeseries.Panel:
    """Return each rate's mature cohort with its 95 % Wilson band and its target, as Prometheus records them."""
    targets = [
        promql("leadflow:conversion_lower:wilson95", "{{rate}} lower", "A"),
        promql("leadflow:conversion_upper:wilson95", "{{rate}} upper", "B"),
        promql("leadflow:conversion_rate:mature", "{{rate}} observed", "C"),
        promql("leadflow_conversion_target", "{{rate}} target", "D"),
    ]
    panel = timeseries_panel(
        "Mature cohorts: 95 % band vs. target",
        "Per agreement rate, the entries of the agreement's alert window that ended its conversion window ago "
        "(services/conversion_exporter.py): the observed rate, its 95 % Wilson band and the target. "
        "LeadflowConversionBelowTarget fires when the whole band is under the target with enough entries.",
        targets,
        unit="percentunit",
        width=24,
    )
    for rate in RATE_NAMES:
        panel = panel.override_by_name(
            f"{rate} upper", [DynamicConfigValue(id_val="custom.fillBelowTo", value=f"{rate} lower")]
        )
    return panel
