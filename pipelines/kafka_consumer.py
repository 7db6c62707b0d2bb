"""Faust's Kafka transport, made to read again every record it fetched but no agent processed.

Faust's fetcher takes a batch of records from aiokafka, which moves each partition's position past them, and then
hands them on one by one. Some it never hands on: when its flow was stopped while the batch was on its way (a
rebalance began), when the consumer generation changed, or when a partition was paused by then (the batch can even
hold partitions that were never asked for, as aiokafka reads an empty partition filter as "all"). And records it
handed on are dropped from the stream queues when a rebalance begins. Faust relies on a later seek to the
committed offsets to read all of them again, but aiokafka's `seek_to_committed` skips a partition with no
committed offset: such a partition stays past the records, which are never read. A stream partition nobody has
committed on yet (a quiet topic, or any topic in a worker's first seconds) loses them; a changelog partition
(never committed) whose records were dropped while its table's recovery started waits for them forever.

So, two repairs:
- After each batch, every partition with records that were not handed on goes back to the first of them, as
  long as nothing else has moved it since the batch was taken (a seek by recovery or to a committed offset
  wins). The check and the seek run on the consumer's own thread in one step, between two batches of the one
  fetcher, so no record of that partition is in flight.
- The seek to committed offsets sends a stream partition that has none to its earliest offset, where
  `auto_offset_reset=earliest` started it.
Records handed on again are harmless: rows are idempotent, and SLA events are published once per lead.

The producer is idempotent as well (see `IdempotentProducer`).
"""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping
from typing import Any, NamedTuple, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer, Producer, Transport
from faust.types import TP
from mode.services import WaitArgT, WaitResults

from pipelines.eager import Finished, close_unstarted, first_step, resumed

log = logging.getLogger(__name__)


class _Record(Protocol):
    @property
    def offset(self) -> int: ...


class Taken(NamedTuple):
    """Where a partition's position stood when the fetcher took a batch: its state object and offset."""

    state: Any
    position: int


def first_not_handed_on(
    batch: Mapping[Any, Iterable[_Record]], handed_on: Mapping[Any, Collection[int]]
) -> dict[Any, int]:
    """Return, per partition of a batch, the offset of its first record that was not handed on (if any was not)."""
    starts: dict[Any, int] = {}
    for tp, records in batch.items():
        seen = handed_on.get(tp, ())
        missing = [record.offset for record in records if record.offset not in seen]
        if missing:
            starts[tp] = min(missing)
    return starts


def _state(consumer: AIOKafkaConsumer, tp: Any) -> Any:
    subscription = consumer._subscription.subscription
    assignment = subscription.assignment if subscription is not None else None
    return assignment.state_value(tp) if assignment is not None else None


def positions_taken(consumer: AIOKafkaConsumer, tps: Iterable[Any]) -> dict[Any, Taken]:
    """Note each partition's position right after a batch was taken from it (on the consumer's thread)."""
    taken = {}
    for tp in tps:
        state = _state(consumer, tp)
        if state is not None and state.has_valid_position:
            taken[tp] = Taken(state, state.position)
    return taken


def rewind(consumer: AIOKafkaConsumer, starts: Mapping[Any, int], taken: Mapping[Any, Taken]) -> dict[Any, int]:
    """Seek each partition to its start if it is still assigned and still where the batch left it.

    Runs on the consumer's thread without awaiting, so nothing moves a partition between the check and the seek.
    Returns the partitions sought and their new offsets.
    """
    done = {}
    for tp, start in starts.items():
        then, state = taken.get(tp), _state(consumer, tp)
        if then is None or state is not then.state or not state.has_valid_position or state.awaiting_reset:
            continue  # revoked, reassigned or being reset since the batch was taken
        if state.position != then.position:
            continue  # sought since (by recovery, or to a committed offset): that seek stands
        consumer.seek(TopicPartition(tp.topic, tp.partition), start)
        done[tp] = start
    return done


def _batch_summary(batch: Mapping[Any, Iterable[_Record]], handed_on: Mapping[Any, Collection[int]]) -> str:
    """Describe a batch per partition for the debug log: its offsets, and how many of them were handed on."""
    parts = []
    for tp, records in batch.items():
        offsets = [record.offset for record in records]
        if offsets:
            handed = sum(offset in handed_on.get(tp, ()) for offset in offsets)
            parts.append(f"{tp.topic}[{tp.partition}] {offsets[0]}..{offsets[-1]} {handed}/{len(offsets)}")
    return ", ".join(parts) or "nothing"


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
    """The consumer thread that notes positions as it hands out a batch, and rewinds partitions on request."""

    taken: Mapping[Any, Taken] = {}  # replaced, never mutated: one per batch

    async def seek_to_committed(self) -> Mapping[Any, int]:
        """Seek partitions to their committed offsets, and stream partitions that have none to their start."""
        changelogs = self.app.tables.changelog_topics
        result: Mapping[Any, int] = await self.call_thread(
            seek_to_committed_or_start, self._ensure_consumer(), changelogs.__contains__
        )
        return result

    async def _fetch_records(
        self,
        consumer: AIOKafkaConsumer,
        active_partitions: set[TP],
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> Any:
        records = await super()._fetch_records(consumer, active_partitions, timeout=timeout, max_records=max_records)
        self.taken = positions_taken(consumer, records)
        return records

    async def rewind(self, starts: Mapping[Any, int], taken: Mapping[Any, Taken]) -> dict[Any, int]:
        """Seek partitions back to records that were not handed on (see `rewind`)."""
        result: dict[Any, int] = await self.call_thread(self._rewind, self._ensure_consumer(), starts, taken)
        return result

    async def _rewind(
        self, consumer: AIOKafkaConsumer, starts: Mapping[Any, int], taken: Mapping[Any, Taken]
    ) -> dict[Any, int]:
        return rewind(consumer, starts, taken)


class RewindingConsumer(Consumer):
    """Faust's aiokafka consumer that reads again what a batch did not hand on."""

    _batch: Mapping[Any, Any] = {}  # replaced, never mutated: one per batch
    _taken: Mapping[Any, Taken] = {}
    rewound_records = 0  # records read again so far, for the logs and tests

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return RewindingConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def wait_first(self, *coros: WaitArgT, timeout: Any = None) -> WaitResults:
        """Deliver a record at once when nothing makes it wait, else race the flow's suspension as Faust does.

        The fetcher's only call: `wait_first(deliver(record), suspend_flow.wait())` (see `pipelines.eager`).
        """
        delivery, rest = (coros[0], coros[1:]) if coros else (None, ())
        if not inspect.iscoroutine(delivery):
            return await super().wait_first(*coros, timeout=timeout)
        try:
            waiting = first_step(delivery)
        except Finished as finished:
            close_unstarted(rest)
            if self._stopped.is_set() or self._crashed.is_set():
                return WaitResults([], [], True)
            return WaitResults([delivery], [finished.value], False)
        return await super().wait_first(resumed(delivery, waiting), *rest, timeout=timeout)

    async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:
        records, active = await super()._wait_next_records(timeout)
        thread = self._thread
        self._batch = records or {}
        self._taken = thread.taken if isinstance(thread, RewindingConsumerThread) else {}
        return records, active

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:
        """Hand on a batch as Faust does, then rewind the partitions whose records it did not hand on."""
        self._batch, self._taken = {}, {}
        handed_on: dict[Any, set[int]] = {}
        async for tp, message in super().getmany(timeout):
            handed_on.setdefault(tp, set()).add(message.offset)
            yield tp, message
        if log.isEnabledFor(logging.DEBUG):
            log.debug("batch handed on: %s", _batch_summary(self._batch, handed_on))
        starts = first_not_handed_on(self._batch, handed_on)
        if starts and isinstance(self._thread, RewindingConsumerThread):
            await self._read_again(self._thread, starts, handed_on)

    async def _read_again(
        self, thread: RewindingConsumerThread, starts: Mapping[Any, int], handed_on: Mapping[Any, set[int]]
    ) -> None:
        try:
            done = await thread.rewind(starts, self._taken)
        except Exception as exc:  # the consumer is stopping, or its thread failed: the fetcher must not die of it
            log.warning("could not read again records fetched but not handed on (%s): %r", sorted(starts), exc)
            return
        again = 0
        for tp, start in done.items():
            key = TP(tp.topic, tp.partition)
            # as Faust's own seek does: the records from `start` are handed on again, not dropped as already read
            self._read_offset[key] = start if start else None
            # offsets from `start` that Faust took as a gap (acked without a record) must now be acked for real
            self._gap[key].chop(start, sys.maxsize)
            seen = handed_on.get(tp, set())
            again += sum(1 for record in self._batch[tp] if record.offset not in seen)  # `start` is the first
        if done:
            self.rewound_records += again
            log.info(
                "reading again %d records fetched but not handed on, on %d partitions: %s",
                again,
                len(done),
                ", ".join(f"{tp.topic}[{tp.partition}] from {start}" for tp, start in sorted(done.items())),
            )


class IdempotentProducer(Producer):
    """Faust's aiokafka producer with idempotence on: a retried batch is written once.

    A broker that goes away after it wrote a batch but before it answered makes the producer send the batch
    again; without idempotence both copies land, and an SLA event or changelog record appears twice. With it,
    the broker drops the copy by producer id and sequence number (Kafka's own clients do this by default since
    3.0). It needs acks=all, which the worker asks for anyway.
    """

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class RewindingTransport(Transport):
    """Faust's aiokafka transport whose consumers are `RewindingConsumer`s and producers idempotent."""

    Consumer = RewindingConsumer
    Producer = IdempotentProducer
