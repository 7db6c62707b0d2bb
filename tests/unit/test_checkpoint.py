"""The checkpoint commits in one order: judge, write each state once, publish, store the rows, then ack."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest

from pipelines import checkpoint as checkpoint_module
from pipelines.agents import Wiring, handle_lead_message
from pipelines.checkpoint import Checkpoint, LeadChange
from pipelines.core.lead import LeadState, snapshot
from pipelines.core.model import EventTimes, Origin
from pipelines.core.sla import Judge
from pipelines.poison import Poison
from pipelines.sink import RowBatch
from pipelines.sink_service import StoreWriter
from pipelines.topics import TopicNames
from tests.unit.factories import at, form_event, lead_state, parse, stage_event
from tests.unit.test_sink_batch import FakeStore

ORIGIN = Origin("leadflow.stages", 3, 10)


class Tables:
    """Stand-in for the worker's tables that logs what the checkpoint asks of it."""

    def __init__(self, log: list[str], failing: str = "") -> None:
        self.log = log
        self.failing = failing
        self.written: dict[bytes, LeadState] = {}

    def committed(self, key: bytes) -> LeadState | None:
        return self.written.get(key)

    def change(self, state: LeadState, changed: bool, now: datetime) -> LeadChange:
        self.log.append(f"judge {state.lead_id}")
        if state.lead_id == self.failing:
            raise ZeroDivisionError("the core fails")
        return LeadChange(state, b"x" * len(state.moves) if changed else None, snapshot(state), None)

    def write(self, key: bytes, change: LeadChange, partition: int) -> None:
        self.log.append(f"write {key.decode()} to {partition}")
        self.written[key] = change.state

    async def publish(self, change: LeadChange, partition: int, now: datetime, rows: RowBatch) -> None:
        self.log.append(f"publish {change.state.lead_id}")


class Store(FakeStore):
    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log

    def insert(self, table: str, rows: Any, columns: Any) -> None:
        self.log.append(f"store {table}")
        super().insert(table, rows, columns)


def checkpoint(log: list[str], failing: str = "") -> tuple[Checkpoint, list[Poison]]:
    aside: list[Poison] = []
    store = Store(log)
    point = Checkpoint(StoreWriter(store, ThreadPoolExecutor(max_workers=1)), 1000, Judge([]), 900_000)
    point.store = store  # type: ignore[attr-defined]
    point.tables = Tables(log, failing)

    async def set_aside(poison: Poison, rows: RowBatch | None) -> None:
        log.append(f"aside {poison.kind}")
        aside.append(poison)

    point.set_aside = set_aside
    return point, aside


def taken(point: Checkpoint, lead: str, raw: bytes, log: list[str]) -> Any:
    """Take a record for a lead as the handlers do; return the `added` call that registers its ack."""
    event = parse(raw)
    state = lead_state([raw], point.lead(lead.encode()))
    point.take(lead.encode(), state, True, 3, (event, ORIGIN))
    point.rows.add_event(event, ORIGIN)
    return point.added(lambda: log.append(f"ack {event.id}"))


def take(point: Checkpoint, lead: str, raw: bytes, log: list[str]) -> None:
    asyncio.run(taken(point, lead, raw, log))


def test_a_commit_judges_writes_publishes_stores_then_acks_each_lead_once() -> None:
    log: list[str] = []
    point, aside = checkpoint(log)
    take(point, "L1", form_event("L1", "V1", at(0), id="f1"), log)
    take(point, "L1", stage_event("L1", "mql", at(1), id="s1"), log)
    assert point.lead(b"L1") is not None and len(point.lead(b"L1").moves) == 2  # type: ignore[union-attr]
    assert log == []  # nothing is written before the commit
    asyncio.run(point.commit())
    assert log == [
        "judge L1",
        "write L1 to 3",
        "publish L1",
        "store events",
        "store lead_snapshots",
        "ack f1",
        "ack s1",
    ]
    assert aside == [] and point.lead(b"L1") is not None


def test_a_lead_the_core_fails_on_is_set_aside_whole_and_the_others_are_written() -> None:
    log: list[str] = []
    point, aside = checkpoint(log, failing="bad")
    take(point, "bad", form_event("bad", "V1", at(0), id="b1"), log)
    take(point, "bad", stage_event("bad", "mql", at(1), id="b2"), log)
    take(point, "ok", form_event("ok", "V2", at(0), id="o1"), log)
    asyncio.run(point.commit())
    assert [p.raw for p in aside] == [
        form_event("bad", "V1", at(0), id="b1"),
        stage_event("bad", "mql", at(1), id="b2"),
    ]
    assert {p.kind for p in aside} == {"core_error"} and "ZeroDivisionError" in aside[0].detail
    assert "write ok to 3" in log and not any(line.startswith("write bad") for line in log)
    assert log.index("aside core_error") < log.index("store events") < log.index("ack o1")
    assert point.lead(b"bad") is None  # it keeps its last written state: none


def test_an_unchanged_lead_is_restated_without_writing_its_state() -> None:
    log: list[str] = []
    point, _ = checkpoint(log)
    state = lead_state([form_event("L1", "V1", at(0), id="f1")])
    point.take(b"L1", state, False, 0, (parse(form_event("L1", "V1", at(0), id="f1")), ORIGIN))
    asyncio.run(point.commit())
    assert log == ["judge L1", "publish L1", "store lead_snapshots"]


def test_the_event_that_makes_a_state_too_large_for_kafka_is_set_aside_and_the_ones_before_it_are_kept() -> None:
    log: list[str] = []
    point, aside = checkpoint(log)
    point.max_state_bytes = 1  # the stand-in's state takes a byte per move
    take(point, "L1", form_event("L1", "V1", at(0), id="f1"), log)
    take(point, "L1", stage_event("L1", "mql", at(1), id="s1"), log)
    asyncio.run(point.commit())
    assert [(p.kind, p.raw) for p in aside] == [("state_too_large", stage_event("L1", "mql", at(1), id="s1"))]
    assert "over 1" in aside[0].detail
    written = point.lead(b"L1")
    assert written is not None and [m.id for m in written.moves] == ["f1"]
    assert log.count("store events") == 1 and "ack s1" in log
    stored = [row[1] for table, rows, _ in point.store.inserts if table == "events" for row in rows]  # type: ignore[attr-defined]
    assert stored == ["f1"]  # the event set aside is not stored as an event


def test_a_dead_letter_row_is_stored_even_when_a_commit_runs_while_it_is_sent() -> None:
    """A malformed record's row goes in the batch before the send waits, so a commit meanwhile stores it."""
    log: list[str] = []
    point, _aside = checkpoint(log)

    class Topic:
        async def send(self, key: bytes | None, value: bytes, headers: dict[str, bytes]) -> None:
            await point.commit()  # the commit cadence runs while the dead letter is on its way

    message = type("Message", (), {"topic": "leadflow.stages", "partition": 3, "offset": 11, "value": b"not json"})()
    consumer = type("Consumer", (), {"ack": staticmethod(lambda m: log.append("ack bad"))})()
    app = type("App", (), {"consumer": consumer})()
    w = Wiring(app, TopicNames(), None, None, Topic(), point, None, EventTimes(at(0), timedelta(days=3650)))  # type: ignore[arg-type]

    take(point, "L1", form_event("L1", "V1", at(0)), log)  # a record taken before: the commit has work to do

    async def run() -> None:
        await handle_lead_message(w, message)
        await point.commit()

    asyncio.run(run())
    inserts = point.store.inserts  # type: ignore[attr-defined]
    stored = [row for table, rows, _columns in inserts if table == "dead_letters" for row in rows]
    assert [(row[0], row[2]) for row in stored] == [("leadflow.stages", 11)] and log[-1] == "ack bad"


class SlowStore(Store):
    """A store whose inserts wait until released (from another thread: the writer's)."""

    def __init__(self, log: list[str]) -> None:
        super().__init__(log)
        self.release = threading.Event()

    def insert(self, table: str, rows: Any, columns: Any) -> None:
        self.release.wait(10)
        super().insert(table, rows, columns)


def test_a_full_batch_commits_beside_the_next_records_and_a_second_full_one_waits_for_it() -> None:
    log: list[str] = []
    point, _ = checkpoint(log)
    store = SlowStore(log)
    point._writer = StoreWriter(store, ThreadPoolExecutor(max_workers=1))
    point._batch_rows = 2  # a record of a new lead waits as 2: its row and its lead

    async def scenario() -> list[str]:
        await taken(point, "L1", form_event("L1", "V1", at(0), id="a"), log)  # full: a commit starts
        await asyncio.sleep(0.05)  # the commit waits for the store
        await taken(point, "L2", form_event("L2", "V2", at(0), id="b"), log)  # taken beside it, at once
        seen = list(log)
        asyncio.get_running_loop().call_later(0.1, store.release.set)
        await taken(point, "L3", form_event("L3", "V3", at(0), id="c"), log)  # a second full batch waits
        return seen

    seen = asyncio.run(scenario())
    assert "ack a" not in seen and seen[:2] == ["judge L1", "write L1 to 3"]
    assert "ack a" in log and not any(line in log for line in ("ack b", "ack c"))
    assert point.lead(b"L2") is not None and point.waiting() == 4  # the second batch waits for the next commit


def test_events_whose_payloads_fill_the_bytes_of_a_batch_commit_before_it_has_its_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log: list[str] = []
    point, _ = checkpoint(log)  # a batch of 1,000 rows
    first, second = form_event("L1", "V1", at(0), id="a"), form_event("L2", "V2", at(0), id="b")
    monkeypatch.setattr(checkpoint_module, "BATCH_BYTES", len(first) + len(second) - 1)

    async def scenario() -> list[str]:
        await taken(point, "L1", first, log)
        await asyncio.sleep(0.05)
        seen = list(log)
        await taken(point, "L2", second, log)  # two events' bytes: over the batch's bytes, far under its rows
        await asyncio.wait_for(asyncio.shield(point._running), 5)  # type: ignore[arg-type]
        return seen

    assert asyncio.run(scenario()) == []
    assert "ack a" in log and "ack b" in log
    assert point.rows.payload_bytes == 0  # the next batch starts empty


def test_a_commit_that_failed_beside_the_records_fails_the_next_one_to_start() -> None:
    log: list[str] = []
    point, _ = checkpoint(log, failing="")
    point._batch_rows = 2

    async def broken() -> None:
        raise RuntimeError("the store thread died")

    async def scenario() -> None:
        point.commit = broken  # type: ignore[method-assign]
        await taken(point, "L1", form_event("L1", "V1", at(0), id="a"), log)
        await asyncio.sleep(0)
        await taken(point, "L2", form_event("L2", "V2", at(0), id="b"), log)

    with pytest.raises(RuntimeError, match="store thread died"):
        asyncio.run(scenario())


def test_the_commit_cadence_stops_on_a_commit_that_failed_beside_the_records() -> None:
    log: list[str] = []
    point, _ = checkpoint(log)

    async def scenario() -> None:
        failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        failed.set_exception(RuntimeError("the store thread died"))
        point._running = failed
        await asyncio.wait_for(point.commit_every(0.01), timeout=5)

    with pytest.raises(RuntimeError, match="store thread died"):
        asyncio.run(scenario())
