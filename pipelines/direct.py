"""Records of the input topics go from the fetcher straight to their handler: no stream queue, no stream.

Faust hands each record its consumer fetched to the conductor, which decodes it into an event, counts references,
puts it on every subscribed channel's queue; an agent's stream takes it off again, tracks it, calls its sensors,
sets the task's current event, and acks it through the reference count. A trivial agent that does nothing else
spends most of its time there (`benchmarks/faust_floor.py`), more than leadflow's whole core does per event.

Here the conductor's entry point sends a record of an input topic to its handler at once, on the fetcher's own
task, one record after the other (as an agent with concurrency 1 takes them). What those layers did that matters is
kept:
- flow control: while a rebalance suspends the flow, the record waits, as the conductor made it wait;
- the consumer generation: a record fetched before a rebalance is dropped unhandled, as the streams dropped it.
  It was never acked, so it is read again from the committed offsets (and `pipelines.kafka_consumer` rewinds a
  partition nobody committed on yet);
- the producer's back-pressure: a handler's sends wait while the producer's accumulator is full (Faust's own
  buffer, which the conductor waited on, holds only Faust's table writes, and the worker's go straight to the
  producer: `pipelines.decoded.Changelog`);
- acks: the checkpoint acks a record through the consumer, once its effects are written
  (`pipelines/checkpoint.py`), and Faust commits acked offsets as it does for streams.
The topics stay registered with the conductor, so the consumer subscribes to them and commits their offsets.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

Handler = Callable[[Any], Awaitable[None]]  # takes a Faust `Message`


def deliver_directly(app: Any, topics: Any, handlers: Mapping[str, Handler]) -> None:
    """Register `topics` with the app's conductor and send their records (by topic name) to `handlers`."""
    conductor = app.topics
    for topic in topics:
        conductor.add(topic)
    conductor.on_message = dispatcher(app, conductor.on_message, handlers)


def dispatcher(app: Any, fallback: Handler, handlers: Mapping[str, Handler]) -> Handler:
    """Return the conductor's entry point: input topics to their handler, any other record as Faust delivers it."""
    flow = app.flow_control

    async def on_message(message: Any) -> None:
        handle = handlers.get(message.topic)
        if handle is None:
            await fallback(message)
            return
        if not flow.is_active():
            await flow.acquire()  # a rebalance: wait until the flow resumes
        if message.generation_id != app.consumer_generation_id:
            return  # fetched for an assignment that has ended: read again from the committed offsets
        await handle(message)

    return on_message


def acker(consumer: Any, message: Any) -> Callable[[], None]:
    """Return the ack of a record: the consumer may commit its offset once every earlier one is acked too."""

    def ack() -> None:
        consumer.ack(message)

    return ack
