"""The worker's sink: batches rows by size or time, writes them off the event loop, then acks their events.

Offsets are committed only for acked events, and events are acked only after their rows are in the store,
so a crash re-delivers what was not written; rows are idempotent, so re-delivery never counts twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pipelines import metrics
from pipelines.core.sla import Judge
from pipelines.poison import SetAside, from_rejected_row
from pipelines.sink import RejectedRow, RowBatch
from pipelines.store.client import Store
from pipelines.store.exceptions import StoreError, StoreRejected

log = logging.getLogger(__name__)

Ack = Callable[[], Awaitable[Any]]
MAX_BACKOFF = 30.0


class BatchingSink:
    """Rows gathered from the agents, written when `batch_rows` are waiting or every interval."""

    def __init__(self, store: Store, executor: ThreadPoolExecutor, batch_rows: int, judge: Judge) -> None:
        self._judge = judge
        self._store = store
        self._executor = executor
        self._batch_rows = batch_rows
        self._batch = RowBatch(judge)
        self._acks: list[Ack] = []
        self._lock = asyncio.Lock()
        self.set_aside: SetAside | None = None  # where rows the store rejects go (the worker's dead-letter topic)

    @property
    def batch(self) -> RowBatch:
        """Return the batch that rows are added to now."""
        return self._batch

    async def added(self, ack: Ack) -> None:
        """Register an event whose rows were added; write the batch once it is full (back-pressure)."""
        self._acks.append(ack)
        metrics.SINK_PENDING.set(len(self._batch))
        if len(self._batch) >= self._batch_rows:
            await self.flush()

    async def flush(self) -> None:
        """Write the current batch, retrying with back-off until the store takes it, then ack its events."""
        async with self._lock:
            batch, acks = self._batch, self._acks
            if not acks and not len(batch):
                return
            self._batch, self._acks = RowBatch(self._judge), []
            await self._write(batch)
            for ack in acks:
                await ack()
            metrics.SINK_PENDING.set(len(self._batch))

    async def flush_every(self, interval: float) -> None:
        """Flush on a steady cadence until cancelled: the time a write takes counts toward the next interval.

        Waiting a whole interval after each write would stretch the period by the write time, and rows would
        wait that much longer before they are in the store.
        """
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await self.flush()
            await asyncio.sleep(max(0.0, interval - (loop.time() - started)))

    async def _write(self, batch: RowBatch) -> None:
        """Write a batch, waiting out an outage; rows the store rejects are set aside and the rest written."""
        backoff = 0.5
        sorting_out = False
        while True:
            started = time.perf_counter()
            try:
                written = await self._attempt(batch, sorting_out)
            except StoreRejected as exc:
                log.warning("the store rejects rows of a batch, setting them aside: %s", exc)
                sorting_out = True  # the rows it takes are written again on the way: they are idempotent
                continue
            except StoreError as exc:
                metrics.SINK_ERRORS.inc()
                log.warning("store write failed, retrying in %.1fs: %s", backoff, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            metrics.SINK_SECONDS.observe(time.perf_counter() - started)
            metrics.SINK_BATCHES.inc()
            for table, rows in written.items():
                metrics.SINK_ROWS.labels(table).inc(rows)
            return

    async def _attempt(self, batch: RowBatch, sorting_out: bool) -> dict[str, int]:
        loop = asyncio.get_running_loop()
        if not sorting_out:
            return await loop.run_in_executor(self._executor, batch.write, self._store)
        written, rejected = await loop.run_in_executor(self._executor, batch.write_sorting_out, self._store)
        for row in rejected:
            await self._set_aside_row(row)
        return written

    async def _set_aside_row(self, row: RejectedRow) -> None:
        """Set aside a rejected row; a rejected dead letter goes to the topic only, never back to the store."""
        if self.set_aside is None:
            raise StoreRejected(f"no place to set aside a rejected row of {row.table}: {row.reason}")
        await self.set_aside(from_rejected_row(row), row.table != "dead_letters")
