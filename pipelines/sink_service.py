"""The worker's store writer: a batch of rows written off the event loop, an outage waited out, rejected rows found.

A checkpoint (pipelines/checkpoint.py) hands it the rows of the events taken since the last one and acks those
events only once it returns, so a crash re-delivers what was not written; rows are idempotent, so re-delivery
never counts twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from pipelines import metrics
from pipelines.sink import RejectedRow, RowBatch
from pipelines.store.client import Store
from pipelines.store.exceptions import StoreError, StoreRejected

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0


class StoreWriter:
    """Writes row batches to the store on its own thread."""

    def __init__(self, store: Store, executor: ThreadPoolExecutor) -> None:
        self._store = store
        self._executor = executor

    async def write(self, batch: RowBatch) -> list[RejectedRow]:
        """Write a batch, retrying with back-off while the store is away; return the rows it rejects.

        A batch with rows the store rejects is written again in halves until those rows are found: the rows it
        takes are written again on the way, which their idempotency keys make harmless.
        """
        backoff = 0.5
        sorting_out = False
        while True:
            started = time.perf_counter()
            try:
                written, rejected = await self._attempt(batch, sorting_out)
            except StoreRejected as exc:
                log.warning("the store rejects rows of a batch, setting them aside: %s", exc)
                sorting_out = True
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
            return rejected

    async def _attempt(self, batch: RowBatch, sorting_out: bool) -> tuple[dict[str, int], list[RejectedRow]]:
        loop = asyncio.get_running_loop()
        if not sorting_out:
            return await loop.run_in_executor(self._executor, batch.write, self._store), []
        return await loop.run_in_executor(self._executor, batch.write_sorting_out, self._store)
