"""After a rebalance, a partition with no committed offset goes back to its start, not past records Faust dropped."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata

from pipelines.kafka_consumer import seek_to_committed_or_start
from tests.integration.kafka_fixture import LocalKafka

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
RECORDS = 5


async def _topics(bootstrap: str, *names: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1) for name in names])
    finally:
        await admin.close()


async def _fill(bootstrap: str, tps: list[TopicPartition]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for tp in tps:
            for n in range(RECORDS):
                await producer.send_and_wait(tp.topic, f"{n}".encode(), partition=tp.partition)
    finally:
        await producer.stop()


async def _read_to_end(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> None:
    """Fetch every record, as the fetcher does before Faust drops what arrived while its flow was stopped."""
    for _ in range(100):
        await consumer.getmany(timeout_ms=200)
        if all([await consumer.position(tp) == RECORDS for tp in tps]):
            return
    raise AssertionError("the consumer did not read to the end")


async def _positions(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> list[int]:
    return [await consumer.position(tp) for tp in tps]


async def _scenario(bootstrap: str) -> tuple[list[int], list[int]]:
    tag = uuid.uuid4().hex[:8]
    stream, changelog = f"stream-{tag}", f"app-{tag}-leads-changelog"
    await _topics(bootstrap, stream, changelog)
    uncommitted, committed, table = TopicPartition(stream, 0), TopicPartition(stream, 1), TopicPartition(changelog, 0)
    tps = [uncommitted, committed, table]
    await _fill(bootstrap, tps)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=f"group-{tag}", enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.commit({committed: OffsetAndMetadata(3, "")})
        await _read_to_end(consumer, tps)
        await consumer.seek_to_committed()
        plain = await _positions(consumer, tps)
        await _read_to_end(consumer, tps)
        await seek_to_committed_or_start(consumer, lambda topic: topic == changelog)
        rewound = await _positions(consumer, tps)
    finally:
        await consumer.stop()
    return plain, rewound


def test_an_uncommitted_partition_is_read_again_from_its_start(kafka: LocalKafka) -> None:
    plain, rewound = asyncio.run(_scenario(kafka.bootstrap))
    # aiokafka alone leaves the uncommitted partition past the records it fetched: they would never be read again
    assert plain == [RECORDS, 3, RECORDS]
    # the uncommitted stream partition goes back to its start, the committed one to its offset; the changelog stays
    assert rewound == [0, 3, RECORDS]
