"""`leadflow store serve`: one process holds the embedded store; workers, reports and boards use it over HTTP.

chDB allows one process per data path. This service opens it, applies the DDL, answers `/leadflow/query` and
`/leadflow/insert` (pipelines/store/protocol.py, the same pages a worker holding the store serves) to callers that
show its token, and names itself and that token in the owner file until it stops, so any number of workers can
share the store. Queries and inserts run on executors of their own, so a long read never holds a write back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from pipelines.heap import settle_heap
from pipelines.settings import ConfigError, Settings
from pipelines.store.client import ClickHouseStore, hold_store
from pipelines.store.owner import STORE_SERVICE, holder_token, remove_owner, write_owner
from pipelines.store.protocol import UNAUTHORIZED, Answer, StorePages
from pipelines.store.remote import INSERT_PAGE, QUERY_PAGE
from services.errors import UsageError

MAX_REQUEST_BYTES = 256 * 1024 * 1024  # RemoteStore splits its batches far below this; other clients need not
QUERY_THREADS = 2  # reads at once; each has a read-only session of its own
STOP_GRACE = 8.0  # seconds from SIGTERM until the process exits even if a read ignores its cancellation
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Executors:
    """Threads of the store work: reads apart from writes, so that reads never starve inserts."""

    queries: ThreadPoolExecutor
    inserts: ThreadPoolExecutor

    @classmethod
    def start(cls) -> Executors:
        """Start both pools."""
        queries = ThreadPoolExecutor(max_workers=QUERY_THREADS, thread_name_prefix="leadflow-read")
        return cls(queries, ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadflow-write"))

    def shutdown(self) -> None:
        """Wait for the work under way (cancelled reads end at once)."""
        self.queries.shutdown(wait=True, cancel_futures=True)
        self.inserts.shutdown(wait=True)


def page_handler(
    pages: StorePages, executor: ThreadPoolExecutor, page: Callable[[bytes], Answer]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Return an aiohttp handler that checks the token, then reads the body and answers off the event loop."""

    async def handle(request: web.Request) -> web.Response:
        done = UNAUTHORIZED
        if pages.authorized(request.headers.get("Authorization")):
            body = await request.read()
            done = await asyncio.get_running_loop().run_in_executor(executor, page, body)
        return web.json_response(done.body, status=done.status, headers=done.headers)

    return handle


def build_app(pages: StorePages, executors: Executors) -> web.Application:
    """Return the service's application around the store it holds."""
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app.router.add_post(QUERY_PAGE, page_handler(pages, executors.queries, pages.query))
    app.router.add_post(INSERT_PAGE, page_handler(pages, executors.inserts, pages.insert))
    return app


async def _listen(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"LEADFLOW_WEB_PORT: cannot listen on {host}:{port} ({exc.strerror})") from None
    return runner


async def serve(
    settings: Settings,
    path: Path,
    store: ClickHouseStore,
    executors: Executors,
    ready: Callable[[str], None],
    stopping: Callable[[], None] = lambda: None,
) -> None:
    """Answer store requests until SIGTERM or SIGINT, named in the owner file meanwhile.

    When told to stop, `stopping` is called first, then the reads under way are cancelled.
    """
    host, port = settings.web_host, settings.web_port
    token, owner_token = holder_token(settings.store_token)
    runner = await _listen(build_app(StorePages(store, token, store.insert_schema()), executors), host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        write_owner(path, f"http://{host}:{port}", STORE_SERVICE, owner_token)
        ready(f"leadflow store: serving chdb:{path} on http://{host}:{port} (PID {os.getpid()})")
        await stop.wait()
    finally:
        stopping()
        remove_owner(path)
        store.cancel_queries()
        await runner.cleanup()


def _deadline(seconds: float) -> threading.Timer:
    """Return a timer that ends the process `seconds` after it starts, should a read ignore its cancellation.

    chDB releases the store's lock with the process, so the path can be opened again at once either way.
    """

    def exit_now() -> None:
        log.error("leadflow store: still stopping after %.0f s; exiting", seconds)
        os._exit(1)

    timer = threading.Timer(seconds, exit_now)
    timer.daemon = True
    return timer


def run_store_service(settings: Settings) -> int:
    """Hold the embedded store and serve it until stopped; returns the exit code."""
    path = settings.chdb_path
    if path is None:
        raise UsageError("LEADFLOW_STORE is a ClickHouse server, which every process reaches itself; nothing to serve")
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    store = hold_store(settings, path)
    executors = Executors.start()
    deadline = _deadline(STOP_GRACE)
    settle_heap()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(settings, path, store, executors, lambda line: print(line, flush=True), deadline.start))
    finally:
        executors.shutdown()
        store.close()
        deadline.cancel()
    return 0
