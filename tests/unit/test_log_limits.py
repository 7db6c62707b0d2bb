"""A repeated Kafka client message is logged once every few seconds, with a count of the ones held back."""

from __future__ import annotations

import logging

import pytest

from pipelines.log_limits import KAFKA_CLIENT_LOGGERS, RepeatLimiter, limit_kafka_client_logs


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _record(msg: str, *args: object, name: str = "aiokafka") -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)


def test_repeats_within_the_window_are_held_back_and_counted() -> None:
    clock = Clock()
    limiter = RepeatLimiter(every=5.0, clock=clock)
    template = "Unable connect to node with id %s: %s"
    assert limiter.filter(_record(template, 1, "refused"))
    passed = []
    for step in range(1, 1000):
        clock.now = 100.0 + step * 0.001
        passed.append(limiter.filter(_record(template, 1, "refused")))
    assert not any(passed)
    clock.now = 105.5
    record = _record(template, 1, "refused")
    assert limiter.filter(record)
    assert record.getMessage() == "Unable connect to node with id 1: refused [999 more like this in the last 6s]"


def test_other_messages_and_loggers_are_not_held_back() -> None:
    limiter = RepeatLimiter(every=5.0, clock=Clock())
    assert limiter.filter(_record("Unable to update metadata from %s", [1]))
    assert limiter.filter(_record("Unable connect to node with id %s: %s", 1, "x"))
    assert limiter.filter(_record("Unable to update metadata from %s", [1], name="aiokafka.conn"))
    assert not limiter.filter(_record("Unable to update metadata from %s", [2]))


def test_the_kafka_client_loggers_get_the_limiter(caplog: pytest.LogCaptureFixture) -> None:
    limiter = limit_kafka_client_logs(every=60.0)
    try:
        logger = logging.getLogger("aiokafka")
        with caplog.at_level(logging.ERROR, logger="aiokafka"):
            for _ in range(50):
                logger.error("Unable connect to node with id %s: %s", 1, "refused")
        assert len([r for r in caplog.records if r.name == "aiokafka"]) == 1
    finally:
        for name in KAFKA_CLIENT_LOGGERS:
            logging.getLogger(name).removeFilter(limiter)
