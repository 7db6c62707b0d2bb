"""Garbage on the worker's internal topics is dead-lettered with a reason; the agents keep going."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaProducer

from pipelines.topics import SLA_CHECKS, VISITOR_LINKS, TopicNames
from tests.integration.kafka_fixture import LocalKafka
from tests.integration.processes import Worker, wait_until

pytestmark = pytest.mark.integration

VISIT = (
    b'{"specversion":"1.0","id":"v-after","source":"/web","type":"web.visit","time":"2026-11-02T09:00:00Z",'
    b'"subject":"vis-1","data":{"visitor_id":"vis-1","url":"https://example.com/"}}'
)


def test_malformed_link_and_check_messages_are_dead_lettered(
    kafka: LocalKafka, worker_env: dict[str, str], tmp_path: Path
) -> None:
    names = TopicNames(worker_env["LEADFLOW_TOPIC_PREFIX"])
    worker = Worker(worker_env, tmp_path).start()
    store = worker.store()
    producer = KafkaProducer(bootstrap_servers=[kafka.bootstrap])
    try:
        garbage = [
            (names.name(VISITOR_LINKS), b"not json"),
            (names.name(VISITOR_LINKS), b'{"visitor_id": "vis-1"}'),
            (names.name(SLA_CHECKS), b'{"lead_id": 42}'),
        ]
        for topic, value in garbage:
            producer.send(topic, key=b"vis-1", value=value)
        producer.send(names.name("leadflow.visits"), key=b"vis-1", value=VISIT)  # after the garbage, in order
        producer.flush()

        def stored() -> bool:
            rows = (
                store.query("SELECT count() FROM dead_letters FINAL")[0][0]
                + store.query("SELECT count() FROM events FINAL WHERE id = 'v-after'")[0][0]
            )
            return bool(rows == len(garbage) + 1)

        wait_until(stored, 90, "three dead letters and the visit after them")
        reasons = sorted(r[0] for r in store.query("SELECT reason FROM dead_letters FINAL"))
        assert reasons[:2] == [
            "SLA check: must be a JSON object with the non-empty strings lead_id",
            "visitor link: must be a JSON object with the non-empty strings visitor_id, lead_id",
        ]
        assert reasons[2].startswith("visitor link: not JSON: ")
        assert worker.answers()  # still running
    finally:
        producer.close()
        worker.stop()
