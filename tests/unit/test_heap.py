"""The collector's settings for long-running processes (pipelines/heap.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from pipelines.heap import MIDDLE, OLD, YOUNG, settle_heap


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
