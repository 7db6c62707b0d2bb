"""Records whose effects can never be written are set aside, never crash-looped on (the real broker and store).

Each test sends, on one partition, the poison record among events of other leads, and asserts that the worker
stays up, that the record is on leadflow.deadletter with its reason, raw bytes and origin, that it is counted,
and that the other leads' events, before and after it on the same partition, are stored.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer

from tests.integration.kafka_fixture import LocalKafka
from tests.integration.processes import REPO, Worker, group_env, held_store, leadflow_json, wait_until
from tests.integration.store_processes import metric_total, store_path
from tests.unit.factories import T0, form_event, stage_event

pytestmark = pytest.mark.integration

STAGES = ("mql", "sql", "recycled")


@pytest.fixture
def env(kafka: LocalKafka, tmp_path: Path) -> dict[str, str]:
    """One partition, so that the poison record and the other leads' events share it."""
    return group_env(kafka.bootstrap, tmp_path, partitions=1, LEADFLOW_SINK_INTERVAL="0.3")


@pytest.fixture
def worker(env: dict[str, str], tmp_path: Path) -> Iterator[Worker]:
    running = Worker(env, tmp_path)
    yield running
    running.stop()


def send(env: dict[str, str], folder: Path, lines: list[bytes]) -> None:
    path = folder / f"send-{len(list(folder.glob('send-*')))}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert leadflow_json(["produce", str(path)], env, folder)["sent"] == len(lines)


def others(first: int, count: int) -> list[bytes]:
    """Forms of other leads, each its own lead."""
    return [form_event(f"other-{n}", f"V{n}", T0 + timedelta(minutes=n), id=f"other-{n}") for n in range(first, count)]


def stored_leads(env: dict[str, str]) -> set[str]:
    return {row[0] for row in held_store(env).query("SELECT DISTINCT lead_id FROM events FINAL")}


def dead_letters(kafka: LocalKafka, env: dict[str, str]) -> list[Any]:
    consumer = KafkaConsumer(
        env["LEADFLOW_TOPIC_PREFIX"] + "leadflow.deadletter",
        bootstrap_servers=[kafka.bootstrap],
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    try:
        return list(consumer)
    finally:
        consumer.close()


def reasons(kafka: LocalKafka, env: dict[str, str], kind: str) -> list[tuple[bytes, dict[str, bytes]]]:
    found = [(m.value, dict(m.headers)) for m in dead_letters(kafka, env)]
    return [(value, headers) for value, headers in found if headers["reason"].startswith(f"{kind}: ".encode())]


def settle(worker: Worker, env: dict[str, str], leads: set[str]) -> None:
    """Wait until the worker has stored events of every lead named, failing at once if it died."""
    wait_until(lambda: worker.answers() and leads <= stored_leads(env), 90, f"events of {sorted(leads)} stored")


def test_a_lead_past_its_history_limit_is_refused_and_the_partition_moves_on(
    kafka: LocalKafka, env: dict[str, str], worker: Worker, tmp_path: Path
) -> None:
    worker.start()
    hot = [form_event("hot", "V-hot", T0, id="hot-form")]
    hot += [stage_event("hot", STAGES[n % 3], T0 + timedelta(seconds=n + 1), id=f"hot-{n}") for n in range(405)]
    send(env, tmp_path, [*others(0, 3), *hot, *others(3, 6)])
    settle(worker, env, {f"other-{n}" for n in range(6)} | {"hot"})
    wait_until(lambda: len(reasons(kafka, env, "lead_history_limit")) == 5, 30, "five events set aside")
    refused = reasons(kafka, env, "lead_history_limit")
    assert {value for value, _ in refused} == set(hot[-5:])
    assert all(h["topic"] == b"leadflow.stages" and h["partition"] == b"0" for _, h in refused)
    assert metric_total(worker, "leadflow_poison_records_total") == 5
    store = held_store(env)
    assert store.query("SELECT count() FROM events FINAL WHERE lead_id = 'hot'")[0][0] == 401
    assert store.query("SELECT count() FROM dead_letters FINAL WHERE reason LIKE 'lead_history_limit:%'")[0][0] == 5


def test_a_state_larger_than_the_limit_is_not_written_and_the_partition_moves_on(
    kafka: LocalKafka, env: dict[str, str], tmp_path: Path
) -> None:
    limited = Worker({**env, "LEADFLOW_MAX_STATE_BYTES": "2048"}, tmp_path).start()
    try:
        big = [stage_event("big", STAGES[n % 3], T0 + timedelta(seconds=n), id=f"big-{n:03d}") for n in range(40)]
        send(env, tmp_path, [*others(0, 3), *big, *others(3, 6)])
        settle(limited, env, {f"other-{n}" for n in range(6)} | {"big"})
        wait_until(lambda: reasons(kafka, env, "state_too_large"), 30, "events set aside as too large")
        refused = reasons(kafka, env, "state_too_large")
        assert 0 < len(refused) < len(big) and {v for v, _ in refused} <= set(big)
        assert all(b"over 2048" in h["reason"] for _, h in refused)
        assert metric_total(limited, "leadflow_poison_records_total") == len(refused)
    finally:
        limited.stop()


PREPARE = """
import sys
from pipelines.settings import load_settings
from pipelines.store.client import open_store
store = open_store(load_settings())
store._client.command("ALTER TABLE events ADD CONSTRAINT no_poison CHECK id != 'poison-event'")
store.close()
"""


def test_a_row_the_store_rejects_is_set_aside_and_the_rest_of_its_batch_is_written(
    kafka: LocalKafka, env: dict[str, str], worker: Worker, tmp_path: Path
) -> None:
    store_path(env).parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", PREPARE], env={**env, "PYTHONPATH": str(REPO)}, cwd=tmp_path, check=True)
    worker.start()
    poison = form_event("bad", "V-bad", T0, id="poison-event")
    send(env, tmp_path, [*others(0, 3), poison, *others(3, 6)])
    settle(worker, env, {f"other-{n}" for n in range(6)})
    wait_until(lambda: reasons(kafka, env, "store_rejected"), 30, "the rejected row set aside")
    ((value, headers),) = reasons(kafka, env, "store_rejected")
    assert value == poison and headers["topic"] == b"leadflow.forms" and b"VIOLATED_CONSTRAINT" in headers["reason"]
    assert "bad" not in stored_leads(env)
    assert metric_total(worker, "leadflow_poison_records_total") == 1
    send(env, tmp_path, others(6, 8))  # and the sink goes on writing
    settle(worker, env, {"other-6", "other-7"})


def test_an_exception_in_the_core_for_one_event_sets_it_aside(
    kafka: LocalKafka, env: dict[str, str], tmp_path: Path
) -> None:
    faulty = Worker({**env, "PYTHONPATH": str(REPO)}, tmp_path, "faulty")
    faulty.command = [sys.executable, "-m", "tests.integration.faulty_worker", "bad"]
    faulty.start()
    try:
        poison = form_event("bad", "V-bad", T0, id="bad-form")
        send(env, tmp_path, [*others(0, 3), poison, *others(3, 6)])
        settle(faulty, env, {f"other-{n}" for n in range(6)})
        wait_until(lambda: reasons(kafka, env, "core_error"), 30, "the event set aside")
        ((value, headers),) = reasons(kafka, env, "core_error")
        assert value == poison and headers["reason"] == b"core_error: RuntimeError: the core fails on lead bad"
        assert metric_total(faulty, "leadflow_poison_records_total") == 1
    finally:
        faulty.stop()
