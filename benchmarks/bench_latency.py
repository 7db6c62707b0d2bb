"""Latency: event to stored row at a steady produce rate, and SLA deadline to breach published.

    .venv/bin/python -m benchmarks.bench_latency [--rate 200] [--seconds 60] [--leads 50] [--spacing 0.23] [--ahead 5]

A local KRaft broker on a free port in a temporary directory, then two `leadflow worker`s in turn, each with its
own topics (unique prefix), chDB store and web port, each waited for until an event sent to it is stored.
(a) event -> row: the simulated stream sent with aiokafka at `--rate` events/s for `--seconds`, the send time of
    every valid event noted; meanwhile the store (the worker's /leadflow/query page) is asked every `--poll`
    seconds which of the ids still awaited are in `events`. The events table has no insert-time column, so an
    event's latency is the answer time of the first poll that sees it minus its send time: an upper bound, at
    most one poll cycle late (the cycle and the query round trip are printed as the resolution).
(b) deadline -> breach: a worker judging by an agreement open around the clock whose `mql_follow_up` is due in
    1 minute; `--leads` leads, one every `--spacing` seconds, become MQL by an event timed so that the deadline
    falls `--ahead` seconds after it is sent. A consumer on the SLA topic notes each `sla.breached`: its Kafka
    timestamp (when the worker published it) and when it was read, each minus the `deadline` it carries.
Targets: (a) p99 <= 2 s, (b) every breach published <= 1 s after its deadline. Broker and workers are stopped at
the end. Prints a few human-readable lines and one final JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.harness import (
    cpu_seconds,
    load_average,
    local_broker,
    quantile,
    rate,
    running_worker,
    sink_settings,
    worker_store,
)
from pipelines.settings import Settings
from pipelines.store.client import RemoteStore
from pipelines.store.exceptions import StoreError
from pipelines.topics import SLA, STAGES, VISITS, TopicNames
from services.produce import route
from services.simulate import SimulatedEvent, SimulationConfig, simulate
from tests.integration.agreements import around_the_clock
from tests.integration.processes import Worker, group_env
from tests.unit.factories import stage_event, visit_event

TARGET_ROW_P99_S = 2.0
TARGET_BREACH_S = 1.0
WITHIN = timedelta(minutes=1)  # the around-the-clock agreement's mql_follow_up
SEEN_SQL = "SELECT source, id FROM events WHERE id IN {ids:Array(String)}"
MAX_IDS_PER_POLL = 5000
LIVE_TIMEOUT = 120.0

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


def spread(values: Sequence[float]) -> dict[str, float]:
    """Return p50/p90/p99/max of values in seconds, to 0.1 ms (all 0 when there are none)."""
    figures = {f"p{int(q * 100)}": quantile(values, q) for q in (0.5, 0.9, 0.99)}
    figures["max"] = max(values, default=0.0)
    return {k: round(v, 4) for k, v in figures.items()}


def shown(figures: dict[str, float]) -> str:
    """Return `p50 0.512 s, p90 ..., max ...` for a printed line."""
    return ", ".join(f"{name} {value:.3f} s" for name, value in figures.items())


def verdict(met: bool) -> str:
    """Return MET or NOT MET."""
    return "MET" if met else "NOT MET"


# -- Kafka and store -------------------------------------------------------------------------------


async def start_producer(bootstrap: str) -> AIOKafkaProducer:
    """Return a started producer with `leadflow produce`'s guarantees (idempotent, acks=all), lingering little."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    return producer


async def wait_live(producer: AIOKafkaProducer, store: RemoteStore, names: TopicNames) -> None:
    """Send one visit and wait until the worker has stored it: partitions assigned, agents and sink running."""
    event_id = f"live-{uuid.uuid4().hex}"
    await producer.send_and_wait(names.name(VISITS), visit_event("bench-live", datetime.now(UTC), id=event_id))
    started = time.perf_counter()
    while time.perf_counter() - started < LIVE_TIMEOUT:
        try:
            if await asyncio.to_thread(store.query, SEEN_SQL, {"ids": [event_id]}):
                return
        except StoreError:
            pass  # the worker may still be opening its store
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the worker did not store an event in {LIVE_TIMEOUT:.0f} s")


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


# -- (b) deadline -> breach ------------------------------------------------------------------------


@dataclass(frozen=True)
class Breach:
    """One `sla.breached` as read: its deadline, Kafka timestamp and read time (epoch seconds)."""

    lead_id: str
    deadline: float
    published: float
    received: float


def breach_of(value: bytes, timestamp_ms: int, received: float, prefix: str) -> Breach | None:
    """Return the breach in an SLA topic message about one of the benchmark's leads, else None."""
    document = orjson.loads(value)
    if document.get("type") != "sla.breached" or not str(document.get("subject", "")).startswith(prefix):
        return None
    deadline = datetime.fromisoformat(document["data"]["deadline"]).timestamp()
    return Breach(document["subject"], deadline, timestamp_ms / 1000, received)


async def collect_breaches(consumer: AIOKafkaConsumer, prefix: str, wanted: int, until: float) -> list[Breach]:
    """Read the SLA topic until `wanted` distinct leads have breached or the wall clock passes `until`."""
    breaches: dict[str, Breach] = {}
    while len(breaches) < wanted and time.time() < until:
        batches = await consumer.getmany(timeout_ms=50)
        received = time.time()
        for records in batches.values():
            for record in records:
                breach = breach_of(record.value, record.timestamp, received, prefix)
                if breach is not None:
                    breaches.setdefault(breach.lead_id, breach)
    return list(breaches.values())


async def send_mqls(producer: AIOKafkaProducer, names: TopicNames, prefix: str, args: argparse.Namespace) -> None:
    """Make `args.leads` leads MQL, one every `args.spacing` s, each due `args.ahead` s after it is sent."""
    topic = names.name(STAGES)
    started = time.perf_counter()
    for number in range(args.leads):
        await asyncio.sleep(max(0.0, started + number * args.spacing - time.perf_counter()))
        lead = f"{prefix}{number}"
        moment = datetime.now(UTC) + timedelta(seconds=args.ahead) - WITHIN
        await producer.send(topic, stage_event(lead, "mql", moment, id=f"{lead}-mql"), key=lead.encode())
    await producer.flush()


async def measure_breaches(
    bootstrap: str, names: TopicNames, store: RemoteStore, args: argparse.Namespace
) -> list[Breach]:
    """Wait until the worker is live, then send the MQLs and read their breaches off the SLA topic."""
    prefix = f"bench-breach-{uuid.uuid4().hex[:6]}-"
    consumer = AIOKafkaConsumer(
        names.name(SLA), bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    producer = await start_producer(bootstrap)
    await consumer.start()
    try:
        await wait_live(producer, store, names)
        until = time.time() + args.leads * args.spacing + args.ahead + args.drain
        collector = asyncio.create_task(collect_breaches(consumer, prefix, args.leads, until))
        await send_mqls(producer, names, prefix, args)
        return await collector
    finally:
        await consumer.stop()
        await producer.stop()


def breach_figures(breaches: Sequence[Breach], leads: int) -> dict[str, Any]:
    """Return the figures of part (b)."""
    published = spread([b.published - b.deadline for b in breaches])
    received = spread([b.received - b.deadline for b in breaches])
    return {
        "leads": leads,
        "breaches_seen": len(breaches),
        **{f"breach_published_{k}_s": v for k, v in published.items()},
        **{f"breach_received_{k}_s": v for k, v in received.items()},
        "breach_published_min_s": round(min((b.published - b.deadline for b in breaches), default=0.0), 4),
        "meets_breach_target": len(breaches) == leads and published["max"] <= TARGET_BREACH_S,
    }


def print_breaches(figures: dict[str, Any], args: argparse.Namespace) -> None:
    """Print part (b) in a few lines."""
    published = {k: figures[f"breach_published_{k}_s"] for k in ("p50", "p90", "p99", "max")}
    received = {k: figures[f"breach_received_{k}_s"] for k in ("p50", "p90", "p99", "max")}
    print(
        f"(b) deadline -> breach: {figures['breaches_seen']} of {figures['leads']} leads breached "
        f"(one MQL every {args.spacing:g} s, due {args.ahead:g} s after it was sent)"
    )
    print(f"    published (Kafka timestamp - deadline): {shown(published)}")
    print(f"    read by a consumer (read - deadline):   {shown(received)}")
    print(f"    target every breach <= {TARGET_BREACH_S:g} s: {verdict(figures['meets_breach_target'])}", flush=True)


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


def run_breaches(bootstrap: str, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Part (b) with a worker of its own judging by an around-the-clock agreement; print and return its figures."""
    folder = around_the_clock(root / "agreements", datetime.now(UTC), "bench-latency")
    env = group_env(
        bootstrap,
        root,
        "breach",
        args.partitions,
        LEADFLOW_AGREEMENTS=str(folder),
        **sink_settings(args.sink_interval, args.sink_batch_rows),
    )
    names = TopicNames(env["LEADFLOW_TOPIC_PREFIX"])
    with running_worker(env, root, "breach-worker") as (worker, _port_s):
        breaches = asyncio.run(measure_breaches(bootstrap, names, worker_store(worker), args))
    figures = breach_figures(breaches, args.leads)
    print_breaches(figures, args)
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
    figures["load_before"] = load_average()
    print(f"load average (1/5/15 min) before: {figures['load_before']} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="leadflow-bench-latency-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        with local_broker(root) as kafka:
            print(f"broker: {kafka.bootstrap} up in {time.perf_counter() - started:.1f} s", flush=True)
            figures.update(run_rows(kafka.bootstrap, root, args))
            figures.update(run_breaches(kafka.bootstrap, root, args))
    figures["load_after"] = load_average()
    print(f"load average after: {figures['load_after']} (other processes on this machine skew every figure)")
    print(json.dumps(figures, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
