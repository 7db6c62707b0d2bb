"""The Kafka path against `leadflow replay`: same report, dead letters accounted for, crash-safe."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer
from prometheus_client.parser import text_string_to_metric_families

from services.simulate import SimulationSummary
from tests.integration.kafka_fixture import LocalKafka
from tests.integration.processes import Worker, base_env, held_store, leadflow, leadflow_json, wait_until

pytestmark = pytest.mark.integration

AS_OF = "2027-01-31T00:00:00+00:00"
WINDOW = ["--from", "2026-10-26", "--to", "2027-01-05", "--as-of", AS_OF]


def _report(env: dict[str, str], cwd: Path) -> Any:
    return leadflow_json(["report", *WINDOW, "--format", "json"], env, cwd)


def _replay_report(events: Path, tmp_path: Path) -> Any:
    env = base_env(LEADFLOW_STORE=f"chdb:{tmp_path / 'replay-store'}")
    stats = leadflow_json(["replay", str(events), "--no-progress"], env, tmp_path)
    assert stats["lines"] > 0
    return _report(env, tmp_path)


def _store_count(env: dict[str, str], cwd: Path, table: str) -> int:
    return int(held_store(env).query(f"SELECT count() FROM {table} FINAL")[0][0])


def wait_settled(
    env: dict[str, str],
    cwd: Path,
    expected: Any,
    summary: SimulationSummary,
    timeout: float,
    count: Callable[[str], int] | None = None,
) -> None:
    """Wait until every valid event is stored once, every malformed line is dead-lettered and the report equals
    replay's (`expected`); fail after `timeout` seconds with what was last seen.

    The report alone can equal replay's before the last events are written: an activity or a repeat visit may
    not change it. `count` reads a table's row count, through the worker's store unless given.
    """
    counter = count or partial(_store_count, env, cwd)
    seen: dict[str, Any] = {}

    def settled() -> bool:
        seen.update(events=counter("events"), dead_letters=counter("dead_letters"), report=None)
        if (seen["events"], seen["dead_letters"]) != (summary.valid, summary.malformed):
            return False
        seen["report"] = _report(env, cwd) == expected
        return bool(seen["report"])

    def explain() -> str:
        report = {None: "not read", True: "equal", False: "different"}[seen.get("report")]
        return (
            f"{seen.get('events')} of {summary.valid} events stored, {seen.get('dead_letters')} of "
            f"{summary.malformed} dead letters, report {report}"
        )

    wait_until(settled, timeout, "every event stored and the report to equal replay's", explain=explain)


def _split(path: Path, at: float, tmp_path: Path) -> tuple[Path, Path]:
    lines = path.read_bytes().splitlines(keepends=True)
    cut = int(len(lines) * at)
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_bytes(b"".join(lines[:cut]))
    second.write_bytes(b"".join(lines[cut:]))
    return first, second


def _dead_letter_messages(kafka: LocalKafka, topic: str) -> list[Any]:
    consumer = KafkaConsumer(
        topic, bootstrap_servers=[kafka.bootstrap], auto_offset_reset="earliest", consumer_timeout_ms=5000
    )
    try:
        return list(consumer)
    finally:
        consumer.close()


def test_kafka_path_gives_the_replay_report(
    kafka: LocalKafka, simulated: tuple[Path, SimulationSummary], worker_env: dict[str, str], tmp_path: Path
) -> None:
    events, summary = simulated
    expected = _replay_report(events, tmp_path)
    assert expected["counts"]["lead"] > 100 and expected["counts"]["customer"] > 0
    spawned = time.time()
    worker = Worker(worker_env, tmp_path).start()  # before its topics have any event
    try:
        sent = leadflow_json(["produce", str(events)], worker_env, tmp_path)
        assert sent["sent"] == summary.total
        wait_settled(worker_env, tmp_path, expected, summary, 180)
        metrics = worker.metrics()
        assert "leadflow_invalid_events_total" in metrics and "leadflow_sink_batches_total" in metrics
        held = {f.name: f.samples[0].value for f in text_string_to_metric_families(metrics) if f.samples}
        assert held["leadflow_worker_partitions"] == int(worker_env["LEADFLOW_PARTITIONS"])  # the only worker
        assert spawned < held["leadflow_worker_assigned_timestamp_seconds"] < time.time()
    finally:
        worker.stop()
    dead = _dead_letter_messages(kafka, worker_env["LEADFLOW_TOPIC_PREFIX"] + "leadflow.deadletter")
    assert len({m.value for m in dead}) == summary.malformed
    assert all(dict(m.headers).get("reason") for m in dead)


def test_worker_killed_mid_stream_loses_and_double_counts_nothing(
    simulated: tuple[Path, SimulationSummary], worker_env: dict[str, str], tmp_path: Path
) -> None:
    events, summary = simulated
    expected = _replay_report(events, tmp_path)
    first, second = _split(events, 0.5, tmp_path)
    worker = Worker(worker_env, tmp_path, "worker-1").start()
    leadflow_json(["produce", str(first)], worker_env, tmp_path)
    wait_until(lambda: _store_count(worker_env, tmp_path, "events") > 1000, 120, "the first rows")
    worker.kill()
    leadflow_json(["produce", str(second)], worker_env, tmp_path)
    restarted = Worker(worker_env, tmp_path, "worker-2").start()
    try:
        wait_settled(worker_env, tmp_path, expected, summary, 180)
    finally:
        restarted.stop()


def test_worker_started_on_a_backlog_loses_nothing(
    simulated: tuple[Path, SimulationSummary], worker_env: dict[str, str], tmp_path: Path
) -> None:
    """Every event is waiting before the worker starts, and no partition has a committed offset to start from."""
    events, summary = simulated
    expected = _replay_report(events, tmp_path)
    assert leadflow(["topics", "create"], worker_env, tmp_path).returncode == 0
    assert leadflow_json(["produce", str(events)], worker_env, tmp_path)["sent"] == summary.total
    worker = Worker(worker_env, tmp_path).start()
    try:
        wait_settled(worker_env, tmp_path, expected, summary, 180)
    finally:
        worker.stop()


def test_report_reads_through_the_worker_that_holds_the_store(worker_env: dict[str, str], tmp_path: Path) -> None:
    worker = Worker(worker_env, tmp_path).start()
    try:
        done = leadflow(["report", *WINDOW, "--format", "json"], worker_env, tmp_path)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["counts"]["visits"] == 0 and report["conversion"]["lead_to_mql"] is None
        assert report["window"]["timezone"] == "Europe/Berlin"
    finally:
        worker.stop()
