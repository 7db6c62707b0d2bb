"""Changelogged tables: values decoded once and reused while the table holds their bytes; writes to a partition."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")
KEPT = 20_000  # decoded values kept (the most recently decoded or written); a miss only costs decoding again


class DecodedTable(Generic[T]):
    """Decoded values of a table of bytes: a long lead history is decoded when it changes, not per event."""

    def __init__(self, table: Any, decode: Callable[[bytes], T], changelog: Changelog, kept: int = KEPT) -> None:
        self._table = table
        self._changelog = changelog
        self._decode = decode
        self._kept = kept
        self._decoded: dict[bytes, tuple[bytes, T]] = {}

    def get(self, key: bytes) -> T | None:
        """Return the decoded value of a key (None when the table has none).

        Read from the table's store, as `put` writes to it: a Faust table's own `get` goes through its mapping
        layers and its sensors on every read, and the worker reads once per event.
        """
        stored = _store(self._table).get(key)
        if not stored:
            self._decoded.pop(key, None)
            return None
        hit = self._decoded.get(key)
        if hit is not None and hit[0] is stored:  # the table's own object: not replaced by a recovery since
            return hit[1]
        value = self._decode(stored)
        self._remember(key, stored, value)
        return value

    def values(self) -> Iterator[T]:
        """Yield every value the table holds here, decoded (those kept decoded are not decoded again)."""
        for key in list(self._table.keys()):
            value = self.get(bytes(key))
            if value is not None:
                yield value

    def set(self, key: bytes, encoded: bytes, value: T, partition: int) -> None:
        """Write a value's bytes to the table (in `partition`) and keep it decoded."""
        self._changelog.put(self._table, key, encoded, partition)
        self._remember(key, encoded, value)

    def _remember(self, key: bytes, encoded: bytes, value: T) -> None:
        self._decoded.pop(key, None)
        self._decoded[key] = (encoded, value)
        if len(self._decoded) > self._kept:
            del self._decoded[next(iter(self._decoded))]


def _store(table: Any) -> Any:
    """Return the mapping a table keeps its values in (a plain mapping is its own)."""
    return getattr(table, "data", table)


class Changelog:
    """Table writes since the last commit: each key is set at once, its changelog record waits for `send`.

    Faust sends a table's changelog record to the partition of the event being processed, and refuses a write
    outside stream iteration; here records go out on no stream, and a checkpoint writes the keys of many
    partitions at once, so each names its own (the partition its lead's or visitor's records come on, as the
    tables are co-partitioned with the input topics). Only a key's last value is sent, once per commit, straight
    to the producer (not through Faust's buffer, a task hop per record). The checkpoint sends before it acks,
    and Faust flushes the producer before it commits offsets: a crash before that reads the records again and
    writes the same values. A plain mapping stands in for a table in tests and benchmarks.
    """

    def __init__(self) -> None:
        self._pending: dict[tuple[str, int, bytes], bytes] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def put(self, table: Any, key: bytes, value: bytes, partition: int) -> None:
        """Set a table's key, its changelog record (to `partition`) to be sent at the next commit."""
        _store(table)[key] = value
        topic = getattr(table, "changelog_topic", None)
        if topic is not None:
            self._pending[(topic.get_topic_name(), partition, key)] = value

    async def send(self, producer: Any) -> None:
        """Hand every waiting record to the producer (which batches them), in the order they were first set."""
        pending, self._pending = self._pending, {}
        for (topic, partition, key), value in pending.items():
            await producer.send(topic, key, value, partition, None, None)
