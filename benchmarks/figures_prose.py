"""The README's measured prose: the notes under the capacity table and where a worker's time goes.

A sentence that rests on a figure not measured in this run says so instead of quoting an old number.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

from benchmarks.figures_text import (
    LOADS,
    NOT_MEASURED,
    OPEN_CLOCKS_AT_100X,
    PARTITIONS,
    PLANNED_SHARE,
    TODAY_EVENTS_PER_DAY,
    Measured,
    Results,
    about,
    capacity_table,
    count,
    cpu_per_event,
    figures_block,
    group_speedup,
    needed,
    peak_per_s,
    pick,
    shown,
)

WIDTH = 115


def bullet(text: str) -> str:
    """Return a Markdown list item wrapped as the README's prose is."""
    return textwrap.fill(text, WIDTH, initial_indent="- ", subsequent_indent="  ", break_on_hyphens=False) + "\n"


def paragraph(text: str) -> str:
    """Return a paragraph wrapped as the README's prose is."""
    return textwrap.fill(text, WIDTH, break_on_hyphens=False) + "\n"


def per_s(rate: float) -> str:
    """Return 1,109 events/s."""
    return f"{count(rate)} events/s"


def _catch_up(m: Measured) -> str:
    workers = needed(LOADS[-1], m.worker)
    if workers is None or m.worker is None:
        return f"how fast it catches up is {NOT_MEASURED}"
    spare = (workers + 1) * m.worker - peak_per_s(LOADS[-1])
    return f"{workers + 1} workers clear an hour of peak backlog in {about(peak_per_s(LOADS[-1]) * 3600 / spare)}"


def _room(m: Measured) -> str:
    workers = needed(LOADS[-1], m.worker)
    if workers is None:
        return f"how many workers the 100× group runs is {NOT_MEASURED}"
    return (
        f"the 100× group runs {workers + 1} workers, and {PARTITIONS} leaves room for "
        f"{PARTITIONS / (workers + 1):.0f} times as many before partitions cap the group"
    )


def _rebuild(m: Measured) -> str:
    if m.replay is None:
        return f"How fast `leadflow replay` rebuilds a store is {NOT_MEASURED}."
    year = TODAY_EVENTS_PER_DAY * 365 / m.replay
    return (
        f"Rebuilding a store with `leadflow replay` runs at {count(m.replay)} events/s: a year of today's load in "
        f"{about(year)}, a year at 100× in {about(year * 100)}."
    )


def capacity_notes(m: Measured) -> list[str]:
    """Return the notes under the capacity table, each saying how its column follows from the figures."""
    rows_per_s = shown(m.rows_per_event, lambda r: f"about {TODAY_EVENTS_PER_DAY * LOADS[-1] * r / 86400:,.0f}")
    memory = shown(m.clock_bytes, lambda b: f"about {OPEN_CLOCKS_AT_100X * b / 1e6:,.0f} MB at {count(b)} B each")
    tick = shown(m.tick_ms, lambda ms: f"{ms:.2f} ms")
    return [
        f"*Workers*: peak ÷ (one worker's rate × {PLANNED_SHARE}; one worker: {shown(m.worker, per_s)}): "
        "a worker is planned at half its measured rate, so the group can catch up after an outage while traffic "
        f"goes on (at 100×, {_catch_up(m)}). One more runs so that losing one loses nothing; from two workers on, "
        "the store is a ClickHouse server (or `leadflow store serve`, above), since chDB allows one process per path.",
        f"*Partitions*: {PARTITIONS} at every load, because they are chosen once: {_room(m)}.",
        "*Collectors* (web and CRM systems that cannot write to Kafka): peak ÷ (the collector's batched rate × "
        f"{PLANNED_SHARE}; batched rate: {shown(m.collector, per_s)}); one more for HA.",
        f"*Rows* per event over all tables: {shown(m.rows_per_event, lambda r: f'{r:.2f}')} (`events`, "
        "`events_by_time`, snapshots, first touches, SLA events, dead letters, per-minute aggregates); *storage* "
        f"per event on disk, after merges: {shown(m.bytes_per_event, lambda b: f'{b:,.0f} bytes')}. Both from "
        "`bench_replay`'s replay of simulated traffic into a fresh chDB store, `OPTIMIZE TABLE … FINAL` on each "
        "table, then the active parts in `system.parts`. Multiply by the replica count.",
        f"*ClickHouse*: inserted rows/s at 100× on average: {rows_per_s}, in a few batched inserts per second, far "
        "below one server; replicas are for availability. The second shard at 100× is for reads: a month is then "
        "about 120 million events, and dashboards and reports scan it in parallel on both shards.",
        "The SLA clocks never bind: even 100× holds at most about 10⁵ open clocks (spread over the "
        f"workers; memory: {memory}); a timer tick with 1,000 due: {tick}. " + _rebuild(m),
    ]


def capacity_block(results: Results) -> str:
    """Return the capacity table and its notes."""
    return capacity_table(results) + "\n" + "".join(bullet(note) for note in capacity_notes(Measured.of(results)))


def _measured_worker(line: dict[str, Any]) -> list[str]:
    if not line:
        return [f"One worker against Faust's own floors (`bench_kafka_path`): {NOT_MEASURED}."]
    ratio = lambda r: f"{r:.2f}"  # noqa: E731
    return [
        f"One worker drains {shown(line.get('events'), count)} simulated events at "
        f"{shown(line.get('worker_events_per_s'), count)} events/s, counted as the floors are, from being given its "
        "partitions. In the same run, on the same broker and input, a trivial Faust agent that only decodes each "
        f"event does {shown(line.get('faust_plain_floor_events_per_s'), count)} events/s, and the same agent writing "
        f"one changelogged table entry per event {shown(line.get('faust_table_floor_events_per_s'), count)}: the "
        f"worker runs at {shown(line.get('worker_to_table_floor'), ratio)}× the table floor and "
        f"{shown(line.get('worker_to_plain_floor'), ratio)}× the trivial agent (targets 1.5× and 0.5×).",
        f"It is CPU-bound ({cpu_per_event(line) or NOT_MEASURED} of CPU per event).",
    ]


def worker_block(results: Results) -> str:
    """Return the paragraph on where one worker's time goes, with this run's figures."""
    line: dict[str, Any] = results.get("kafka_path", {})
    core = shown(pick(results, "replay", "core_events_per_s"), count)
    profile = (
        "It avoids the per-event costs that both floors pay to Faust: records go from the "
        "fetcher straight to their handlers, without the conductor's queues, the stream and its per-event "
        "bookkeeping (`pipelines/direct.py`); table writes leave once per key at each commit, and links, SLA "
        "events and checks as they are made, straight to the producer rather than through Faust's `Topic.send` "
        "(`pipelines/outbound.py`); a full batch commits beside the records that follow instead of holding "
        "the fetcher while the store writes; and a batch is 20,000 rows, the size ClickHouse asks inserts to "
        "have (at 5,000 the worker committed 13 times over this input and waited on the commit before for over "
        "a second). Once started, it keeps what start-up made out of CPython's garbage "
        "collector and collects less often (`pipelines/heap.py`): with the default thresholds a fifth of its CPU "
        "went to collections that walked every object it holds. A profile of the worker of this benchmark "
        "(`py-spy record --gil --pid <worker pid> --format raw` over its last second of start-up and its "
        "draining) put about a third of the time it holds Python's lock in the record handlers (parsing and "
        "validation a seventh of that, since the common event types are decoded in Rust, `native/`, and only "
        "the rest by pydantic), a fifth in Faust's fetcher loop, a sixth in the checkpoint's commits (judging "
        "each changed lead among them), and the rest in start-up, aiokafka's consumer thread, the store's "
        "inserts and the producer, a twentieth each. "
        "Running on uvloop with a 50 ms producer linger, and without Faust's terminal spinner (which set the root "
        "logger to DEBUG), each cut the worker's CPU in a profiled run."
    )
    scaling = (
        "Throughput grows with partitions and worker processes, one core each. On a 2-core machine two "
        "workers, the store service and the broker share two cores, and rows travel to the store service over "
        f"loopback HTTP (`bench_kafka_path` run (c): {(group_speedup(line) if line else None) or NOT_MEASURED}). "
        "The core's own target (100,000 events/s without Kafka) is still missed: it runs "
        f"{core} events/s in one process, its time spread over many small steps (decoding, a visitor's first "
        "touch, a lead's moves and the clocks its stage changes and calls move, row building), none over a quarter "
        "of it."
    )
    sentences = [*_measured_worker(line), profile, scaling]
    return paragraph(" ".join(["**Where a worker's time goes.**", *sentences]))


BLOCKS: dict[str, Callable[[Results], str]] = {
    "figures": figures_block,
    "capacity": capacity_block,
    "worker": worker_block,
}
