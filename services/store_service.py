"""`leadflow store serve`: one process holds the embedded store; workers, reports and boards use it over HTTP.

chDB allows one process per data path. This service opens it, applies the DDL, answers `/leadflow/query` and
`/leadflow/insert` (pipelines/store/protocol.py, the same pages a worker holding the store serves), and names
itself in the owner file until it stops, so any number of workers can share the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aiohttp import web

from pipelines.settings import ConfigError, Settings
from pipelines.store.client import Store, open_store
from pipelines.store.owner import STORE_SERVICE, remove_owner, write_owner
from pipelines.store.protocol import Answer, answer_insert, answer_query
from pipelines.store.remote import INSERT_PAGE, QUERY_PAGE
from services.errors import UsageError

MAX_REQUEST_BYTES = 256 * 1024 * 1024  # RemoteStore splits its batches far below this; other clients need not
Page = Callable[[Store, bytes], Answer]


def _handler(
    store: Store, executor: ThreadPoolExecutor, page: Page
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        done = await asyncio.get_running_loop().run_in_executor(executor, page, store, body)
        return web.json_response(done.body, status=done.status)

    return handle


def build_app(store: Store, executor: ThreadPoolExecutor) -> web.Application:
    """Return the service's application around the store it holds."""
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app.router.add_post(QUERY_PAGE, _handler(store, executor, answer_query))
    app.router.add_post(INSERT_PAGE, _handler(store, executor, answer_insert))
    return app


async def _listen(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"LEADFLOW_WEB_PORT: cannot listen on {host}:{port} ({exc.strerror})") from None
    return runner


async def serve(
    settings: Settings, path: Path, store: Store, executor: ThreadPoolExecutor, ready: Callable[[str], None]
) -> None:
    """Answer store requests until SIGTERM or SIGINT, named in the owner file meanwhile."""
    host, port = settings.web_host, settings.web_port
    runner = await _listen(build_app(store, executor), host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        write_owner(path, f"http://{host}:{port}", STORE_SERVICE)
        ready(f"leadflow store: serving chdb:{path} on http://{host}:{port} (PID {os.getpid()})")
        await stop.wait()
    finally:
        remove_owner(path)
        await runner.cleanup()


def run_store_service(settings: Settings) -> int:
    """Hold the embedded store and serve it until stopped; returns the exit code."""
    path = settings.chdb_path
    if path is None:
        raise UsageError("LEADFLOW_STORE is a ClickHouse server, which every process reaches itself; nothing to serve")
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    store = open_store(settings, exclusive=True)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadflow-store")
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(settings, path, store, executor, lambda line: print(line, flush=True)))
    finally:
        executor.shutdown(wait=True)
        store.close()
    return 0
