"""What every collector handler shares: configuration, the way to Kafka, metrics, the HubSpot book, a clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web

from pipelines.core.model import TimeRange
from services.collector.hubspot_book import DealBook
from services.collector.intake import Accepted, Failed, Outcome
from services.collector.kafka import Gate, KafkaDown
from services.collector.metrics import CollectorMetrics
from services.collector.settings import CollectorConfig


@dataclass
class Collector:
    """The collector's shared state, one per application."""

    config: CollectorConfig
    gate: Gate
    metrics: CollectorMetrics = field(default_factory=CollectorMetrics)
    clock: Callable[[], float] = time.time
    book: DealBook = field(init=False)

    def __post_init__(self) -> None:
        self.book = DealBook(self.config.deal_contacts)

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
