"""The worker's consumer hands a batch on as Faust does, then reads again what it did not hand on."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import faust
import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from pipelines.kafka_consumer import RewindingConsumer, RewindingConsumerThread, Taken

STREAM = TopicPartition("leadflow.deals", 0)
PAUSED = TopicPartition("leadflow.deals", 1)


def _records(tp: TopicPartition, offsets: range) -> list[ConsumerRecord[bytes, bytes]]:
    return [ConsumerRecord(tp.topic, tp.partition, o, 0, 0, b"k", b"v", None, 1, 1, []) for o in offsets]


class FakeThread(RewindingConsumerThread):
    """A consumer thread that hands out one batch and records what it was asked to rewind."""

    def __init__(self, batch: Mapping[TopicPartition, list[Any]]) -> None:  # no thread started
        self.batch = batch
        self.taken = {tp: Taken(object(), records[-1].offset + 1) for tp, records in batch.items()}
        self.asked: dict[Any, int] = {}

    async def getmany(self, active_partitions: Any, timeout: float) -> Any:
        return self.batch

    def highwater(self, tp: Any) -> int:
        return 100

    def assignment(self) -> set[Any]:
        return set(self.batch)

    async def seek_to_committed(self) -> Mapping[Any, int]:
        return {}

    async def rewind(self, starts: Mapping[Any, int], taken: Mapping[Any, Taken]) -> dict[Any, int]:
        assert taken == self.taken, "the positions noted when the batch was taken"
        self.asked = dict(starts)
        return dict(starts)


def _consumer(app: faust.App, batch: Mapping[TopicPartition, list[Any]]) -> tuple[RewindingConsumer, FakeThread]:
    consumer = app.consumer
    assert isinstance(consumer, RewindingConsumer)
    thread = FakeThread(batch)
    consumer._thread = thread
    consumer._set_active_tps({TP(STREAM.topic, STREAM.partition)})  # PAUSED is not active
    return consumer, thread


async def _hand_on(consumer: RewindingConsumer, stop_after: int) -> list[int]:
    offsets = []
    async for _tp, message in consumer.getmany(timeout=0.1):
        offsets.append(message.offset)
        if len(offsets) == stop_after:
            consumer.stop_flow()  # a rebalance begins while the batch is on its way
    return offsets


def test_records_dropped_when_the_flow_stops_and_records_of_a_paused_partition_are_read_again(
    worker_app: faust.App,
) -> None:
    consumer, thread = _consumer(
        worker_app, {STREAM: _records(STREAM, range(10, 15)), PAUSED: _records(PAUSED, range(3))}
    )
    key = TP(STREAM.topic, STREAM.partition)
    consumer._gap[key].addi(12, 20)  # Faust took 12..19 as a gap: they must be acked for real now
    handed_on = asyncio.run(_hand_on(consumer, stop_after=2))
    assert handed_on == [10, 11]
    assert thread.asked == {STREAM: 12, PAUSED: 0}
    assert consumer._read_offset[key] == 12, "12 is handed on again, not dropped as already read"
    assert not consumer._gap[key].overlaps(12, 20)
    assert consumer.rewound_records == 3 + 3


def test_a_batch_handed_on_whole_asks_for_no_rewind(worker_app: faust.App) -> None:
    consumer, thread = _consumer(worker_app, {STREAM: _records(STREAM, range(5))})
    assert asyncio.run(_hand_on(consumer, stop_after=99)) == [0, 1, 2, 3, 4]
    assert thread.asked == {} and consumer.rewound_records == 0


class FailingThread(FakeThread):
    async def rewind(self, starts: Mapping[Any, int], taken: Mapping[Any, Taken]) -> dict[Any, int]:
        raise RuntimeError("consumer thread stopped")


def test_a_failed_rewind_is_logged_and_the_fetcher_goes_on(
    worker_app: faust.App, caplog: pytest.LogCaptureFixture
) -> None:
    consumer, _thread = _consumer(worker_app, {STREAM: _records(STREAM, range(5))})
    consumer._thread = FailingThread({STREAM: _records(STREAM, range(5))})
    assert asyncio.run(_hand_on(consumer, stop_after=1)) == [0]
    assert consumer.rewound_records == 0
    assert "could not read again" in caplog.text and "consumer thread stopped" in caplog.text
