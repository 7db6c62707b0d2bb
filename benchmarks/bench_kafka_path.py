"""Kafka path throughput: one `leadflow worker` (Kafka -> state -> chDB) against a bare aiokafka loop.

    .venv/bin/python -m benchmarks.bench_kafka_path [--visitors 20000] [--partitions 4] [--timeout 300] [--group 2]

A local KRaft broker on a free port in a temporary directory; a simulated file produced with `leadflow produce`
onto fresh topics (unique prefix). Then, with every event already in Kafka:
(a) baseline: an AIOKafkaConsumer on the same input topics (fresh group, earliest), `orjson.loads` of every value,
    until it has read every produced message;
(f) Faust's own floors (benchmarks/faust_floor.py, each in a process of its own, fresh group): a trivial agent
    that decodes every value, and the same adding 1 to a changelogged table per event; each timed from its
    partitions being assigned until it has consumed every message;
(b) leadflow: `leadflow worker` (own chDB store, web port, app id), timed from its start until its store holds
    every event (`events FINAL` = distinct valid events, `dead_letters FINAL` = malformed lines), polled through
    the worker's /leadflow/query page. Start-up is the time until its web port answers; its rate counts from its
    partitions being assigned, as the floors' (joining the group is start-up they leave out; read from /metrics);
(c) `--group` workers (default 2) in a new consumer group over the same topics, sharing one embedded store held
    by `leadflow store serve`: timed from the first spawn, rate counted from when every web port answers.
Targets: (b), from its assignment, at least 1.5x the table floor and 0.5x the plain floor, in the same run.
Broker, workers and store service are stopped at the end; prints a few human-readable lines and a final JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener

from benchmarks.faust_floor import run_floor
from benchmarks.harness import (
    assigned_after,
    cpu_seconds,
    load_after,
    load_before,
    local_broker,
    rate,
    row_counts,
    running_worker,
    sink_settings,
    spawn_worker,
    stored_counts,
    worker_store,
)
from pipelines.store.exceptions import StoreError
from pipelines.topics import INPUT_TOPICS
from services.simulate import SimulationConfig, write_jsonl
from tests.integration.kafka_fixture import free_port
from tests.integration.processes import Worker, group_env, leadflow_json
from tests.integration.store_processes import StoreService

TABLE_FLOOR_TARGET = 1.5
PLAIN_FLOOR_TARGET = 0.5


@dataclass
class BaselineRun:
    """What the bare consumer did; times are seconds since the consumer was created."""

    messages: int
    not_json: int
    assigned_at: float
    first_batch_at: float
    done_at: float


@dataclass
class WorkerRun:
    """What the worker did; times are seconds since its process was spawned."""

    port_at: float
    first_row_at: float
    first_row_count: int
    done_at: float
    events: int
    dead_letters: int
    complete: bool
    cpu_s: float


class _Assigned(ConsumerRebalanceListener):
    """Notes when the group gave the consumer its partitions."""

    def __init__(self) -> None:
        self.at = 0.0

    async def on_partitions_revoked(self, revoked: Any) -> None:
        """Nothing to do."""

    async def on_partitions_assigned(self, assigned: Any) -> None:
        """Note the first assignment."""
        self.at = self.at or time.perf_counter()


async def _consume(bootstrap: str, topics: Sequence[str], expected: int, timeout: float) -> BaselineRun:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"bench-baseline-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
    )
    listener = _Assigned()
    started = time.perf_counter()
    consumer.subscribe(topics=list(topics), listener=listener)
    await consumer.start()
    messages = not_json = 0
    first_at = 0.0
    try:
        while messages < expected:
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"baseline read {messages} of {expected} messages in {timeout:.0f} s")
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    try:
                        orjson.loads(record.value)
                    except orjson.JSONDecodeError:
                        not_json += 1
                messages += len(records)
            if not first_at and messages:
                first_at = time.perf_counter() - started
        done_at = time.perf_counter() - started
    finally:
        await consumer.stop()
    return BaselineRun(messages, not_json, listener.at - started, first_at, done_at)


def run_baseline(bootstrap: str, topics: Sequence[str], expected: int, timeout: float) -> BaselineRun:
    """Read every produced message with a bare aiokafka consumer, decoding each value."""
    return asyncio.run(_consume(bootstrap, topics, expected, timeout))


def drain(
    worker: Worker, started: float, port_at: float, valid: int, malformed: int, timeout: float, poll: float
) -> WorkerRun:
    """Poll the store of a worker spawned at `started` (perf_counter) until every event is in.

    Polls count stored rows, which the store answers from part metadata; only once there are enough rows does
    a poll count distinct ones (FINAL), whose cost grows with the table. The worker answers every poll in its own
    process, beside its sink's writes, so polling must stay cheap not to slow down what it measures.
    """
    store = worker_store(worker)
    first_at, first_count, events, dead = 0.0, 0, 0, 0
    while True:
        try:
            events, dead = row_counts(store)
            if events >= valid and dead >= malformed:
                events, dead = stored_counts(store)
        except StoreError:
            worker.answers()  # fail at once if the worker died
        now = time.perf_counter() - started
        if not first_at and events:
            first_at, first_count = now, events
        complete = events >= valid and dead >= malformed
        if complete or now > timeout:
            cpu = cpu_seconds(worker.process.pid) if worker.process else 0.0
            return WorkerRun(port_at, first_at, first_count, now, events, dead, complete, cpu)
        time.sleep(poll)


@dataclass
class GroupRun:
    """What a consumer group of workers sharing one store did; times are seconds since the first was spawned."""

    workers: int
    ready_at: float
    done_at: float
    events: int
    dead_letters: int
    complete: bool
    cpu_s: float


def run_group(env: dict[str, str], root: Path, workers: int, valid: int, malformed: int, args: Any) -> GroupRun:
    """Run `workers` workers in a new consumer group over the same topics, sharing a store through its service.

    The store service holds the embedded store (`leadflow store serve`), every worker writes through it. Timed
    from the first worker's spawn until the store holds every event; the group's CPU is the workers' and the
    service's together.
    """
    folder = root / "group"
    folder.mkdir()
    group = dict(env, LEADFLOW_APP_ID=env["LEADFLOW_APP_ID"] + "-group", LEADFLOW_STORE=f"chdb:{folder / 'store'}")
    service = StoreService(group, folder).start()
    members: list[Worker] = []
    try:
        started = time.perf_counter()
        for n in range(workers):
            member_env = dict(group, LEADFLOW_WEB_PORT=str(free_port()), LEADFLOW_STATE_DIR=str(folder / f"faust{n}"))
            members.append(Worker(member_env, folder, f"worker{n}"))
        for member in members:
            spawn_worker(member)
        ready_at = time.perf_counter() - started
        store = service.store()
        while True:
            events, dead = row_counts(store)
            if events >= valid and dead >= malformed:
                events, dead = stored_counts(store)
            now = time.perf_counter() - started
            complete = events >= valid and dead >= malformed
            if complete or now > args.timeout:
                pids = [m.process.pid for m in members if m.process] + [service.process.pid if service.process else 0]
                cpu = sum(cpu_seconds(pid) for pid in pids if pid)
                return GroupRun(workers, ready_at, now, events, dead, complete, cpu)
            for member in members:
                member.answers()  # fail at once if one died
            time.sleep(args.poll)
    finally:
        for member in members:
            member.stop()
        service.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(prog="benchmarks.bench_kafka_path", description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=20_000, help="simulated visitors (about 4 events each)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds allowed for the worker to drain")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between store polls")
    parser.add_argument("--sink-interval", type=float, help="LEADFLOW_SINK_INTERVAL of the worker (default: its own)")
    parser.add_argument("--sink-batch-rows", type=int, help="LEADFLOW_SINK_BATCH_ROWS of the worker (default: its own)")
    parser.add_argument("--group", type=int, default=2, help="workers in the consumer-group run (c); 0 skips it")
    args = parser.parse_args(argv)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the coordinator's first-use complaints

    figures: dict[str, Any] = {"benchmark": "kafka_path", "visitors": args.visitors, "seed": args.seed}
    figures["load_before"] = load_before()
    with tempfile.TemporaryDirectory(prefix="leadflow-bench-kafka-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        with local_broker(root) as kafka:
            print(f"broker: {kafka.bootstrap} up in {time.perf_counter() - started:.1f} s")

            path = root / "events.jsonl"
            summary = write_jsonl(replace(SimulationConfig(), visitors=args.visitors, seed=args.seed), path)
            sink = sink_settings(args.sink_interval, args.sink_batch_rows)
            env = group_env(kafka.bootstrap, root, "bench", args.partitions, **sink)
            started = time.perf_counter()
            sent = int(leadflow_json(["produce", str(path)], env, root)["sent"])
            produced_s = time.perf_counter() - started
            if sent != summary.total:
                raise RuntimeError(f"leadflow produce sent {sent} events, the file has {summary.total}")
            print(
                f"input: {args.visitors:,} visitors -> {sent:,} events ({summary.valid:,} valid distinct, "
                f"{summary.duplicates:,} duplicates, {summary.malformed:,} malformed) on {len(INPUT_TOPICS)} topics "
                f"x {args.partitions} partitions; `leadflow produce` took {produced_s:.1f} s "
                f"({rate(sent, produced_s):,.0f} events/s)"
            )

            topics = [env["LEADFLOW_TOPIC_PREFIX"] + t for t in INPUT_TOPICS]
            base = run_baseline(kafka.bootstrap, topics, sent, args.timeout)
            base_total = rate(base.messages, base.done_at)
            base_steady = rate(base.messages, base.done_at - base.assigned_at)
            print(
                f"(a) aiokafka consume+orjson: {base_total:>9,.0f} events/s incl. start-up "
                f"({base.messages:,} in {base.done_at:.2f} s; partitions assigned after {base.assigned_at:.2f} s, "
                f"first batch after {base.first_batch_at:.2f} s)",
                flush=True,
            )
            print(f"                             {base_steady:>9,.0f} events/s excl. start-up (assigned -> done)")

            floors = {}
            for kind in ("plain", "table"):
                floor = run_floor(kafka.bootstrap, env["LEADFLOW_TOPIC_PREFIX"], args.partitions, sent, kind == "table")
                floors[kind] = rate(floor["events"], floor["seconds"])
                what = "orjson per event" if kind == "plain" else "orjson + 1 changelogged table write per event"
                print(
                    f"(f) Faust floor, {kind}:       {floors[kind]:>9,.0f} events/s ({what}; assigned -> done, "
                    f"{floor['seconds_from_start']:.1f} s from its start)",
                    flush=True,
                )

            started, started_wall = time.perf_counter(), time.time()
            with running_worker(env, root) as (worker, port_at):
                run = drain(worker, started, port_at, summary.valid, summary.malformed, args.timeout, args.poll)
                assigned_at = assigned_after(worker, started_wall)
            processed = sent if run.complete else run.events + run.dead_letters  # partial: duplicates not seen
            lf_total = rate(processed, run.done_at)
            lf_excl = rate(processed, run.done_at - run.port_at)
            lf_assigned = rate(processed, run.done_at - assigned_at) if assigned_at is not None else lf_excl
            lf_steady = rate(run.events - run.first_row_count, run.done_at - run.first_row_at)
            state = "all events stored" if run.complete else f"TIMEOUT: {run.events:,} events stored"
            print(
                f"(b) leadflow worker:         {lf_total:>9,.0f} events/s incl. start-up "
                f"({state} after {run.done_at:.2f} s; web port after {run.port_at:.2f} s; "
                f"first row after {run.first_row_at:.2f} s)"
            )
            print(
                f"                             {lf_excl:>9,.0f} events/s excl. start-up (web port -> done), "
                f"{lf_steady:>9,.0f} stored rows/s after the first row"
            )
            print(
                f"                             {lf_assigned:>9,.0f} events/s from its assignment, as the floors "
                f"(assigned after {assigned_at if assigned_at is not None else float('nan'):.2f} s)"
            )
            print(
                f"                             worker CPU {run.cpu_s:.1f} s over {run.done_at:.1f} s "
                f"({run.cpu_s / run.done_at:.0%} of one core)"
            )

            group = None
            if args.group > 0:
                group = run_group(env, root, args.group, summary.valid, summary.malformed, args)
                group_rate = rate(sent if group.complete else group.events, group.done_at - group.ready_at)
                state = "all events stored" if group.complete else f"TIMEOUT: {group.events:,} events stored"
                print(
                    f"(c) {group.workers} workers, one group:   {group_rate:>9,.0f} events/s excl. start-up "
                    f"({state} after {group.done_at:.2f} s; all web ports after {group.ready_at:.2f} s), "
                    f"store through `leadflow store serve`"
                )
                print(
                    f"                             {rate(group_rate, lf_excl):.2f}x one worker; "
                    f"CPU of workers and store service {group.cpu_s:.1f} s"
                )
                figures.update(
                    {
                        "group_workers": group.workers,
                        "group_complete": group.complete,
                        "group_s": round(group.done_at, 3),
                        "group_startup_s": round(group.ready_at, 3),
                        "group_cpu_s": round(group.cpu_s, 2),
                        "group_events_per_s_excl_startup": round(group_rate),
                        "group_speedup": round(rate(group_rate, lf_excl), 3),
                        "group_ratio": round(rate(group_rate, base_steady), 4),
                    }
                )

    ratio = rate(lf_excl, base_steady)
    ratio_total = rate(lf_total, base_total)
    ratio_steady = rate(lf_steady, base_steady)
    table_ratio, plain_ratio = rate(lf_assigned, floors["table"]), rate(lf_assigned, floors["plain"])
    meets = run.complete and table_ratio >= TABLE_FLOOR_TARGET and plain_ratio >= PLAIN_FLOOR_TARGET
    print(
        f"worker / table floor: {table_ratio:.2f} (target >= {TABLE_FLOOR_TARGET}); worker / plain floor: "
        f"{plain_ratio:.2f} (target >= {PLAIN_FLOOR_TARGET}): {'MET' if meets else 'NOT MET'}"
    )
    print(
        f"ratio leadflow/bare loop: {ratio:.3f} excl. start-up; {ratio_total:.3f} incl. start-up; "
        f"{ratio_steady:.3f} after first row"
    )
    figures["load_after"] = load_after()
    figures.update(
        {
            "events": sent,
            "valid": summary.valid,
            "malformed": summary.malformed,
            "partitions": args.partitions,
            "produce_s": round(produced_s, 3),
            "baseline_s": round(base.done_at, 3),
            "baseline_startup_s": round(base.assigned_at, 3),
            "baseline_first_batch_s": round(base.first_batch_at, 3),
            "baseline_not_json": base.not_json,
            "baseline_events_per_s": round(base_total),
            "baseline_events_per_s_excl_startup": round(base_steady),
            "worker_complete": run.complete,
            "worker_s": round(run.done_at, 3),
            "worker_cpu_s": round(run.cpu_s, 2),
            "worker_sink_interval": env.get("LEADFLOW_SINK_INTERVAL", "default"),
            "worker_sink_batch_rows": env.get("LEADFLOW_SINK_BATCH_ROWS", "default"),
            "worker_startup_s": round(run.port_at, 3),
            "worker_assigned_s": round(assigned_at, 3) if assigned_at is not None else None,
            "worker_first_row_s": round(run.first_row_at, 3),
            "worker_events_processed": processed,
            "worker_events_stored": run.events,
            "worker_dead_letters_stored": run.dead_letters,
            "bare_events_per_s": round(base_steady),
            "faust_plain_floor_events_per_s": round(floors["plain"]),
            "faust_table_floor_events_per_s": round(floors["table"]),
            "worker_events_per_s": round(lf_assigned),
            "worker_events_per_s_from_assigned": round(lf_assigned),
            "worker_events_per_s_incl_startup": round(lf_total),
            "worker_events_per_s_excl_startup": round(lf_excl),
            "worker_to_table_floor": round(table_ratio, 3),
            "worker_to_plain_floor": round(plain_ratio, 3),
            "worker_rows_per_s_after_first_row": round(lf_steady),
            "ratio": round(ratio, 4),
            "ratio_incl_startup": round(ratio_total, 4),
            "ratio_after_first_row": round(ratio_steady, 4),
            "target_to_table_floor": TABLE_FLOOR_TARGET,
            "target_to_plain_floor": PLAIN_FLOOR_TARGET,
            "meets_target": meets,
        }
    )
    print(json.dumps(figures, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
