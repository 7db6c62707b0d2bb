"""The dashboard benchmark's data: a simulated base replayed into chDB, then copied inside ClickHouse.

The base simulation covers the agreement's half year. Copy N of it gets its own ids (a `.N` suffix on event,
visitor, lead and deal ids, in the columns and in the CloudEvent payload) and happens N times 35 seconds later,
so business hours, weekdays and the daily traffic curve stay as the simulator made them. The copies (the base
itself is copy 0) are written week by week in time order, as a live store receives its rows, so data parts
hold neighbouring times as they would there. Every table the panels read is copied: events, lead_snapshots
(entries, transitions and clocks inside), first_touch_candidates, sla_events and dead_letters; events_by_time,
stage_entries_per_minute, lead_first_touches and visitor_months are filled by their materialised views. Nothing
here is timed by the benchmark.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipelines.agreements import load_agreements
from pipelines.core.sla import Judge
from pipelines.replay import ReplayStats, replay_file
from pipelines.store.client import ClickHouseStore
from services.simulate import SimulationConfig, SimulationSummary, write_jsonl

REPO = Path(__file__).resolve().parents[1]
BASE_START = datetime(2026, 7, 1, tzinfo=UTC)  # the first day of agreement 2026-H2
BASE_DAYS = 168  # 24 weeks: up to the Wednesday before the Christmas holidays, the boards' `now`
NOW = BASE_START + timedelta(days=BASE_DAYS)
COPY_SPACING_MS = 35_000  # copy N happens N times this much later than the base
SLICE = timedelta(weeks=1)
BASE = "bench_base"
# Each table copied, with the time that orders its rows as a live store writes them.
TABLES: dict[str, str] = {
    "events": "time",
    "lead_snapshots": "last_event_at",
    "first_touch_candidates": "visit_time",
    "sla_events": "published_at",
    "dead_letters": "received_at",
}
COUNTED = (*TABLES, "events_by_time", "stage_entries_per_minute", "lead_first_touches", "visitor_months")
DEAD_LETTER_OFFSET_STEP = 10_000_000_000  # keeps (topic, partition, offset) of every copy's dead letters apart
ID_TOKEN = r"'((?:v|lead|deal)-[0-9]+)'"  # the simulator's visitor, lead and deal ids
SUFFIX = "concat('.', toString(copy))"
SHIFT_MS = f"copy * {COPY_SPACING_MS}"


def copies_for(target_events: int, base_events: int) -> int:
    """Return how many copies (the base included) make at least `target_events` events."""
    return max(1, math.ceil(target_events / max(1, base_events)))


def simulate_base(path: Path, visitors: int, seed: int) -> SimulationSummary:
    """Write the base simulation: `visitors` first visits over BASE_DAYS days from BASE_START."""
    config = replace(SimulationConfig(), seed=seed, visitors=visitors, start=BASE_START, days=BASE_DAYS)
    return write_jsonl(config, path)


def replay_base(path: Path, store: ClickHouseStore) -> ReplayStats:
    """Replay the base file into the store as `leadflow replay` does."""
    judge = Judge(load_agreements(REPO / "agreements"))
    return replay_file(path, store, judge, now=NOW)


def _renamed(column: str) -> str:
    return f"if({column} = '', '', concat({column}, {SUFFIX}))"


def _moved(column: str) -> str:
    return f"addMilliseconds({column}, {SHIFT_MS})"


def _payload() -> str:
    """The CloudEvent JSON of a copy: its ids renamed, its `time` moved (written in UTC)."""
    ids = f"replaceRegexpAll(payload, {ID_TOKEN}, concat('\\\\1', {SUFFIX}))"
    quoted = "concat('\"id\":\"', id, '\"')"
    event_id = f"replaceOne({ids}, {quoted}, concat('\"id\":\"', id, {SUFFIX}, '\"'))"
    when = f"concat('\"time\":\"', replaceOne(toString({_moved('time')}), ' ', 'T'), 'Z\"')"
    return f'replaceRegexpOne({event_id}, \'"time":"[^"]*"\', {when})'


def _events() -> str:
    return (
        f"source, concat(id, {SUFFIX}), type, {_moved('time')}, {_renamed('subject')}, {_renamed('lead_id')}, "
        f"{_renamed('visitor_id')}, {_payload()}, topic, partition, offset"
    )


def _lead_snapshots() -> str:
    entries = f"arrayMap(e -> (e.episode, e.stage, {_moved('e.entered_at')}), entries)"
    transitions = (
        f"arrayMap(t -> ({_moved('t.at')}, t.event_source, concat(t.event_id, {SUFFIX}), t.from_stage, "
        "t.to_stage, t.episode, t.kind), transitions)"
    )
    clock_times = ", ".join(_moved(f"c.{name}") for name in ("started_at", "deadline", "warn_at", "stopped_at"))
    clocks = (
        f"arrayMap(c -> (c.handoff, c.agreement, c.episode, {clock_times}, c.business_seconds, c.owner_id), clocks)"
    )
    return (
        f"{_renamed('lead_id')}, revision, {_moved('created_at')}, stage, episode, episode_open, owner_id, "
        f"arrayMap(v -> concat(v, {SUFFIX}), visitor_ids), {_moved('last_event_at')}, "
        f"{entries}, {transitions}, {clocks}, "
        f"arrayMap(s -> (s.handoff, s.episode, s.kind, {_moved('s.at')}), clock_steps)"
    )


def _first_touch_candidates() -> str:
    return (
        f"{_renamed('lead_id')}, {_renamed('visitor_id')}, visit_source, concat(visit_id, {SUFFIX}), "
        f"{_moved('visit_time')}, url, referrer, utm_source, utm_medium, utm_campaign"
    )


def _sla_events() -> str:
    event_id = f"replaceRegexpAll(event_id, {ID_TOKEN}, concat('\\\\1', {SUFFIX}))"
    times = ", ".join(_moved(name) for name in ("started_at", "deadline", "stopped_at"))
    return (
        f"{_renamed('lead_id')}, handoff, episode, kind, {event_id}, agreement, owner_id, {times}, "
        f"business_seconds, {_moved('due_at')}, {_moved('published_at')}"
    )


def _dead_letters() -> str:
    return f"topic, partition, offset + copy * {DEAD_LETTER_OFFSET_STEP}, reason, raw, {_moved('received_at')}"


COPIED_COLUMNS: dict[str, Callable[[], str]] = {
    "events": _events,
    "lead_snapshots": _lead_snapshots,
    "first_touch_candidates": _first_touch_candidates,
    "sla_events": _sla_events,
    "dead_letters": _dead_letters,
}


def copy_statement(table: str, copies: int, start: datetime, end: datetime) -> str:
    """Return the INSERT ... SELECT that writes the rows of every copy of `table` that fall in [start, end)."""
    column = TABLES[table]
    earliest = start - timedelta(milliseconds=latest_shift_ms(copies))
    rows = f"(SELECT * FROM {BASE}.{table} WHERE {column} >= {_instant(earliest)} AND {column} < {_instant(end)})"
    window = f"{_moved(column)} >= {_instant(start)} AND {_moved(column)} < {_instant(end)}"
    columns = COPIED_COLUMNS[table]()
    return f"INSERT INTO {table} SELECT {columns} FROM {rows} ARRAY JOIN range({copies}) AS copy WHERE {window}"


def latest_shift_ms(copies: int) -> int:
    """Return how much later than the base the last copy happens."""
    return (copies - 1) * COPY_SPACING_MS


def _instant(moment: datetime) -> str:
    return f"fromUnixTimestamp64Milli({int(moment.timestamp() * 1000)}, 'UTC')"


def keep_base(client: Any) -> None:
    """Move the replayed rows apart (database bench_base) and empty the store's tables, to copy them back in order.

    The replay wrote its rows in a few large batches that each span months; a live store's batches span about
    a second. Copy 0 is the base itself, written back week by week like every other copy.
    """
    client.command(f"CREATE DATABASE IF NOT EXISTS {BASE}")
    for table, column in TABLES.items():
        select = f"SELECT * FROM {table}"
        client.command(f"CREATE TABLE {BASE}.{table} ENGINE = MergeTree ORDER BY {column} AS {select}")
    for table in COUNTED:
        client.command(f"TRUNCATE TABLE {table}")


def drop_base(client: Any) -> None:
    """Drop the kept base rows."""
    client.command(f"DROP DATABASE IF EXISTS {BASE}")


def slices(client: Any, copies: int) -> list[tuple[datetime, datetime]]:
    """Return the weeks from the earliest row of any copy to the latest, in time order."""
    bounds = [
        client.query(f"SELECT min({column}), max({column}) FROM {BASE}.{table}").result_rows[0]
        for table, column in TABLES.items()
    ]
    first = min(low for low, _ in bounds).replace(tzinfo=UTC)
    last = max(high for _, high in bounds).replace(tzinfo=UTC) + timedelta(milliseconds=latest_shift_ms(copies))
    start = BASE_START - SLICE * math.ceil((BASE_START - first) / SLICE)
    return list(_weeks(start, last))


def _weeks(start: datetime, last: datetime) -> Iterator[tuple[datetime, datetime]]:
    while start <= last:
        yield start, start + SLICE
        start += SLICE


def add_copies(client: Any, copies: int, on_slice: Callable[[int, int], None]) -> None:
    """Write copies 0 .. copies-1 of every table, a week of rows at a time, in time order."""
    weeks = slices(client, copies)
    for number, (start, end) in enumerate(weeks, start=1):
        for table in TABLES:
            client.command(copy_statement(table, copies, start, end))
        on_slice(number, len(weeks))


def table_counts(client: Any) -> dict[str, int]:
    """Return the rows of every table the panels read (stage entries and clocks of the views too)."""
    counts = {table: int(client.command(f"SELECT count() FROM {table}")) for table in COUNTED}
    for view in ("stage_entries", "sla_clocks"):
        counts[view] = int(client.command(f"SELECT count() FROM {view}"))
    return counts


def active_parts(client: Any) -> dict[str, int]:
    """Return the active data parts of every table of the store."""
    rows = client.query(
        "SELECT table, count() FROM system.parts WHERE active AND database = currentDatabase() GROUP BY table"
    ).result_rows
    return {str(table): int(parts) for table, parts in rows}


def settle_merges(client: Any, timeout_s: float, quiet_s: float = 3.0) -> float:
    """Wait until no merge has run for `quiet_s` seconds (or `timeout_s` passes); return the seconds waited."""
    began = time.perf_counter()
    quiet_since = began
    while time.perf_counter() - began < timeout_s:
        if int(client.command("SELECT count() FROM system.merges")) > 0:
            quiet_since = time.perf_counter()
        elif time.perf_counter() - quiet_since >= quiet_s:
            break
        time.sleep(0.25)
    return time.perf_counter() - began
