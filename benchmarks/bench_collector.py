"""Collector throughput and latency on loopback: HTTP → `leadflow collector` → Kafka, against a bare producer.

    .venv/bin/python -m benchmarks.bench_collector [--events 20000] [--batch 50] [--concurrency 32] [--timeout 120]

A local KRaft broker on a free port in a temporary directory, fresh topics (unique prefix). Then:
(a) baseline: a bare AIOKafkaProducer with the collector's settings (idempotent, acks=all) sending the same
    event bytes to the visits topic, `--concurrency` sends in flight, every write awaited;
(b) `leadflow collector` on 127.0.0.1, driven by an aiohttp client with `--concurrency` connections, first one
    event per request, then `--batch` events per request. Each run stops at `--events` events or `--timeout`
    seconds, whichever comes first. Latency is per request, measured by the client, start to answer.
Loopback only; the broker and the collector are stopped at the end. Prints a few lines and one final JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaProducer

from benchmarks.harness import load_after, load_before
from services.collector.keys import hash_key
from tests.integration.kafka_fixture import LocalKafka, free_port
from tests.integration.processes import LEADFLOW, base_env, wait_until

KEY = "lf_bench_0123456789abcdefghijklmnopqrstuv"


@dataclass
class Run:
    """What one run did: events accepted, requests answered, seconds, and latency percentiles (ms)."""

    events: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def event(i: int, tag: str) -> bytes:
    visitor = f"bench-{i % 997}"
    data = {"visitor_id": visitor, "url": f"https://shop.test/p/{i}?utm_source=bench", "utm_source": "bench"}
    document = {
        "specversion": "1.0",
        "id": f"{tag}-{i}",
        "source": "/web/shop.test",
        "type": "web.visit",
        "time": "2026-11-02T09:00:00.000+00:00",
        "subject": visitor,
        "data": data,
    }
    return orjson.dumps(document)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000 if ordered else 0.0


async def baseline(bootstrap: str, topic: str, count: int, concurrency: int, timeout: float) -> Run:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=2)
    await producer.start()
    latencies: list[float] = []
    queue = iter(range(count))
    deadline = time.monotonic() + timeout

    async def sender() -> None:
        for i in queue:
            if time.monotonic() > deadline:
                return
            value = event(i, "base")
            started = time.perf_counter()
            await producer.send_and_wait(topic, value=value, key=value[:8])
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    try:
        await asyncio.gather(*(sender() for _ in range(concurrency)))
    finally:
        seconds = time.perf_counter() - started
        await producer.stop()
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    return Run(len(latencies), len(latencies), seconds, p50, p99, 0)


async def drive(url: str, count: int, batch: int, concurrency: int, timeout: float, tag: str) -> Run:
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    bodies = iter(range(0, count, batch))
    latencies: list[float] = []
    accepted, errors = 0, 0
    deadline = time.monotonic() + timeout

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal accepted, errors
        for first in bodies:
            if time.monotonic() > deadline:
                return
            events = [event(i, tag) for i in range(first, min(first + batch, count))]
            body = events[0] if batch == 1 else b"[" + b",".join(events) + b"]"
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                answer = await response.json()
            latencies.append(time.perf_counter() - started)
            if response.status == 200:
                accepted += answer["accepted"]
            else:
                errors += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    return Run(accepted, len(latencies), seconds, percentile(latencies, 0.5), percentile(latencies, 0.99), errors)


def start_collector(folder: Path, bootstrap: str, prefix: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    keys = folder / "keys.json"
    keys.write_text(json.dumps({"bench": {"key_sha256": hash_key(KEY)}}))
    port = free_port()
    env = base_env(
        LEADFLOW_KAFKA_BOOTSTRAP=bootstrap,
        LEADFLOW_TOPIC_PREFIX=prefix,
        LEADFLOW_PARTITIONS="4",
        LEADFLOW_COLLECTOR_KEYS_FILE=str(keys),
        LEADFLOW_COLLECTOR_MAX_BATCH="1000",
        LEADFLOW_COLLECTOR_RATE_LIMIT="1000000/second",  # the load test measures throughput, not the limit
    )
    log = folder / "collector.log"
    args = [LEADFLOW, "collector", "--port", str(port)]
    process = subprocess.Popen(args, env=env, cwd=folder, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            raise SystemExit(f"collector exited: {log.read_text()[-2000:]}")
        try:
            import urllib.request

            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    wait_until(ready, 90, f"the collector ({log})")
    return process, url, log


def show(name: str, run: Run) -> None:
    print(
        f"{name:<34} {run.rate:>9,.0f} accepted events/s  ({run.events:,} events, {run.requests:,} requests, "
        f"{run.seconds:.1f} s)  latency p50 {run.p50_ms:.1f} ms, p99 {run.p99_ms:.1f} ms"
        + (f"  errors {run.errors}" if run.errors else "")
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per run (an upper bound)")
    parser.add_argument("--batch", type=int, default=50, help="events per request in the batch run")
    parser.add_argument("--concurrency", type=int, default=32, help="requests (or sends) in flight")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per run (an upper bound)")
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {"benchmark": "collector", "load_before": load_before(), **vars(args)}
    with tempfile.TemporaryDirectory(prefix="bench-collector-") as tmp:
        folder = Path(tmp)
        kafka = LocalKafka(free_port(), folder / "kafka")
        kafka.start()
        process: subprocess.Popen[bytes] | None = None
        try:
            prefix = f"b{uuid.uuid4().hex[:8]}."
            process, url, _log = start_collector(folder, kafka.bootstrap, prefix)
            base = asyncio.run(
                baseline(kafka.bootstrap, prefix + "leadflow.visits", args.events, args.concurrency, args.timeout)
            )
            show("(a) bare aiokafka producer", base)
            single = asyncio.run(drive(url + "/v1/events", args.events, 1, args.concurrency, args.timeout, "one"))
            show("(b) collector, 1 event/request", single)
            batched = asyncio.run(
                drive(url + "/v1/events", args.events, args.batch, args.concurrency, args.timeout, "many")
            )
            show(f"(c) collector, {args.batch} events/request", batched)
            for name, run in (("baseline", base), ("single", single), ("batched", batched)):
                figures[name] = {**asdict(run), "events_per_s": round(run.rate, 1)}
        finally:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
            kafka.stop()
    figures["load_after"] = load_after()
    print(json.dumps(figures, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
