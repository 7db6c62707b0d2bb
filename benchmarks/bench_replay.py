"""Replay throughput: the pure core (no store) against `leadflow replay` end to end into a fresh chDB store.

    .venv/bin/python -m benchmarks.bench_replay [--visitors 20000] [--repeat 3] [--seed 42]

(a) core: every line of a simulated file through `pipelines.replay.Replayer` (parse, `lead_step`, `visit_step`,
    `link_step`, row building) with a store whose `insert` does nothing; the lines are read into memory first.
(b) `leadflow replay FILE --no-progress` as a subprocess into a fresh chDB store (chDB allows one process per
    data path), timed by wall clock; a replay of an empty file into another fresh store gives the fixed
    start-up cost (interpreter, imports, DDL), which is also reported subtracted. Both `--repeat` times, in
    turns, the best of each counting (a single run moved by a third between two runs on a quiet machine).
(c) not timed: that store's footprint once merged (`OPTIMIZE TABLE ... FINAL` on every table, then the active
    parts in `system.parts`): bytes on disk and rows over all tables, per stored event.
Generating the file is not counted. Target: the core without Kafka at >= 100k events/s.
Prints a few human-readable lines, the profile of (a), and one final JSON line.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.harness import load_after, load_before
from pipelines.agreements import load_agreements
from pipelines.core.sla import Judge
from pipelines.heap import paused_collector, settle_heap
from pipelines.replay import Replayer, ReplayStats, read_lines
from schemas.agreement import Agreement
from services.simulate import SimulationConfig, SimulationSummary, write_jsonl
from tests.integration.processes import base_env

REPO = Path(__file__).resolve().parents[1]
LEADFLOW = str(Path(sys.executable).with_name("leadflow"))
TARGET_CORE_EVENTS_PER_S = 100_000
FIXED_NOW = datetime(2027, 1, 31, tzinfo=UTC)


class NullStore:
    """A store that takes every insert and keeps nothing."""

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Answer nothing."""
        return []

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        """Drop the rows."""

    def close(self) -> None:
        """Nothing to release."""


def run_core(lines: list[tuple[int, bytes]], topic: str, judge: Judge) -> ReplayStats:
    """Feed every line through the core, as `replay_file` does (SLA clocks included), into the null store."""
    replayer = Replayer(NullStore(), FIXED_NOW, topic, judge)
    with paused_collector():
        for number, raw in lines:
            replayer.feed(raw, number)
        return replayer.finish()


def time_core(
    lines: list[tuple[int, bytes]], topic: str, agreements: Sequence[Agreement], repeat: int
) -> tuple[list[float], list[float], ReplayStats]:
    """Run the core `repeat` times; return the wall and CPU seconds of each run and the last run's stats.

    Each run has a judge of its own, as each replay has: no clock is remembered from the run before.
    """
    seconds: list[float] = []
    cpu: list[float] = []
    stats = ReplayStats()
    for _ in range(repeat):
        judge = Judge(agreements)
        started, started_cpu = time.perf_counter(), time.process_time()
        stats = run_core(lines, topic, judge)
        seconds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return seconds, cpu, stats


def _where(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    if filename == "~":
        return name  # a built-in
    for marker in ("site-packages/", str(REPO) + "/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line}({name})"


def profile_core(
    lines: list[tuple[int, bytes]], topic: str, judge: Judge, top: int
) -> tuple[list[dict[str, Any]], ...]:
    """Profile one core run; return the top functions by cumulative and by own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    run_core(lines, topic, judge)
    profiler.disable()
    stats = pstats.Stats(profiler)
    tables: list[list[dict[str, Any]]] = []
    for key in ("cumulative", "tottime"):
        stats.sort_stats(key)
        rows = []
        for func in stats.fcn_list[:top]:  # type: ignore[attr-defined]
            _cc, calls, own, cumulative, _callers = stats.stats[func]  # type: ignore[attr-defined]
            rows.append({"function": _where(func), "calls": calls, "tottime": own, "cumtime": cumulative})
        tables.append(rows)
    return tuple(tables)


def run_replay(path: Path, store_dir: Path, timeout: float) -> tuple[float, dict[str, Any]]:
    """Run `leadflow replay` into a fresh chDB store; return wall seconds and its printed stats."""
    # the repository's agreements, and event times weeks past today accepted, as the integration tests do: the
    # simulated weeks run past today's date, and `leadflow replay` refuses an event later than now plus the skew
    env = base_env(LEADFLOW_STORE=f"chdb:{store_dir}", LEADFLOW_LOG_LEVEL="WARNING")
    started = time.perf_counter()
    done = subprocess.run(
        [LEADFLOW, "replay", str(path), "--no-progress"],
        env=env,
        cwd=store_dir.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"leadflow replay failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall, json.loads(done.stdout.strip().splitlines()[-1])


def store_footprint(store_dir: Path) -> dict[str, float]:
    """Merge every table of a replayed store; return bytes on disk and rows over all tables per stored event."""
    import clickhouse_connect

    client = clickhouse_connect.get_client(interface="chdb", path=str(store_dir))
    try:
        here = "database = currentDatabase()"
        tables = client.query(f"SELECT name FROM system.tables WHERE {here} AND engine LIKE '%MergeTree'")
        for (table,) in tables.result_rows:
            client.command(f"OPTIMIZE TABLE `{table}` FINAL")
        parts = f"SELECT sum(bytes_on_disk), sum(rows) FROM system.parts WHERE {here} AND active"
        size, rows = client.query(parts).result_rows[0]
        events = client.query("SELECT count() FROM events FINAL").result_rows[0][0]
    finally:
        client.close()
    return {"bytes_per_event": _rate(size, events), "rows_per_event": _rate(rows, events), "events": events}


def _rate(events: float, seconds: float) -> float:
    return events / seconds if seconds > 0 else 0.0


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "tottime": round(row["tottime"], 4), "cumtime": round(row["cumtime"], 4)}


def _print_profile(title: str, rows: list[dict[str, Any]]) -> None:
    print(title)
    print(f"  {'calls':>9} {'tottime':>8} {'cumtime':>8}  function")
    for row in rows:
        print(f"  {row['calls']:>9} {row['tottime']:>8.3f} {row['cumtime']:>8.3f}  {row['function']}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(prog="benchmarks.bench_replay", description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=20_000, help="simulated visitors (about 4 events each)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of the core and of the replay (best counts)")
    parser.add_argument("--top", type=int, default=10, help="functions shown from the profile")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed for `leadflow replay`")
    args = parser.parse_args(argv)

    before = load_before()
    with tempfile.TemporaryDirectory(prefix="leadflow-bench-replay-") as tmp:
        root = Path(tmp)
        path = root / "events.jsonl"
        started = time.perf_counter()
        config = replace(SimulationConfig(), visitors=args.visitors, seed=args.seed)
        summary: SimulationSummary = write_jsonl(config, path)
        generated = time.perf_counter() - started
        size_mb = path.stat().st_size / 1e6
        events = summary.total
        print(
            f"input: {args.visitors:,} visitors -> {events:,} lines ({summary.valid:,} valid, "
            f"{summary.duplicates:,} duplicates, {summary.malformed:,} malformed), {size_mb:.1f} MB, "
            f"generated in {generated:.1f} s (not counted)"
        )

        # (a) the core, no store
        lines = list(read_lines(path))
        topic = f"replay:{path.name}"
        # the repository's agreements, as the `leadflow replay` below loads them (its LEADFLOW_AGREEMENTS)
        agreements = load_agreements(REPO / "agreements")
        judge = Judge(agreements)
        run_core(lines[: min(len(lines), 2000)], topic, judge)  # warm-up: imports, first-call costs
        settle_heap()  # the collector as `leadflow replay` sets it once started
        seconds, cpu, core_stats = time_core(lines, topic, agreements, max(1, args.repeat))
        if core_stats.lines != events or core_stats.invalid != summary.malformed:
            raise RuntimeError(f"core saw {core_stats.lines} lines / {core_stats.invalid} invalid, expected {events}")
        best, median = min(seconds), statistics.median(seconds)
        core_rate = _rate(events, best)
        cpu_rate = _rate(events, min(cpu))
        print(
            f"(a) core, no store:     {core_rate:>10,.0f} events/s  (best of {len(seconds)}: {best:.3f} s; "
            f"median {median:.3f} s = {_rate(events, median):,.0f} events/s; {core_stats.leads:,} leads)"
        )
        print(f"    per CPU second:     {cpu_rate:>10,.0f} events/s  (best CPU time {min(cpu):.3f} s)")

        # (b) leadflow replay end to end, in its own process
        empty = root / "empty.jsonl"
        empty.touch()
        startups, walls = [], []
        for run in range(max(1, args.repeat)):  # in turns, each into a fresh store: the best of each counts
            startups.append(run_replay(empty, root / f"store-empty-{run}", args.timeout)[0])
            run_wall, replay_stats = run_replay(path, root / f"store-{run}", args.timeout)
            if replay_stats["lines"] != events or replay_stats["invalid"] != summary.malformed:
                raise RuntimeError(f"leadflow replay reported {replay_stats}, expected {events} lines")
            walls.append(run_wall)
        startup, wall = min(startups), min(walls)
        replay_rate = _rate(events, wall)
        net_rate = _rate(events, wall - startup)  # 0 when start-up noise exceeds the work (tiny inputs)
        print(
            f"(b) leadflow replay:    {replay_rate:>10,.0f} events/s  (best of {len(walls)}: wall {wall:.2f} s into a "
            f"fresh chDB store, as a subprocess; median {statistics.median(walls):.2f} s)"
        )
        net_text = f"{net_rate:>10,.0f}" if net_rate else f"{'n/a':>10}"
        print(f"    without start-up:   {net_text} events/s  (start-up, an empty file: best {startup:.2f} s)")
        footprint = store_footprint(root / f"store-{len(walls) - 1}")
        print(
            f"(c) the store, merged: {footprint['bytes_per_event']:,.0f} bytes and {footprint['rows_per_event']:.2f} "
            f"rows on disk per event over all tables ({footprint['events']:,} events stored)"
        )

    ratio = _rate(replay_rate, core_rate)
    ratio_net = _rate(net_rate, core_rate)
    meets = core_rate >= TARGET_CORE_EVENTS_PER_S
    print(f"ratio (b)/(a): {ratio:.2f} end to end, {ratio_net:.2f} without start-up")
    print(
        f"target: core without Kafka >= {TARGET_CORE_EVENTS_PER_S:,} events/s -> "
        f"{'MET' if meets else 'NOT MET'} ({core_rate / TARGET_CORE_EVENTS_PER_S:.2f}x of target)"
    )

    by_cumulative, by_own = profile_core(lines, topic, judge, args.top)
    _print_profile(f"profile of (a), top {args.top} by cumulative time (cProfile, one run):", by_cumulative)
    _print_profile(f"profile of (a), top {args.top} by own time:", by_own)

    after = load_after()
    figures = {
        "benchmark": "replay",
        "load_before": before,
        "load_after": after,
        "visitors": args.visitors,
        "seed": args.seed,
        "events": events,
        "valid": summary.valid,
        "malformed": summary.malformed,
        "input_mb": round(size_mb, 2),
        "core_seconds_best": round(best, 4),
        "core_seconds_median": round(median, 4),
        "core_events_per_s": round(core_rate),
        "core_events_per_cpu_s": round(cpu_rate),
        "core_cpu_seconds_best": round(min(cpu), 4),
        "replay_wall_s": round(wall, 3),
        "replay_wall_s_median": round(statistics.median(walls), 3),
        "replay_events_per_s": round(replay_rate),
        "replay_startup_s": round(startup, 3),
        "replay_events_per_s_excl_startup": round(net_rate),
        "ratio_replay_to_core": round(ratio, 3),
        "ratio_replay_to_core_excl_startup": round(ratio_net, 3),
        "store_bytes_per_event": round(footprint["bytes_per_event"], 1),
        "store_rows_per_event": round(footprint["rows_per_event"], 3),
        "target_core_events_per_s": TARGET_CORE_EVENTS_PER_S,
        "core_meets_target": meets,
        "profile_top_cumulative": [_rounded(r) for r in by_cumulative],
        "profile_top_own": [_rounded(r) for r in by_own],
    }
    print(json.dumps(figures, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
