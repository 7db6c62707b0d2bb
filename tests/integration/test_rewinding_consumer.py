"""A partition whose fetched records were not handed on goes back to the first of them, unless sought since."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata

from pipelines.kafka_consumer import positions_taken, rewind
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


async def _scenario(bootstrap: str) -> tuple[list[int], list[int], dict[TopicPartition, int]]:
    tag = uuid.uuid4().hex[:8]
    stream, changelog = f"stream-{tag}", f"app-{tag}-leads-changelog"
    await _topics(bootstrap, stream, changelog)
    dropped, committed, table = TopicPartition(stream, 0), TopicPartition(stream, 1), TopicPartition(changelog, 0)
    tps = [dropped, committed, table]
    await _fill(bootstrap, tps)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=f"group-{tag}", enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.commit({committed: OffsetAndMetadata(3, "")})
        await _read_to_end(consumer, tps)  # the batch: every record taken, positions at the end
        taken = positions_taken(consumer, tps)
        # Faust's seek to committed offsets moves the committed partition, and skips the other two
        await consumer.seek_to_committed()
        plain = await _positions(consumer, tps)
        # records 2.. of the stream partition and all of the changelog partition were not handed on
        done = rewind(consumer, {dropped: 2, committed: 1, table: 0}, taken)
        rewound = await _positions(consumer, tps)
    finally:
        await consumer.stop()
    return plain, rewound, done


async def _reassigned(bootstrap: str) -> dict[TopicPartition, int]:
    """A partition revoked and assigned again after its batch was taken is left where its new owner put it."""
    tag = uuid.uuid4().hex[:8]
    stream = f"stream-{tag}"
    await _topics(bootstrap, stream)
    tp = TopicPartition(stream, 0)
    await _fill(bootstrap, [tp])
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([tp])
        await _read_to_end(consumer, [tp])
        taken = positions_taken(consumer, [tp])
        consumer.assign([tp])
        consumer.seek(tp, RECORDS)  # the same offset, but a new assignment
        return rewind(consumer, {tp: 0}, taken)
    finally:
        await consumer.stop()


def test_records_not_handed_on_are_read_again_unless_their_partition_was_sought_since(kafka: LocalKafka) -> None:
    plain, rewound, done = asyncio.run(_scenario(kafka.bootstrap))
    # aiokafka alone leaves the uncommitted partitions past the records they fetched: never to be read again
    assert plain == [RECORDS, 3, RECORDS]
    # each goes back to its first record not handed on; the committed one was sought since and stays
    assert rewound == [2, 3, 0]
    assert sorted(done.values()) == [0, 2]


def test_a_partition_assigned_anew_is_not_rewound(kafka: LocalKafka) -> None:
    assert asyncio.run(_reassigned(kafka.bootstrap)) == {}
