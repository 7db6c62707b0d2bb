"""The README's measured blocks as Markdown, from the latest JSON line of each benchmark.

Each block is a function of `Results` (benchmark name -> its line). A figure whose benchmark, or key, is not in
the results reads "not measured in this run", so one missing run never hides the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Results = dict[str, dict[str, Any]]
NOT_MEASURED = "not measured in this run"
BENCHMARKS = ("replay", "kafka_path", "latency", "sla_clocks", "dashboards", "collector", "hot_lead")
# The load model of the capacity plan (README, *Capacity*): today's events a day, the peak factor over the
# average (business hours x2.5, bursts x10), the loads planned for, and the share of a measured rate planned on.
TODAY_EVENTS_PER_DAY = 40_000
PEAK_FACTOR = 25
LOADS = (1, 10, 100)
PARTITIONS = 32
PLANNED_SHARE = 0.5
OPEN_CLOCKS_AT_100X = 100_000
CLICKHOUSE = {
    1: "one server, or 1 shard × 2 replicas for HA",
    10: "1 shard × 2 replicas",
    100: "2 shards × 2 replicas, 3 Keeper nodes",
}


def pick(results: Results, benchmark: str, *path: str) -> Any:
    """Return results[benchmark][path...], or None when the run or the key is missing."""
    value: Any = results.get(benchmark)
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def shown(value: Any, form: Callable[[Any], str], missing: str = NOT_MEASURED) -> str:
    """Return `form(value)`, or the not-measured text for a missing value."""
    return missing if value is None else form(value)


def count(value: float) -> str:
    """Return 12,345 for a rate or a count."""
    return f"{value:,.0f}"


# -- the figures table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One row of the figures table: what, from which benchmark, how it reads, and its target."""

    label: str
    benchmark: str
    value: Callable[[dict[str, Any]], str | None]
    target: str = ""


def _get(line: dict[str, Any], *path: str) -> Any:
    return pick({"line": line}, "line", *path)


def _unit(unit: str, *path: str, form: Callable[[Any], str] = count) -> Callable[[dict[str, Any]], str | None]:
    def value(line: dict[str, Any]) -> str | None:
        found = _get(line, *path)
        return None if found is None else f"{form(found)} {unit}".strip()

    return value


def cpu_per_event(line: dict[str, Any]) -> str | None:
    cpu, events = line.get("worker_cpu_s"), line.get("events")
    return None if cpu is None or not events else f"{cpu / events * 1e6:,.0f} µs"


def group_speedup(line: dict[str, Any]) -> str | None:
    speedup, workers = line.get("group_speedup"), line.get("group_workers")
    return None if speedup is None else f"{speedup:.2f}× one worker ({workers} workers)"


def _panel(kind: str) -> Callable[[dict[str, Any]], str | None]:
    def value(line: dict[str, Any]) -> str | None:
        worst, over = _get(line, kind, "worst"), _get(line, kind, "over_target")
        if worst is None:
            return None
        return f"{worst['best_ms']:,.1f} ms ({worst['board']} / {worst['panel']}; {over} over target)"

    return value


def _ratios_of(line: dict[str, Any], *names: str) -> str | None:
    if all(line.get(name) is None for name in names):
        return None
    return " / ".join(shown(line.get(name), lambda v: f"{v:.2f}") for name in names)


def _ratios(line: dict[str, Any]) -> str | None:
    return _ratios_of(line, "core_ratio", "replay_ratio", "worker_ratio")


FIGURES = (
    Figure("core replay, one process", "replay", _unit("events/s", "core_events_per_s"), "≥ 100,000 events/s"),
    Figure(
        "`leadflow replay` into chDB, excl. start-up",
        "replay",
        _unit("events/s", "replay_events_per_s_excl_startup"),
        "≥ 50,000 events/s",
    ),
    Figure("store on disk per event, all tables, merged", "replay", _unit("B", "store_bytes_per_event")),
    Figure("store rows per event, all tables", "replay", _unit("", "store_rows_per_event", form=lambda v: f"{v:.2f}")),
    Figure("one worker, Kafka → state → store", "kafka_path", _unit("events/s", "worker_events_per_s")),
    Figure(
        "bare aiokafka consume-and-decode loop, same run",
        "kafka_path",
        _unit("events/s", "baseline_events_per_s_excl_startup"),
    ),
    Figure("one worker ÷ bare loop", "kafka_path", _unit("", "ratio", form=lambda v: f"{v:.3f}")),
    Figure("Faust floor: a trivial agent, same run", "kafka_path", _unit("events/s", "faust_plain_floor_events_per_s")),
    Figure(
        "Faust floor: the same, one table write per event",
        "kafka_path",
        _unit("events/s", "faust_table_floor_events_per_s"),
    ),
    Figure(
        "one worker ÷ table floor / ÷ trivial-agent floor",
        "kafka_path",
        lambda line: _ratios_of(line, "worker_to_table_floor", "worker_to_plain_floor"),
        "≥ 1.5 / ≥ 0.5",
    ),
    Figure("worker CPU per event", "kafka_path", cpu_per_event),
    Figure("workers in one consumer group", "kafka_path", group_speedup),
    Figure(
        "event → row in the store, p99", "latency", _unit("s", "row_latency_p99_s", form=lambda v: f"{v:.2f}"), "≤ 2 s"
    ),
    Figure(
        "SLA deadline → breach published, worst",
        "latency",
        _unit("s", "breach_published_max_s", form=lambda v: f"{v:.3f}"),
        "≤ 1 s",
    ),
    Figure(
        "SLA clocks: memory per open clock",
        "sla_clocks",
        _unit("B", "bytes_per_clock", "total"),
        "1 million open clocks in one worker",
    ),
    Figure(
        "SLA clocks: one tick with 1,000 due",
        "sla_clocks",
        _unit("ms", "tick", "1000", "median_ms", form=lambda v: f"{v:.2f}"),
        "in proportion to what is due",
    ),
    Figure("dashboards: slowest panel, default ranges", "dashboards", _panel("default"), "≤ 200 ms"),
    Figure("dashboards: slowest panel, a year", "dashboards", _panel("one_year"), "≤ 200 ms"),
    Figure("dashboards: slowest panel, all the data", "dashboards", _panel("all_data"), "≤ 200 ms"),
    Figure("collector, one event per request", "collector", _unit("events/s", "single", "events_per_s")),
    Figure("collector, batched", "collector", _unit("events/s", "batched", "events_per_s")),
    Figure("bare aiokafka producer, same run", "collector", _unit("events/s", "baseline", "events_per_s")),
    Figure("hot lead: largest state", "hot_lead", _unit("B", "largest_state_bytes"), "≤ 65,536 B"),
    Figure("hot lead ÷ the same events over many leads: core / replay / worker", "hot_lead", _ratios, "≥ 0.5"),
    Figure("hot lead through the core", "hot_lead", _unit("events/s", "core_hot_events_per_s")),
)


def figures_block(results: Results) -> str:
    """Return the figures table and the table of the runs behind it."""
    lines = ["| figure | value | target | benchmark |", "|---|---|---|---|"]
    for figure in FIGURES:
        line = results.get(figure.benchmark)
        value = NOT_MEASURED if line is None else (figure.value(line) or NOT_MEASURED)
        lines.append(f"| {figure.label} | {value} | {figure.target or '—'} | `bench_{figure.benchmark}` |")
    lines += ["", "| benchmark | measured (UTC) | cores | load average before → after (1/5/15 min) | command |"]
    lines.append("|---|---|---|---|---|")
    lines += [_run_row(name, results.get(name)) for name in BENCHMARKS]
    return "\n".join(lines) + "\n"


def _run_row(name: str, line: dict[str, Any] | None) -> str:
    if line is None:
        return f"| `bench_{name}` | {NOT_MEASURED} | | | |"
    when = str(line.get("measured_at", "date not recorded")).replace("T", " ").removesuffix("+00:00")
    load = f"{line.get('load_before', '?')} → {line.get('load_after', '?')}"
    command = line.get("command", f"python -m benchmarks.bench_{name}")
    return f"| `bench_{name}` | {when} | {line.get('cores', '?')} | {load} | `{command}` |"


# -- the capacity plan -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """The measured rates and sizes the capacity plan is worked out from; None where not measured."""

    worker: float | None
    collector: float | None
    replay: float | None
    rows_per_event: float | None
    bytes_per_event: float | None
    clock_bytes: float | None
    tick_ms: float | None

    @classmethod
    def of(cls, results: Results) -> Measured:
        """Pick the plan's inputs from the results."""
        return cls(
            worker=pick(results, "kafka_path", "worker_events_per_s") or None,
            collector=pick(results, "collector", "batched", "events_per_s") or None,
            replay=pick(results, "replay", "replay_events_per_s_excl_startup") or None,
            rows_per_event=pick(results, "replay", "store_rows_per_event"),
            bytes_per_event=pick(results, "replay", "store_bytes_per_event"),
            clock_bytes=pick(results, "sla_clocks", "bytes_per_clock", "total"),
            tick_ms=pick(results, "sla_clocks", "tick", "1000", "median_ms"),
        )


def peak_per_s(load: int) -> float:
    """Return the planned peak events/s at `load` times today's traffic."""
    return TODAY_EVENTS_PER_DAY * load / 86400 * PEAK_FACTOR


def needed(load: int, rate: float | None) -> int | None:
    """Return the processes that take the peak at half their measured rate (None if not measured)."""
    return None if rate is None else max(1, math.ceil(peak_per_s(load) / (rate * PLANNED_SHARE)))


def significant(value: float, digits: int = 2) -> float:
    """Round to `digits` significant digits (86,400 -> 86,000): the plan is an estimate."""
    return 0.0 if value == 0 else round(value, digits - 1 - math.floor(math.log10(abs(value))))


def about(seconds: float) -> str:
    """Return a duration as people say it: about 21 minutes, about 44 hours, about 3 days."""
    for unit, size, limit in (("minutes", 60, 120), ("hours", 3600, 48), ("days", 86400, math.inf)):
        if seconds / size < limit:
            return f"about {seconds / size:,.0f} {unit}"
    return ""


def _processes(count_: int | None) -> str:
    return NOT_MEASURED if count_ is None else f"{count_} ({count_ + 1})"


def _capacity_row(load: int, m: Measured) -> str:
    per_day = TODAY_EVENTS_PER_DAY * load
    rows = shown(m.rows_per_event, lambda r: count(significant(per_day * r)))
    storage = shown(m.bytes_per_event, lambda b: f"{significant(per_day * 365 * b / 1e9):g} GB")
    cells = (
        f"{load}×",
        count(per_day),
        count(peak_per_s(load)),
        _processes(needed(load, m.worker)),
        str(PARTITIONS),
        _processes(needed(load, m.collector)),
        rows,
        storage,
        CLICKHOUSE[load],
    )
    return "| " + " | ".join(cells) + " |"


def capacity_table(results: Results) -> str:
    """Return the capacity table: per load, the processes, rows and storage the measured figures call for."""
    m = Measured.of(results)
    lines = [
        "| load | events/day | peak events/s | workers (run) | partitions | collectors (run) | ClickHouse rows/day "
        "| storage/year (one replica) | ClickHouse |",
        "|---|---|---|---|---|---|---|---|---|",
        *(_capacity_row(load, m) for load in LOADS),
    ]
    return "\n".join(lines) + "\n"
