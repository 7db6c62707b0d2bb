"""Topics the worker only writes to, through the app's producer itself rather than Faust's `Topic.send`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class OutboundTopic:
    """Send records to one topic straight through the producer, as the tables' changelog records go.

    Faust's `Topic.send` wraps each record in a `FutureMessage`, looks for a current stream event to attach it to
    (the worker's handlers run outside Faust's streams: there is none), runs its send sensors and a done-callback
    per record: about an eighth of a draining worker's CPU went there for the links, SLA events and checks it
    sends. Records sent here go into the same producer, so they are covered as before: Faust flushes the
    producer before it commits any offset. With no partition given, the producer's partitioner picks it from
    the key (murmur2), as it does for Faust's send.
    """

    def __init__(self, producer: Callable[[], Any], name: str) -> None:
        self._producer = producer
        self.name = name

    def get_topic_name(self) -> str:
        """Return the topic's full name (as Faust's topics answer it)."""
        return self.name

    async def send(self, *, key: bytes | None, value: bytes) -> None:
        """Hand one record to the producer; it goes out with the producer's next batch."""
        await self._producer().send(self.name, key, value, None, None, None)
