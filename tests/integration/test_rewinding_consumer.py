"""Records fetched but not processed are read again: rewinds after a batch, and seeks to committed offsets."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata

from pipelines.kafka_consumer import positions_taken, rewind, seek_to_committed_or_start
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


@contextlib.asynccontextmanager
async def _read_everything(bootstrap: str) -> AsyncIterator[tuple[AIOKafkaConsumer, list[TopicPartition]]]:
    """A consumer that took every record of two stream partitions (the second committed at 3) and a changelog's."""
    tag = uuid.uuid4().hex[:8]
    stream, changelog = f"stream-{tag}", f"app-{tag}-leads-changelog"
    await _topics(bootstrap, stream, changelog)
    tps = [TopicPartition(stream, 0), TopicPartition(stream, 1), TopicPartition(changelog, 0)]
    await _fill(bootstrap, tps)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=f"group-{tag}", enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.commit({tps[1]: OffsetAndMetadata(3, "")})
        await _read_to_end(consumer, tps)  # the batch: every record taken, positions at the end
        yield consumer, tps
    finally:
        await consumer.stop()


async def _scenario(bootstrap: str) -> tuple[list[int], list[int], dict[TopicPartition, int]]:
    async with _read_everything(bootstrap) as (consumer, tps):
        dropped, committed, table = tps
        taken = positions_taken(consumer, tps)
        # Faust's seek to committed offsets moves the committed partition, and skips the other two
        await consumer.seek_to_committed()
        plain = await _positions(consumer, tps)
        # records 2.. of the stream partition and all of the changelog partition were not handed on
        done = rewind(consumer, {dropped: 2, committed: 1, table: 0}, taken)
        rewound = await _positions(consumer, tps)
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


async def _seek_to_committed(bootstrap: str) -> list[int]:
    """Every record fetched; then the seek Faust makes after a rebalance, with partitions that have no commit."""
    async with _read_everything(bootstrap) as (consumer, tps):
        committed = await seek_to_committed_or_start(consumer, lambda topic: topic == tps[2].topic)
        assert committed == {tps[0]: None, tps[1]: 3, tps[2]: None}
        return await _positions(consumer, tps)


def test_a_stream_partition_with_no_commit_is_read_again_from_its_start(kafka: LocalKafka) -> None:
    # aiokafka's seek_to_committed would leave the first at the end (see above); the changelog is recovery's
    assert asyncio.run(_seek_to_committed(kafka.bootstrap)) == [0, 3, RECORDS]


def test_records_not_handed_on_are_read_again_unless_their_partition_was_sought_since(kafka: LocalKafka) -> None:
    plain, rewound, done = asyncio.run(_scenario(kafka.bootstrap))
    # aiokafka alone leaves the uncommitted partitions past the records they fetched: never to be read again
    assert plain == [RECORDS, 3, RECORDS]
    # each goes back to its first record not handed on; the committed one was sought since and stays
    assert rewound == [2, 3, 0]
    assert sorted(done.values()) == [0, 2]


def test_a_partition_assigned_anew_is_not_rewound(kafka: LocalKafka) -> None:
    assert asyncio.run(_reassigned(kafka.bootstrap)) == {}
