"""Keep a broker outage from flooding the worker's log: a repeated message is let through every few seconds."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

# Where the Kafka client logs each failed reconnect or metadata refresh: while a broker is down, its producer
# retries with no pause, a thousand or more lines a second.
KAFKA_CLIENT_LOGGERS: tuple[str, ...] = (
    "aiokafka",
    "aiokafka.conn",
    "aiokafka.cluster",
    "aiokafka.producer.sender",
    "aiokafka.consumer.fetcher",
    "aiokafka.consumer.group_coordinator",
)


class RepeatLimiter(logging.Filter):
    """Lets a message (logger and template) through once every `every` seconds; says how many it held back."""

    def __init__(self, every: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every = every
        self._clock = clock
        self._last: dict[tuple[str, object], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """Say whether the record is logged; a passed record counts the ones held back since the last."""
        key = (record.name, record.msg)
        now = self._clock()
        seen = self._last.get(key)
        if seen is not None and now - seen[0] < self.every:
            self._last[key] = (seen[0], seen[1] + 1)
            return False
        held = seen[1] if seen is not None else 0
        if held:
            record.msg = f"{record.msg} [{held} more like this in the last {now - seen[0]:.0f}s]"  # type: ignore[index]
        self._last[key] = (now, 0)
        return True


def limit_kafka_client_logs(every: float = 5.0) -> RepeatLimiter:
    """Attach one limiter to the Kafka client's loggers and return it."""
    limiter = RepeatLimiter(every)
    for name in KAFKA_CLIENT_LOGGERS:
        logging.getLogger(name).addFilter(limiter)
    return limiter
