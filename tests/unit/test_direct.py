"""Records of the input topics straight to their handlers; table writes sent once per key at the commit."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pipelines.decoded import Changelog, DecodedTable
from pipelines.direct import acker, dispatcher
from pipelines.flow import FlowControl


@dataclass
class Message:
    topic: str
    offset: int = 0
    generation_id: int = 1
    acked: list[int] = field(default_factory=list)


class App:
    def __init__(self) -> None:
        self.flow_control = FlowControl()
        self.flow_control.resume()  # as the app does once its partitions are assigned
        self.consumer_generation_id = 1


def run_dispatch(app: App, messages: list[Message]) -> tuple[list[str], list[str]]:
    handled: list[str] = []
    fallen: list[str] = []

    async def handle(message: Message) -> None:
        handled.append(f"{message.topic}@{message.offset}")

    async def fallback(message: Message) -> None:
        fallen.append(f"{message.topic}@{message.offset}")

    on_message = dispatcher(app, fallback, {"leadflow.visits": handle})

    async def deliver() -> None:
        for message in messages:
            await on_message(message)

    asyncio.run(deliver())
    return handled, fallen


def test_an_input_record_goes_to_its_handler_and_any_other_as_faust_delivers_it() -> None:
    app = App()
    handled, fallen = run_dispatch(app, [Message("leadflow.visits", 1), Message("other", 2)])
    assert handled == ["leadflow.visits@1"] and fallen == ["other@2"]


def test_a_record_fetched_for_an_ended_assignment_is_dropped_unhandled() -> None:
    app = App()
    app.consumer_generation_id = 2  # a rebalance since the record was fetched
    handled, _ = run_dispatch(app, [Message("leadflow.visits", 1, generation_id=1), Message("leadflow.visits", 2, 2)])
    assert handled == ["leadflow.visits@2"]


def test_a_record_waits_while_the_flow_is_suspended() -> None:
    app = App()
    handled: list[int] = []

    async def handle(message: Message) -> None:
        handled.append(message.offset)

    async def scenario() -> list[int]:
        app.flow_control.suspend()
        on_message = dispatcher(app, handle, {"leadflow.visits": handle})
        delivery = asyncio.ensure_future(on_message(Message("leadflow.visits", 7)))
        await asyncio.sleep(0.01)
        before = list(handled)
        app.flow_control.resume()
        await delivery
        return before

    assert asyncio.run(scenario()) == [] and handled == [7]


def test_the_ack_of_a_record_goes_to_the_consumer() -> None:
    acked: list[Any] = []
    consumer = type("Consumer", (), {"ack": staticmethod(acked.append)})()
    message = Message("leadflow.visits", 3)
    ack = acker(consumer, message)
    assert acked == []
    ack()
    assert acked == [message]


class Topic:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_topic_name(self) -> str:
        return self.name


class Table:
    """A Faust table as `Changelog` sees it: a store and a changelog topic."""

    def __init__(self, name: str) -> None:
        self.data: dict[bytes, bytes] = {}
        self.changelog_topic = Topic(name)


class Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes, int]] = []

    async def send(self, topic: str, key: bytes, value: bytes, partition: int, timestamp: Any, headers: Any) -> None:
        self.sent.append((topic, key, value, partition))


writes = st.lists(st.tuples(st.sampled_from([b"a", b"b", b"c"]), st.binary(min_size=1, max_size=4), st.integers(0, 3)))


@given(writes)
def test_each_key_is_set_at_once_and_its_last_value_sent_once_at_commit(ops: list[tuple[bytes, bytes, int]]) -> None:
    table, producer, changelog = Table("visitors-changelog"), Producer(), Changelog()
    last: dict[tuple[int, bytes], bytes] = {}
    for key, value, partition in ops:
        changelog.put(table, key, value, partition)
        last[(partition, key)] = value
        assert table.data[key] == value
    assert producer.sent == [] and len(changelog) == len(last)
    asyncio.run(changelog.send(producer))
    assert {(p, k): v for _t, k, v, p in producer.sent} == last and len(producer.sent) == len(last)
    assert {t for t, *_ in producer.sent} <= {"visitors-changelog"} and len(changelog) == 0
    asyncio.run(changelog.send(producer))
    assert len(producer.sent) == len(last)  # sent once


def test_a_plain_mapping_is_only_set() -> None:
    mapping: dict[bytes, bytes] = {}
    changelog = Changelog()
    table: DecodedTable[bytes] = DecodedTable(mapping, bytes, changelog)
    table.set(b"k", b"v", b"v", 2)
    assert mapping == {b"k": b"v"} and len(changelog) == 0 and table.get(b"k") == b"v"


def test_a_decoded_table_reads_what_its_store_holds() -> None:
    faust_like, changelog = Table("leads-changelog"), Changelog()
    table: DecodedTable[str] = DecodedTable(faust_like, bytes.decode, changelog)
    table.set(b"L1", b"state", "state", 1)
    assert table.get(b"L1") == "state" and len(changelog) == 1
    faust_like.data[b"L1"] = b"recovered"  # a recovery replaced the bytes: decoded again
    assert table.get(b"L1") == "recovered"
    del faust_like.data[b"L1"]
    assert table.get(b"L1") is None
