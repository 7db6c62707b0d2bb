"""Faust's Kafka consumer, with a partition that has no committed offset re-read from its start after a rebalance.

After a rebalance, Faust drops the records it fetched while its flow was stopped, then seeks every partition back
to its committed offset. aiokafka's `seek_to_committed` skips a partition with no committed offset (or offset 0),
so that partition's fetch position stays past the dropped records: they are never read again, never acked, and
its lag never falls. A quiet topic taken over from a killed worker is where this shows, since the killed worker
had not committed anything on it yet. Here such a partition goes back to its earliest offset instead, which is
where `auto_offset_reset=earliest` would have started it; re-reading is safe, as rows are idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer, Transport


async def seek_to_committed_or_start(
    consumer: AIOKafkaConsumer, is_changelog: Callable[[str], bool]
) -> Mapping[TopicPartition, int | None]:
    """Seek each assigned partition to its committed offset, or to its earliest offset when it has none.

    A changelog partition is left where it is: Faust's recovery positions those itself. Returns the committed
    offsets, as aiokafka's `seek_to_committed` does.
    """
    committed: Mapping[TopicPartition, int | None] = await consumer.seek_to_committed()
    uncommitted = [tp for tp, offset in committed.items() if not offset and not is_changelog(tp.topic)]
    if uncommitted:
        await consumer.seek_to_beginning(*uncommitted)
    return committed


class RewindingConsumerThread(AIOKafkaConsumerThread):
    """The consumer thread whose seek to committed offsets also rewinds partitions that have none."""

    async def seek_to_committed(self) -> Mapping[Any, int]:
        """Seek partitions to their committed offsets, and uncommitted stream partitions to their start."""
        changelogs = self.app.tables.changelog_topics
        result: Mapping[Any, int] = await self.call_thread(
            seek_to_committed_or_start, self._ensure_consumer(), changelogs.__contains__
        )
        return result


class RewindingConsumer(Consumer):
    """Faust's aiokafka consumer on a `RewindingConsumerThread`."""

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return RewindingConsumerThread(self, loop=self.loop, beacon=self.beacon)


class RewindingTransport(Transport):
    """Faust's aiokafka transport whose consumers are `RewindingConsumer`s."""

    Consumer = RewindingConsumer
