"""What the Kafka benchmarks share: a local broker, `leadflow worker` processes on it, and machine-load figures.

Whatever happens inside `local_broker` and `running_worker`, the broker and the worker they started are stopped.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from pipelines.store.client import RemoteStore
from pipelines.store.exceptions import StoreError
from pipelines.topics import VISITS, TopicNames
from tests.integration.kafka_fixture import LocalKafka, free_port
from tests.integration.processes import LEADFLOW, Worker
from tests.unit.factories import visit_event

PORT_TIMEOUT = 120.0
LIVE_TIMEOUT = 120.0
SEEN_SQL = "SELECT source, id FROM events WHERE id IN {ids:Array(String)}"


def load_average() -> str:
    """Return the 1/5/15-minute load averages as `a/b/c`."""
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


def load_before() -> str:
    """Print the load averages before a benchmark's runs, and return them: other processes skew every figure."""
    load = load_average()
    print(f"load average (1/5/15 min) before: {load} on {os.cpu_count()} cores", flush=True)
    return load


def load_after() -> str:
    """Print the load averages after a benchmark's runs, and return them."""
    load = load_average()
    print(f"load average after: {load} (other processes on this machine skew every figure)", flush=True)
    return load


def rate(count: float, seconds: float) -> float:
    """Return count per second, 0 when no time passed."""
    return count / seconds if seconds > 0 else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process so far (Linux /proc); 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def local_broker(root: Path) -> Iterator[LocalKafka]:
    """Start a KRaft broker on a free port with its storage under `root/kafka`; stop it on the way out."""
    kafka = LocalKafka(free_port(), root / "kafka")
    try:
        kafka.start()
        yield kafka
    finally:
        kafka.stop()


def sink_settings(interval: float | None, batch_rows: int | None) -> dict[str, str]:
    """Return the worker's sink variables that were given (None leaves the worker's own default)."""
    given = {"LEADFLOW_SINK_INTERVAL": interval, "LEADFLOW_SINK_BATCH_ROWS": batch_rows}
    return {k: str(v) for k, v in given.items() if v is not None}


def spawn_worker(worker: Worker, timeout: float = PORT_TIMEOUT) -> float:
    """Spawn the worker process and wait until its web port answers; return the seconds that took."""
    handle = worker.log.open("ab")
    started = time.perf_counter()
    worker.process = subprocess.Popen(
        [LEADFLOW, "worker"], env=worker.env, cwd=worker.cwd, stdout=handle, stderr=subprocess.STDOUT
    )
    handle.close()
    while not worker.answers():  # raises if the worker died
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"the worker's web port did not answer in {timeout:.0f} s (see {worker.log})")
        time.sleep(0.05)
    return time.perf_counter() - started


@contextmanager
def running_worker(env: dict[str, str], root: Path, name: str = "worker") -> Iterator[tuple[Worker, float]]:
    """Run `leadflow worker` until the block ends; yield it with the seconds its web port took to answer."""
    worker = Worker(env, root, name)
    try:
        yield worker, spawn_worker(worker)
    finally:
        worker.stop()


def worker_store(worker: Worker, timeout: float = 30) -> RemoteStore:
    """Return the store the worker holds, queried through its /leadflow/query page with the token of its owner
    file (waiting until the worker has written it)."""
    deadline = time.monotonic() + 120
    while True:
        try:
            return worker.store(timeout)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def row_counts(store: RemoteStore) -> tuple[int, int]:
    """Return (event rows, dead-letter rows) as stored, repeats included: read from part metadata, so cheap."""
    row = store.query("SELECT (SELECT count() FROM events), (SELECT count() FROM dead_letters)")[0]
    return int(row[0]), int(row[1])


def stored_counts(store: RemoteStore) -> tuple[int, int]:
    """Return (distinct events, distinct dead letters) in the store."""
    events = int(store.query("SELECT count() FROM events FINAL")[0][0])
    dead = int(store.query("SELECT count() FROM dead_letters FINAL")[0][0])
    return events, dead


def quantile(values: Sequence[float], share: float) -> float:
    """Return the `share` quantile by linear interpolation between closest ranks (numpy's default); 0 if empty."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    position = (len(ordered) - 1) * share
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


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


def assigned_after(worker: Worker, started_wall: float) -> float | None:
    """Return the seconds from the worker's spawn until it was last given its partitions (from its /metrics)."""
    for family in text_string_to_metric_families(worker.metrics()):
        if family.name == "leadflow_worker_assigned_timestamp_seconds" and family.samples:
            value = family.samples[0].value
            return value - started_wall if value else None
    return None
