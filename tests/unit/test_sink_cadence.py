"""The worker's sink flushes on a steady cadence: a write's own time counts toward the next interval."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pipelines import sink_service
from pipelines.core.sla import Judge
from pipelines.sink_service import BatchingSink
from tests.unit.test_sink_batch import FakeStore

WRITE = 0.05  # seconds each flush takes here
INTERVAL = 0.2


def test_the_wait_after_a_flush_is_the_interval_minus_the_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    sink = BatchingSink(FakeStore(), ThreadPoolExecutor(max_workers=1), batch_rows=10, judge=Judge([]))
    flushes: list[float] = []
    waits: list[float] = []

    async def slow_flush() -> None:
        flushes.append(time.monotonic())
        time.sleep(WRITE)  # blocks the loop like a write that holds it: loop.time() moves on

    async def recorded_sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            raise asyncio.CancelledError

    monkeypatch.setattr(sink, "flush", slow_flush)
    monkeypatch.setattr(sink_service.asyncio, "sleep", recorded_sleep)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(sink.flush_every(INTERVAL))
    assert len(flushes) == 3
    assert all(0 <= wait <= INTERVAL - WRITE for wait in waits), waits


def test_a_flush_longer_than_the_interval_is_followed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    sink = BatchingSink(FakeStore(), ThreadPoolExecutor(max_workers=1), batch_rows=10, judge=Judge([]))
    waits: list[float] = []

    async def slow_flush() -> None:
        time.sleep(WRITE)

    async def recorded_sleep(seconds: float) -> None:
        waits.append(seconds)
        raise asyncio.CancelledError

    monkeypatch.setattr(sink, "flush", slow_flush)
    monkeypatch.setattr(sink_service.asyncio, "sleep", recorded_sleep)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(sink.flush_every(WRITE / 10))
    assert waits == [0.0]
