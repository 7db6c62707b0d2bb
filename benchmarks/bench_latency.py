"""Latency: event to stored row at a steady produce rate, and SLA deadline to breach published.

    .venv/bin/python -m benchmarks.bench_latency [--rate 200] [--seconds 60] [--leads 50] [--spacing 0.23] [--ahead 5]

A local KRaft broker on a free port in a temporary directory, then two `leadflow worker`s in turn, each with its
own topics (unique prefix), chDB store and web port, each waited for until an event sent to it is stored.
(a) event -> row: the simulated stream sent with aiokafka at `--rate` events/s for `--seconds`, the send time of
    every valid event noted; meanwhile the store (the worker's /leadflow/query page) is asked every `--poll`
    seconds which of the ids still awaited are in `events`. The events table has no insert-time column, so an
    event's latency is the answer time of the first poll that sees it minus its send time: an upper bound, at
    most one poll cycle late (the cycle and the query round trip are printed as the resolution).
(b) deadline -> breach (benchmarks/breach_latency.py): a worker judging by an agreement open around the clock
    whose `mql_follow_up` is due in 1 minute; `--leads` leads, one every `--spacing` seconds, become MQL by an
    event timed so that the deadline falls `--ahead` seconds after it is sent. A consumer on the SLA topic notes
    each `sla.breached`: its Kafka timestamp (when the worker published it) and when it was read, each minus the
    `deadline` it carries.
Targets: (a) p99 <= 2 s, (b) every breach published <= 1 s after its deadline. Broker and workers are stopped at
the end. Prints a few human-readable lines and one final JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.breach_latency import run_breaches
from benchmarks.harness import (
    SEEN_SQL,
    cpu_seconds,
    load_after,
    load_before,
    local_broker,
    quantile,
    rate,
    running_worker,
    shown,
    sink_settings,
    spread,
    start_producer,
    verdict,
    wait_live,
    worker_store,
)
from pipelines.settings import Settings
from pipelines.store.client import RemoteStore
from pipelines.topics import STAGES, TopicNames
from services.produce import route
from services.simulate import SimulatedEvent, SimulationConfig, simulate
from tests.integration.processes import Worker, group_env

TARGET_ROW_P99_S = 2.0
MAX_IDS_PER_POLL = 5000

Key = tuple[str, str]  # (source, id): the idempotency key of an event


# -- pure helpers ----------------------------------------------------------------------------------


def stream_prefix(count: int, seed: int) -> list[SimulatedEvent]:
    """Return the first `count` events of a simulation big enough to have them (about 4 events per visitor)."""
    config = replace(SimulationConfig(), seed=seed, visitors=max(1000, count // 3))
    return list(itertools.islice(simulate(config), count))


def tracked_key(event: SimulatedEvent) -> Key | None:
    """Return the (source, id) of an event that becomes a row, or None (malformed lines, resent duplicates)."""
    if event.kind not in ("valid", "late"):
        return None
    document = orjson.loads(event.value)
    return str(document["source"]), str(document["id"])


# -- (a) event -> row ------------------------------------------------------------------------------


@dataclass
class RowLatency:
    """Send and first-seen times (perf_counter) of tracked events, and what the producer and poller did."""

    sent: dict[Key, float] = field(default_factory=dict)
    seen: dict[Key, float] = field(default_factory=dict)
    pending: dict[Key, None] = field(default_factory=dict)  # insertion-ordered: oldest first
    events_sent: int = 0
    first_send: float = 0.0
    last_send: float = 0.0
    max_behind_s: float = 0.0
    poll_starts: list[float] = field(default_factory=list)
    round_trips: list[float] = field(default_factory=list)
    producing: bool = True
    worker_cpu_s: float = 0.0  # CPU seconds the worker used from going live to the end of the drain

    def latencies(self) -> list[float]:
        """Return first seen minus sent, per event seen."""
        return [self.seen[k] - self.sent[k] for k in self.seen]

    def p99_by_slice(self, slice_s: float) -> list[float]:
        """Return the p99 latency of the events sent in each `slice_s` seconds: a backlog shows as a rising series."""
        count = max(1, round((self.last_send - self.first_send) / slice_s))
        slices: list[list[float]] = [[] for _ in range(count)]
        for key, seen in self.seen.items():
            number = min(count - 1, int((self.sent[key] - self.first_send) // slice_s))
            slices[number].append(seen - self.sent[key])
        return [round(quantile(values, 0.99), 3) for values in slices]


async def produce_steadily(
    producer: AIOKafkaProducer, names: TopicNames, events: Sequence[SimulatedEvent], per_s: float, run: RowLatency
) -> None:
    """Send events on a fixed schedule (event i at i / per_s), noting the send time of every tracked one."""
    fallback = names.name(STAGES)
    started = time.perf_counter()
    run.first_send = started
    for number, event in enumerate(events):
        ahead = started + number / per_s - time.perf_counter()
        if ahead > 0:
            await asyncio.sleep(ahead)
        else:
            run.max_behind_s = max(run.max_behind_s, -ahead)
        topic, key = route(event.value, names, fallback)
        tracked = tracked_key(event)
        if tracked is not None and tracked not in run.sent:
            run.sent[tracked] = time.perf_counter()
            run.pending[tracked] = None
        await producer.send(topic, event.value, key=key)
        run.events_sent += 1
    run.last_send = time.perf_counter()
    await producer.flush()
    run.producing = False


async def poll_rows(store: RemoteStore, run: RowLatency, every: float, drain_s: float) -> None:
    """Ask the store every `every` seconds which pending ids it holds, until none is pending after producing."""
    drain_deadline = float("inf")
    while run.producing or (run.pending and time.perf_counter() < drain_deadline):
        started = time.perf_counter()
        if not run.producing and drain_deadline == float("inf"):
            drain_deadline = started + drain_s
        ids = [event_id for _source, event_id in itertools.islice(run.pending, MAX_IDS_PER_POLL)]
        if ids:
            rows = await asyncio.to_thread(store.query, SEEN_SQL, {"ids": ids})
            answered = time.perf_counter()
            run.poll_starts.append(started)
            run.round_trips.append(answered - started)
            for source, event_id in rows:
                if (source, event_id) in run.pending:
                    del run.pending[(source, event_id)]
                    run.seen[(source, event_id)] = answered
        await asyncio.sleep(max(0.0, started + every - time.perf_counter()))


async def measure_rows(
    bootstrap: str, worker: Worker, events: Sequence[SimulatedEvent], args: argparse.Namespace
) -> tuple[RowLatency, float]:
    """Wait until the worker is live, then produce steadily while polling; return the run and the wait."""
    names = TopicNames(worker.env["LEADFLOW_TOPIC_PREFIX"])
    store = worker_store(worker)
    pid = worker.process.pid if worker.process else 0
    producer = await start_producer(bootstrap)
    try:
        started = time.perf_counter()
        await wait_live(producer, store, names)
        live_s = time.perf_counter() - started
        run = RowLatency()
        cpu_live = cpu_seconds(pid)
        poller = asyncio.create_task(poll_rows(store, run, args.poll, args.drain))
        try:
            await produce_steadily(producer, names, events, args.rate, run)
        finally:
            run.producing = False
            await poller
        run.worker_cpu_s = cpu_seconds(pid) - cpu_live
    finally:
        await producer.stop()
    return run, live_s


def row_figures(run: RowLatency, per_s: float, poll: float) -> dict[str, Any]:
    """Return the figures of part (a)."""
    latencies = run.latencies()
    cycles = [b - a for a, b in itertools.pairwise(run.poll_starts)]
    sending_s = run.last_send - run.first_send
    row = spread(latencies)
    return {
        "rate_target": per_s,
        "events_sent": run.events_sent,
        "send_s": round(sending_s, 3),
        "rate_achieved": round(rate(run.events_sent, sending_s), 1),
        "producer_max_behind_s": round(run.max_behind_s, 4),
        "tracked": len(run.sent),
        "rows_seen": len(run.seen),
        "rows_missing": len(run.pending),
        **{f"row_latency_{k}_s": v for k, v in row.items()},
        "row_latency_p99_by_10s": run.p99_by_slice(10.0),
        "poll_interval_s": poll,
        "poll_cycle_mean_s": round(sum(cycles) / len(cycles), 4) if cycles else 0.0,
        "poll_round_trip_p50_s": round(quantile(run.round_trips, 0.5), 4),
        "poll_round_trip_p99_s": round(quantile(run.round_trips, 0.99), 4),
        "worker_cpu_s": round(run.worker_cpu_s, 2),
        "meets_row_target": bool(latencies) and not run.pending and row["p99"] <= TARGET_ROW_P99_S,
    }


def sink_figures(exposition: str) -> dict[str, Any]:
    """Return the sink's batches and mean write time from a worker's Prometheus exposition."""
    samples = {s.name: s.value for f in text_string_to_metric_families(exposition) for s in f.samples if not s.labels}
    batches = samples.get("leadflow_sink_batches_total", 0.0)
    writes = samples.get("leadflow_sink_flush_seconds_count", 0.0)
    mean = samples.get("leadflow_sink_flush_seconds_sum", 0.0) / writes if writes else 0.0
    return {"sink_batches": int(batches), "sink_write_mean_s": round(mean, 4)}


def print_rows(figures: dict[str, Any], port_s: float, live_s: float, interval: str) -> None:
    """Print part (a) in a few lines."""
    row = {k: figures[f"row_latency_{k}_s"] for k in ("p50", "p90", "p99", "max")}
    print(f"(a) event -> row: worker web port after {port_s:.1f} s, first event stored {live_s:.1f} s later")
    print(
        f"    sent {figures['events_sent']:,} events in {figures['send_s']:.1f} s: {figures['rate_achieved']:,.1f} "
        f"events/s (asked {figures['rate_target']:g}; producer at most {figures['producer_max_behind_s'] * 1000:.0f} "
        f"ms behind schedule); worker CPU {figures['worker_cpu_s']:.1f} s while sending and draining"
    )
    print(
        f"    latency over {figures['rows_seen']:,} of {figures['tracked']:,} valid events: {shown(row)} "
        f"({figures['rows_missing']} never seen)"
    )
    print(
        f"    p99 of the events sent in each 10 s: {', '.join(f'{v:.2f}' for v in figures['row_latency_p99_by_10s'])} s"
    )
    print(
        f"    resolution: a poll every {figures['poll_cycle_mean_s'] * 1000:.0f} ms on average, query round trip "
        f"p50 {figures['poll_round_trip_p50_s'] * 1000:.0f} ms / p99 {figures['poll_round_trip_p99_s'] * 1000:.0f} ms"
    )
    print(
        f"    sink: {figures['sink_batches']:,} batches, a write took {figures['sink_write_mean_s'] * 1000:.0f} ms on "
        f"average (LEADFLOW_SINK_INTERVAL {interval} s)"
    )
    print(f"    target p99 <= {TARGET_ROW_P99_S:g} s: {verdict(figures['meets_row_target'])}", flush=True)


# -- main ------------------------------------------------------------------------------------------


def run_rows(bootstrap: str, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Part (a) with a worker of its own; print and return its figures."""
    events = stream_prefix(int(args.rate * args.seconds), args.seed)
    env = group_env(bootstrap, root, "rows", args.partitions, **sink_settings(args.sink_interval, args.sink_batch_rows))
    with running_worker(env, root, "rows-worker") as (worker, port_s):
        run, live_s = asyncio.run(measure_rows(bootstrap, worker, events, args))
        exposition = worker.metrics()
    figures = row_figures(run, args.rate, args.poll)
    figures.update(sink_figures(exposition))
    figures.update(worker_startup_s=round(port_s, 3), worker_live_s=round(live_s, 3))
    print_rows(
        figures, port_s, live_s, env.get("LEADFLOW_SINK_INTERVAL", str(Settings.model_fields["sink_interval"].default))
    )
    return figures


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="benchmarks.bench_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="events per second sent in (a)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long (a) sends")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--poll", type=float, default=0.1, help="seconds between store polls in (a)")
    parser.add_argument("--leads", type=int, default=50, help="leads that breach in (b)")
    # not a multiple of the worker's 0.2 s SLA tick, so that deadlines fall at every phase of it
    parser.add_argument("--spacing", type=float, default=0.23, help="seconds between two MQLs in (b)")
    parser.add_argument("--ahead", type=float, default=5.0, help="seconds from sending an MQL to its deadline in (b)")
    parser.add_argument("--drain", type=float, default=60.0, help="seconds allowed after sending for rows/breaches")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--sink-interval", type=float, help="LEADFLOW_SINK_INTERVAL of the workers (default: own)")
    parser.add_argument("--sink-batch-rows", type=int, help="LEADFLOW_SINK_BATCH_ROWS of the workers (default: own)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    args = parse_args(argv)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the coordinator's first-use complaints
    figures: dict[str, Any] = {"benchmark": "latency", "seed": args.seed, "partitions": args.partitions}
    figures.update(sink_interval=args.sink_interval or "default", sink_batch_rows=args.sink_batch_rows or "default")
    figures["load_before"] = load_before()
    with tempfile.TemporaryDirectory(prefix="leadflow-bench-latency-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        with local_broker(root) as kafka:
            print(f"broker: {kafka.bootstrap} up in {time.perf_counter() - started:.1f} s", flush=True)
            figures.update(run_rows(kafka.bootstrap, root, args))
            figures.update(run_breaches(kafka.bootstrap, root, args))
    figures["load_after"] = load_after()
    print(json.dumps(figures, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
