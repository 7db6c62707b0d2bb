"""What every collector handler shares: configuration, the way to Kafka, metrics, rate limits, the HubSpot book."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web

from pipelines.core.model import TimeRange
from pipelines.topics import DEADLETTER
from services.collector.deadletter import DeadLetter
from services.collector.hubspot_book import DealBook
from services.collector.intake import Accepted, Failed, Outcome
from services.collector.kafka import Gate, KafkaDown
from services.collector.metrics import CollectorMetrics
from services.collector.ratelimit import RateLimits
from services.collector.settings import CollectorConfig

log = logging.getLogger("leadflow.collector")


@dataclass
class Collector:
    """The collector's shared state, one per application."""

    config: CollectorConfig
    gate: Gate
    metrics: CollectorMetrics = field(default_factory=CollectorMetrics)
    clock: Callable[[], float] = time.time
    book: DealBook = field(init=False)
    limits: RateLimits = field(init=False)

    def __post_init__(self) -> None:
        self.book = DealBook(self.config.deal_contacts)
        settings = self.config.settings
        key_rates = {client.name: client.grant.rate_limit for client in self.config.keys.clients}
        self.limits = RateLimits(settings.rate_limit, settings.failure_limit, key_rates)

    async def dead_letter(self, letters: Sequence[DeadLetter]) -> int:
        """Write refused input to the dead-letter topic; return how many Kafka confirmed."""
        topic = self.config.names.name(DEADLETTER)
        sent = await asyncio.gather(
            *(self.gate.send(topic, None, d.value, d.headers) for d in letters), return_exceptions=True
        )
        for problem in (r for r in sent if isinstance(r, BaseException)):
            if not isinstance(problem, KafkaDown):
                raise problem
            log.warning("a refused request could not be dead-lettered: %s", problem)
        written = sum(not isinstance(r, BaseException) for r in sent)
        self.metrics.dead_letters.labels("written").inc(written)
        self.metrics.dead_letters.labels("failed").inc(len(letters) - written)
        return written

    async def produce(self, outcomes: Sequence[Outcome]) -> list[Outcome]:
        """Write the accepted events to Kafka together; those Kafka does not confirm become Failed."""
        accepted = [o for o in outcomes if isinstance(o, Accepted)]
        sent = await asyncio.gather(
            *(self.gate.send(a.topic, a.key, a.value) for a in accepted), return_exceptions=True
        )
        failures = {a.index: r for a, r in zip(accepted, sent, strict=True) if isinstance(r, BaseException)}
        for problem in failures.values():
            if not isinstance(problem, KafkaDown):
                raise problem
        return [
            Failed(o.index, o.id, str(failures[o.index])) if isinstance(o, Accepted) and o.index in failures else o
            for o in outcomes
        ]

    def accepted_times(self) -> TimeRange:
        """Return the event times accepted now (LEADFLOW_EARLIEST_EVENT_TIME, LEADFLOW_MAX_CLOCK_SKEW)."""
        return self.config.leadflow.event_times.at(datetime.fromtimestamp(self.clock(), UTC))

    def count(self, outcomes: Sequence[Outcome]) -> None:
        """Count every event by outcome and type."""
        for outcome in outcomes:
            name = type(outcome).__name__.lower()
            self.metrics.count_event(name, outcome.type if isinstance(outcome, Accepted) else None)


COLLECTOR: web.AppKey[Collector] = web.AppKey("collector", Collector)
