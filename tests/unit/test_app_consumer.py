"""The worker's consumer reads again every record it fetched but did not hand on."""

from __future__ import annotations

import asyncio
from typing import NamedTuple

import faust
from hypothesis import given
from hypothesis import strategies as st

from pipelines.kafka_consumer import (
    IdempotentProducer,
    RewindingConsumer,
    RewindingConsumerThread,
    RewindingTransport,
    first_not_handed_on,
)


class Record(NamedTuple):
    offset: int


def test_the_app_consumer_is_the_rewinding_one(worker_app: faust.App) -> None:
    assert isinstance(worker_app.transport, RewindingTransport)
    # the app's consumer is made by that transport, on the thread that notes positions and rewinds
    assert isinstance(worker_app.consumer, RewindingConsumer)
    assert isinstance(worker_app.consumer._thread, RewindingConsumerThread)


def test_the_app_producer_is_idempotent(worker_app: faust.App) -> None:
    producer = worker_app.producer
    assert isinstance(producer, IdempotentProducer)

    async def client_settings() -> tuple[bool, int]:
        client = producer._new_producer()  # the aiokafka producer Faust sends with
        try:
            # idempotent (not transactional): batches carry a producer id and sequence, with acks from all
            manager = client._txn_manager
            return manager is not None and manager.transactional_id is None, client._sender._acks
        finally:
            await client.stop()

    assert asyncio.run(client_settings()) == (True, -1)


def test_a_partition_goes_back_to_the_first_record_not_handed_on() -> None:
    batch = {"a": [Record(5), Record(6), Record(7)], "b": [Record(0), Record(1)], "c": [Record(3), Record(4)]}
    handed_on = {"a": {5}, "b": {0, 1}, "c": {4}}  # c: a record skipped in the middle of the batch counts too
    assert first_not_handed_on(batch, handed_on) == {"a": 6, "c": 3}


def test_a_batch_handed_on_whole_rewinds_nothing_and_one_dropped_whole_rewinds_to_its_start() -> None:
    batch = {"a": [Record(10), Record(11)]}
    assert first_not_handed_on(batch, {"a": {10, 11}}) == {}
    assert first_not_handed_on(batch, {}) == {"a": 10}


@given(st.lists(st.integers(0, 1_000), unique=True, min_size=1), st.data())
def test_no_record_is_left_behind(offsets: list[int], data: st.DataObject) -> None:
    offsets.sort()
    handed = set(data.draw(st.sets(st.sampled_from(offsets))))
    starts = first_not_handed_on({"tp": [Record(o) for o in offsets]}, {"tp": handed})
    missing = [o for o in offsets if o not in handed]
    if missing:
        # reading from the start again covers every record not handed on, and starts at none earlier than needed
        assert starts == {"tp": min(missing)}
        assert all(o >= starts["tp"] for o in missing)
    else:
        assert starts == {}
