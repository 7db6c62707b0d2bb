"""The worker's web pages: Prometheus metrics, and queries and inserts on the store it uses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pipelines.metrics import REGISTRY
from pipelines.store.client import Store
from pipelines.store.protocol import Answer, answer_insert, answer_query
from pipelines.store.remote import INSERT_PAGE, QUERY_PAGE


def register_pages(app: faust.App, store: Store, executor: ThreadPoolExecutor) -> None:
    """Add /metrics, /leadflow/query and /leadflow/insert to the worker's web server.

    A worker that holds an embedded store thereby lets other workers write through it (see the README on
    `leadflow store serve`, the better way); a worker that uses another process's store passes requests on.
    """

    async def answer(request: Request, page: Callable[[Store, bytes], Answer]) -> Answer:
        body = await request.read()
        return await asyncio.get_running_loop().run_in_executor(executor, page, store, body)

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page(QUERY_PAGE)
    class Query(View):
        async def post(self, request: Request) -> Response:
            done = await answer(request, answer_query)
            return self.json(done.body, status=done.status)

    @app.page(INSERT_PAGE)
    class Insert(View):
        async def post(self, request: Request) -> Response:
            done = await answer(request, answer_insert)
            return self.json(done.body, status=done.status)
