"""The worker's checkpoint commits on a steady cadence: a commit's own time counts toward the next interval."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pipelines import checkpoint as checkpoint_module
from pipelines.checkpoint import Checkpoint
from pipelines.core.sla import Judge
from pipelines.sink_service import StoreWriter
from tests.unit.test_sink_batch import FakeStore

WRITE = 0.05  # seconds each flush takes here
INTERVAL = 0.2


def test_the_wait_after_a_flush_is_the_interval_minus_the_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    sink = Checkpoint(StoreWriter(FakeStore(), ThreadPoolExecutor(max_workers=1)), 10, Judge([]), 900_000)
    flushes: list[float] = []
    waits: list[float] = []

    async def slow_flush() -> None:
        flushes.append(time.monotonic())
        time.sleep(WRITE)  # blocks the loop like a write that holds it: loop.time() moves on

    async def recorded_sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            raise asyncio.CancelledError

    monkeypatch.setattr(sink, "commit", slow_flush)
    monkeypatch.setattr(checkpoint_module.asyncio, "sleep", recorded_sleep)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(sink.commit_every(INTERVAL))
    assert len(flushes) == 3
    assert all(0 <= wait <= INTERVAL - WRITE for wait in waits), waits


def test_a_flush_longer_than_the_interval_is_followed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    sink = Checkpoint(StoreWriter(FakeStore(), ThreadPoolExecutor(max_workers=1)), 10, Judge([]), 900_000)
    waits: list[float] = []

    async def slow_flush() -> None:
        time.sleep(WRITE)

    async def recorded_sleep(seconds: float) -> None:
        waits.append(seconds)
        raise asyncio.CancelledError

    monkeypatch.setattr(sink, "commit", slow_flush)
    monkeypatch.setattr(checkpoint_module.asyncio, "sleep", recorded_sleep)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(sink.commit_every(WRITE / 10))
    assert waits == [0.0]
