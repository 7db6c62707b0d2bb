"""A trivial Faust agent over leadflow's input topics: the floor a worker is measured against.

    python -m benchmarks.faust_floor --bootstrap HOST:PORT --prefix P --partitions N --expected N [--table]

The agent decodes every value with `orjson.loads` (a malformed one is counted and passed by); with `--table` it
also adds 1 to a changelogged Faust table per event, keyed by the message key: one changelog message per event,
as a worker that writes its state per event pays. App settings as the worker's where they matter: memory store,
uvloop, no terminal spinner, the collector settled once started (pipelines/heap.py), producer acks=all and a
50 ms linger, 4 MiB fetches per partition, the same topics and partitions. It stops itself once it has consumed
`--expected` events and prints one JSON line: the events, the seconds from its partitions being assigned to the
last event (the rate's time), and from its start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faust
import orjson
import uvloop

from pipelines.heap import settle_heap
from pipelines.topics import INPUT_TOPICS

REPO = Path(__file__).resolve().parents[1]
FLOOR_TIMEOUT = 600.0


def build(args: argparse.Namespace, started: float) -> faust.App:
    """Return the floor's app with its one agent."""
    app = faust.App(
        f"floor-{'table' if args.table else 'plain'}-{uuid.uuid4().hex[:8]}",
        broker=f"kafka://{args.bootstrap}",
        datadir=args.datadir,
        store="memory://",
        topic_partitions=args.partitions,
        topic_disable_leader=True,
        producer_acks=-1,
        producer_linger=0.05,
        consumer_max_fetch_size=4 * 1024 * 1024,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        autodiscover=False,
        key_serializer="raw",
        value_serializer="raw",
    )
    topic = app.topic(*(args.prefix + t for t in INPUT_TOPICS), key_type=bytes, value_type=bytes)
    counts = app.Table("counts", default=bytes, partitions=args.partitions, key_type=bytes, value_type=bytes)
    seen: dict[str, Any] = {"events": 0, "not_json": 0, "assigned": None}

    @app.on_partitions_assigned.connect
    async def assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        seen["assigned"] = seen["assigned"] or time.perf_counter()

    @app.agent(topic)
    async def floor(stream: Any) -> None:
        async for event in stream.events():
            try:
                orjson.loads(event.value)
            except orjson.JSONDecodeError:
                seen["not_json"] += 1
            if args.table:
                key = event.key or b""
                counts[key] = b"%d" % (int(counts[key] or b"0") + 1)
            seen["events"] += 1
            if seen["events"] == args.expected:
                done = time.perf_counter()
                figures = {
                    "events": seen["events"],
                    "not_json": seen["not_json"],
                    "seconds": round(done - (seen["assigned"] or started), 3),
                    "seconds_from_start": round(done - started, 3),
                }
                print(json.dumps(figures), flush=True)
                os.kill(os.getpid(), signal.SIGTERM)

    return app


def run_floor(bootstrap: str, prefix: str, partitions: int, expected: int, table: bool) -> dict[str, Any]:
    """Run one Faust floor in a process of its own until it has consumed every message; return its figures."""
    args = [sys.executable, "-m", "benchmarks.faust_floor", "--bootstrap", bootstrap, "--prefix", prefix]
    args += ["--partitions", str(partitions), "--expected", str(expected), *(["--table"] if table else [])]
    with tempfile.TemporaryDirectory(prefix="faust-floor-") as datadir:
        args += ["--datadir", datadir]
        done = subprocess.run(args, capture_output=True, text=True, timeout=FLOOR_TIMEOUT, check=False, cwd=REPO)
    # Faust's worker sends what the agent prints to its log: the figures are the JSON object on either stream
    lines = (done.stdout + done.stderr).splitlines()
    found = [line[line.index('{"events"') :] for line in lines if '{"events"' in line]
    if not found:
        raise RuntimeError(f"the Faust floor ended with {done.returncode} and no figures: {done.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(found[-1])
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    """Run the floor until it has consumed every expected event."""
    parser = argparse.ArgumentParser(prog="benchmarks.faust_floor", description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", default="")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--expected", type=int, required=True)
    parser.add_argument("--table", action="store_true")
    parser.add_argument("--datadir", default=tempfile.gettempdir(), help="Faust's data directory")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    app = build(args, started)
    worker = faust.Worker(app, loglevel="WARNING", quiet=True)
    worker.spinner = None  # as the leadflow worker: no terminal spinner, so no DEBUG records anywhere
    settle_heap()  # as the leadflow worker: the collector set for a long-running process
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
