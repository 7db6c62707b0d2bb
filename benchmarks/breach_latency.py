"""Part (b) of `benchmarks.bench_latency`: SLA deadline to breach published, with a worker of its own.

The worker judges by an agreement open around the clock whose `mql_follow_up` is due in 1 minute; `--leads` leads,
one every `--spacing` seconds, become MQL by an event timed so that the deadline falls `--ahead` seconds after it
is sent. A consumer on the SLA topic notes each `sla.breached`: its Kafka timestamp (when the worker published
it) and when it was read, each minus the `deadline` it carries.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from benchmarks.harness import (
    running_worker,
    shown,
    sink_settings,
    spread,
    start_producer,
    verdict,
    wait_live,
    worker_store,
)
from pipelines.store.client import RemoteStore
from pipelines.topics import SLA, STAGES, TopicNames
from tests.integration.agreements import around_the_clock
from tests.integration.processes import group_env
from tests.unit.factories import stage_event

TARGET_BREACH_S = 1.0
WITHIN = timedelta(minutes=1)  # the around-the-clock agreement's mql_follow_up


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
