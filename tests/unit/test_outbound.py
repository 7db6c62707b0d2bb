"""Topics the worker writes through the producer itself (pipelines/outbound.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from pipelines.outbound import OutboundTopic


class Producer:
    """Keeps what it is handed, as Faust's producer's `send` takes it."""

    def __init__(self) -> None:
        self.sent: list[tuple[Any, ...]] = []

    async def send(self, *args: Any) -> asyncio.Future[None]:
        self.sent.append(args)
        return asyncio.get_running_loop().create_future()


def test_a_record_goes_to_the_producer_of_the_moment_with_its_topic_key_and_value_and_no_partition() -> None:
    producers = [Producer()]
    topic = OutboundTopic(lambda: producers[-1], "p.leadflow.sla")

    async def send_two() -> None:
        await topic.send(key=b"lead-1", value=b'{"type":"sla.breached"}')
        producers.append(Producer())  # the app builds its producer when it starts: the one there at sending counts
        await topic.send(key=None, value=b"x")

    asyncio.run(send_two())

    assert producers[0].sent == [("p.leadflow.sla", b"lead-1", b'{"type":"sla.breached"}', None, None, None)]
    assert producers[1].sent == [("p.leadflow.sla", None, b"x", None, None, None)]
    assert topic.get_topic_name() == "p.leadflow.sla"
