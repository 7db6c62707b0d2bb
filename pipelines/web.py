"""The worker's web pages: health and Prometheus metrics, and the store pages when the worker holds the store.

Faust's own pages (`/router`, `/table`, `/graph`, statistics) are off (faust_app.py): they show the cluster's
layout and read table keys for anyone who asks. `/` is Faust's plain status page, `{"status": "OK"}`, the health
check. A worker that holds an embedded store serves `/leadflow/query` and `/leadflow/insert` to callers that show
the store's token, so that other workers can write through it (see the README on `leadflow store serve`, the
better way); a worker that uses another process's store or a ClickHouse server serves no store page at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pipelines.metrics import REGISTRY
from pipelines.store.protocol import UNAUTHORIZED, Answer, StorePages
from pipelines.store.remote import INSERT_PAGE, QUERY_PAGE

QUERY_THREADS = 2  # reads at once, apart from the writes' thread: a long read never holds a write back


@dataclass(frozen=True)
class HeldStore:
    """The store pages of a worker that holds the embedded store, and the threads of its reads and writes."""

    pages: StorePages
    queries: ThreadPoolExecutor
    writes: ThreadPoolExecutor  # the sink's own: inserts through the page queue behind the sink's writes

    @classmethod
    def serving(cls, pages: StorePages, writes: ThreadPoolExecutor) -> HeldStore:
        """Return the held store with a pool of its own for reads."""
        return cls(pages, ThreadPoolExecutor(max_workers=QUERY_THREADS, thread_name_prefix="leadflow-read"), writes)

    def cancel(self) -> None:
        """Cancel the reads under way (the worker is stopping)."""
        cancel = getattr(self.pages.store, "cancel_queries", None)
        if cancel is not None:
            cancel()

    def close(self) -> None:
        """Wait for the read threads (cancelled reads end at once)."""
        self.queries.shutdown(wait=True, cancel_futures=True)


def register_pages(app: faust.App, held: HeldStore | None) -> None:
    """Add /metrics, and the store pages when this worker holds the store."""

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    if held is not None:
        _register_store_pages(app, held)


def _register_store_pages(app: faust.App, held: HeldStore) -> None:
    async def answer(request: Request, executor: ThreadPoolExecutor, page: Callable[[bytes], Answer]) -> Answer:
        if not held.pages.authorized(request.headers.get("Authorization")):
            return UNAUTHORIZED  # refused before its body is read
        body = await request.read()
        return await asyncio.get_running_loop().run_in_executor(executor, page, body)

    @app.page(QUERY_PAGE)
    class Query(View):
        async def post(self, request: Request) -> Response:
            done = await answer(request, held.queries, held.pages.query)
            return self.json(done.body, status=done.status, headers=done.headers)

    @app.page(INSERT_PAGE)
    class Insert(View):
        async def post(self, request: Request) -> Response:
            done = await answer(request, held.writes, held.pages.insert)
            return self.json(done.body, status=done.status, headers=done.headers)

    async def cancel_reads(_web_app: Any) -> None:
        held.cancel()  # the server then waits for the pages under way: a cancelled read ends at once

    # aiohttp runs on_shutdown before it waits for the requests under way
    getattr(app.web, "web_app").on_shutdown.append(cancel_reads)  # noqa: B009 - the aiohttp driver's, untyped
