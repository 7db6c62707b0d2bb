"""The worker's SLA shell with stand-ins for Faust's table and topics: publish once, tick by what is due."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from pipelines.agreements import load_agreements
from pipelines.core.codec import sla_from_bytes, to_ms
from pipelines.core.sla import Judge
from pipelines.sla_agent import SlaShell
from tests.unit.factories import activity_event, form_event, lead_state, stage_event

REPO = Path(__file__).resolve().parents[2]
BERLIN_MONDAY_10 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # 10:00 in Berlin


class Topic:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes]] = []

    async def send(self, key: bytes, value: bytes) -> None:
        self.sent.append((key, value))


class Checkpoint:
    def __init__(self) -> None:
        from pipelines.decoded import Changelog
        from pipelines.sink import RowBatch

        self.rows = RowBatch()
        self.changelog = Changelog()


def _shell() -> tuple[SlaShell, dict[bytes, bytes], Topic, Topic]:
    table: dict[bytes, bytes] = {}
    sla_topic, checks = Topic(), Topic()
    judge = Judge(load_agreements(REPO / "agreements"))
    return SlaShell(judge, table, sla_topic, checks, Checkpoint()), table, sla_topic, checks  # type: ignore[arg-type]


def _mql_lead(follow_up_minutes: float | None = None) -> Any:
    events = [form_event("L1", "v1", BERLIN_MONDAY_10), stage_event("L1", "mql", BERLIN_MONDAY_10)]
    if follow_up_minutes is not None:
        events.append(activity_event("L1", BERLIN_MONDAY_10 + timedelta(minutes=follow_up_minutes)))
    return lead_state(events)


def test_a_breach_is_published_once_and_recorded_in_the_table() -> None:
    shell, table, sla_topic, _ = _shell()
    state = _mql_lead()
    late = BERLIN_MONDAY_10 + timedelta(hours=6)
    asyncio.run(shell.judge_lead(state, 3, late))
    asyncio.run(shell.judge_lead(state, 3, late + timedelta(minutes=5)))
    kinds = [orjson.loads(v)["type"] for _, v in sla_topic.sent]
    assert kinds == ["sla.warning", "sla.breached"]
    published, partition, due = sla_from_bytes(table[b"L1"])
    assert partition == 3 and due is None
    assert published == {"mql_follow_up/1/sla.warning", "mql_follow_up/1/sla.breached"}
    assert len(shell.checkpoint.rows.sla_events) == 2


def test_a_met_clock_is_published_at_once_with_its_business_seconds() -> None:
    shell, _, sla_topic, _ = _shell()
    asyncio.run(shell.judge_lead(_mql_lead(follow_up_minutes=30), 0, BERLIN_MONDAY_10 + timedelta(minutes=31)))
    [(key, value)] = sla_topic.sent
    message = orjson.loads(value)
    assert key == b"L1" and message["type"] == "sla.met" and message["data"]["business_seconds"] == 1800
    assert message["id"] == "L1/mql_follow_up/1/sla.met" and message["source"] == "/leadflow/sla"


def test_tick_sends_a_check_only_for_leads_that_are_due() -> None:
    shell, _, _, checks = _shell()
    asyncio.run(shell.judge_lead(_mql_lead(), 1, BERLIN_MONDAY_10 + timedelta(minutes=1)))
    assert shell.next_due() == BERLIN_MONDAY_10 + timedelta(hours=3)  # warning at 75 % of 4 h
    assert asyncio.run(shell.tick()) == 1  # the wall clock is long past November 2026's deadlines
    assert [orjson.loads(v)["lead_id"] for _, v in checks.sent] == ["L1"]
    assert asyncio.run(shell.tick()) == 0


def test_rebuild_takes_only_the_partitions_this_worker_owns() -> None:
    shell, table, _, _ = _shell()
    asyncio.run(shell.judge_lead(_mql_lead(), 2, BERLIN_MONDAY_10))
    due = to_ms(BERLIN_MONDAY_10 + timedelta(hours=3))
    assert sla_from_bytes(table[b"L1"])[2] == due
    assert shell.rebuild({0, 1}) == 0
    assert shell.rebuild({2}) == 1 and shell.next_due() == BERLIN_MONDAY_10 + timedelta(hours=3)
