"""Owners' absences from `crm.owner_away` events: every judge counts all of them, as it counts the owners file.

The events are on `leadflow.owners`, keyed by owner. The leads handler stores each one (and dead-letters the
malformed ones) once, like any event; besides, every worker reads the whole topic into its own judge, since any
lead of any partition may have a clock on that owner's calendar: first all of it before the worker starts, then
each new record as it comes, after which the worker restates its leads that ever had that owner, so their
snapshots in the store are judged with the absence. `leadflow replay` counts each from its line on, and judges
every lead's final snapshot with all of them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaConsumer
from kafka import TopicPartition as SyncPartition
from kafka.errors import KafkaError

from pipelines.core.lead import LeadState
from pipelines.core.model import Event
from pipelines.core.sla import Judge
from pipelines.core.validate import parse_event
from pipelines.owner_absences import OWNER_AWAY, count_absence
from pipelines.settings import Settings
from pipelines.topics import OWNERS, TopicError, TopicNames

log = logging.getLogger(__name__)
Offsets = dict[int, int]  # partition -> next offset to read


def _absence(judge: Judge, raw: bytes | None, topic: str) -> str | None:
    """Count one record of leadflow.owners; return its owner when it changed the judge (malformed: None)."""
    event = parse_event(raw or b"", topic)
    if not isinstance(event, Event) or event.type != OWNER_AWAY:
        return None  # the leads handler dead-letters it
    return event.owner_id if count_absence(judge, event) else None


def preload(settings: Settings, judge: Judge) -> Offsets:
    """Read all of leadflow.owners into the judge before the worker starts; return where its end was."""
    topic = TopicNames(settings.topic_prefix).name(OWNERS)
    try:
        return _read_all(settings, judge, topic)
    except KafkaError as exc:
        raise TopicError(f"cannot read the owners' absences from {topic}: {type(exc).__name__}: {exc}") from None


def _read_all(settings: Settings, judge: Judge, topic: str) -> Offsets:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap.split(","), enable_auto_commit=False)
    try:
        partitions = [SyncPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends: dict[SyncPartition, int] = consumer.end_offsets(partitions)
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            for records in consumer.poll(timeout_ms=1000).values():
                for record in records:
                    _absence(judge, record.value, OWNERS)
        offsets = {tp.partition: end for tp, end in ends.items()}
        log.info("owners' absences read from %s up to %s", topic, offsets)
        return offsets
    finally:
        consumer.close()


async def follow(settings: Settings, judge: Judge, start: Offsets, restate: Callable[[str], Awaitable[int]]) -> None:
    """Count each new record of leadflow.owners as it comes, and restate the leads of an owner it changed."""
    topic = TopicNames(settings.topic_prefix).name(OWNERS)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(start)]
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, start[tp.partition])
        while True:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for owner in {o for r in records if (o := _absence(judge, r.value, OWNERS)) is not None}:
                    restated = await restate(owner)
                    log.info("an absence of %s: %d of its leads judged again", owner, restated)
    finally:
        await consumer.stop()


def ever_owned_by(states: Iterable[LeadState], owner_id: str) -> Iterable[str]:
    """Yield the leads whose history ever names the owner (the only ones whose clocks may count its calendar)."""
    for state in states:
        if any(move.owner_id == owner_id for move in state.moves):
            yield state.lead_id
