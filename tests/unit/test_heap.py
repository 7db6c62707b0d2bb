"""The collector's settings for long-running processes (pipelines/heap.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipelines.agreements import load_agreements
from pipelines.core.sla import Judge
from pipelines.heap import MIDDLE, OLD, YOUNG, paused_collector, settle_heap
from pipelines.replay import replay_file
from services.simulate import SimulationConfig, write_jsonl

AGREEMENTS = Path(__file__).resolve().parents[2] / "agreements"


@pytest.fixture
def restored_collector() -> Iterator[None]:
    """Give the test process its collector back as it was."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_settled_heap_keeps_what_lives_now_out_of_collections_and_collects_less_often() -> None:
    kept = [[index] for index in range(1000)]  # tracked objects alive at the end of start-up
    gc.unfreeze()
    before = gc.get_freeze_count()

    settle_heap()

    assert gc.get_freeze_count() >= before + len(kept)
    assert gc.get_threshold() == (YOUNG, MIDDLE, OLD)
    assert YOUNG > 700  # CPython's default, which cost a worker a fifth of its CPU


@pytest.mark.usefixtures("restored_collector")
def test_cycles_made_after_settling_are_still_collected() -> None:
    settle_heap()

    class Node:
        partner: object = None

    collected_before = sum(stats["collected"] for stats in gc.get_stats())
    for _ in range(100):
        first, second = Node(), Node()
        first.partner, second.partner = second, first  # a cycle: reference counting alone never frees it
    del first, second
    assert gc.collect() >= 200
    assert sum(stats["collected"] for stats in gc.get_stats()) > collected_before


@pytest.mark.usefixtures("restored_collector")
def test_the_collector_is_paused_within_and_what_was_made_there_is_kept_out_of_it_after() -> None:
    assert gc.isenabled()
    gc.unfreeze()
    with paused_collector():
        assert not gc.isenabled()
        made = [[index] for index in range(1000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(made)
    with pytest.raises(RuntimeError), paused_collector():
        raise RuntimeError("the loop failed")
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_collector():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()


class _KeepingStore:
    """Keeps the rows, as a store would hold them for the replay's writer."""

    def __init__(self) -> None:
        self.rows: list[Sequence[Any]] = []

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return []

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        self.rows.extend(rows)

    def close(self) -> None:
        pass


def test_a_replay_makes_no_reference_cycles_for_a_paused_collector_to_miss(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    write_jsonl(SimulationConfig(seed=7, visitors=400), path)
    judge = Judge(load_agreements(AGREEMENTS))
    store = _KeepingStore()
    gc.collect()
    gc.disable()
    try:
        stats = replay_file(path, store, judge, now=datetime(2027, 1, 31, tzinfo=UTC))
        left = gc.collect()
    finally:
        gc.enable()
    assert stats.valid > 1000 and stats.sla_events > 0  # leads, clocks and visits all went through the core
    assert left == 0
