"""The collector's aiohttp application: routes, a metrics-and-errors middleware, and `serve`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web
from aiohttp_remotes import XForwardedStrict
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pipelines.settings import ConfigError
from services.collector.handlers import post_events
from services.collector.hubspot_route import post_hubspot
from services.collector.kafka import Gate, KafkaGate
from services.collector.metrics import CollectorMetrics
from services.collector.responses import error, json_response
from services.collector.settings import CollectorConfig
from services.collector.state import COLLECTOR, Collector

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SNIPPET: web.AppKey[bytes] = web.AppKey("snippet", bytes)
ERROR_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
UNPROXIED = ("/healthz", "/readyz", "/metrics")  # probes and Prometheus may call the collector directly
LINGER_SECONDS = 2.0  # how long the rest of a refused body is drained before the connection is closed


def snippet_source() -> bytes:
    """Return the website snippet (static/snippet.js) as shipped with the package."""
    return (resources.files("services.collector") / "static" / "snippet.js").read_bytes()


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count and time every request; answer aiohttp's own errors (404, 405, ...) as JSON too."""
    collector = request.app[COLLECTOR]
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    started = time.perf_counter()
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        code = ERROR_CODES.get(exc.status, "http_error")
        response = error(exc.status, code, exc.reason, {k: v for k, v in exc.headers.items() if k == "Allow"})
    collector.metrics.latency.labels(route).observe(time.perf_counter() - started)
    collector.metrics.requests.labels(route, str(response.status)).inc()
    return response


async def healthz(request: web.Request) -> web.Response:
    """Answer 200 while the process serves requests."""
    return json_response(200, {"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Answer 200 only when Kafka answers a metadata request now, else 503."""
    if await request.app[COLLECTOR].gate.check():
        return json_response(200, {"status": "ready", "kafka": "ok"})
    return json_response(503, {"status": "unavailable", "kafka": "unavailable"})


async def metrics_page(request: web.Request) -> web.Response:
    """Serve the Prometheus exposition of the collector's own registry."""
    body = generate_latest(request.app[COLLECTOR].metrics.registry)
    return web.Response(body=body, content_type=CONTENT_TYPE_LATEST.split(";")[0], charset="utf-8")


async def snippet(request: web.Request) -> web.Response:
    """Serve the website snippet."""
    headers = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}
    return web.Response(body=request.app[SNIPPET], content_type="text/javascript", charset="utf-8", headers=headers)


def build_app(
    config: CollectorConfig,
    gate: Gate,
    clock: Callable[[], float] = time.time,
    metrics: CollectorMetrics | None = None,
) -> web.Application:
    """Return the collector application around a way to Kafka (a KafkaGate, or a fake in tests)."""
    # aiohttp's own limit only as a backstop: read_body answers oversize bodies with the collector's JSON
    middlewares: list[Any] = [observe]
    if config.proxies:
        # one proxy hop (e.g. the TLS terminator): only it may connect, and its X-Forwarded-For names the client
        middlewares.append(XForwardedStrict([config.proxies], white_paths=UNPROXIED).middleware)
    app = web.Application(middlewares=middlewares, client_max_size=config.settings.max_body_bytes + 1024)
    app[COLLECTOR] = Collector(config, gate, metrics or CollectorMetrics(), clock)
    app[SNIPPET] = snippet_source()
    app.router.add_post("/v1/events", post_events)
    app.router.add_post("/v1/hubspot", post_hubspot)
    app.router.add_get("/v1/snippet.js", snippet)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)
    return app


async def serve(config: CollectorConfig, ready: Callable[[str], None] = print) -> None:
    """Run the collector until SIGTERM or SIGINT; Kafka may come and go meanwhile."""
    collector_metrics = CollectorMetrics()
    gate = KafkaGate(config.leadflow, config.settings.produce_timeout, collector_metrics.kafka_ready.set)
    # keepalive_timeout also bounds how long a connection may take to send its request line and headers
    runner = web.AppRunner(
        build_app(config, gate, metrics=collector_metrics),
        access_log=None,
        keepalive_timeout=config.settings.read_timeout,
        lingering_time=LINGER_SECONDS,
    )
    await runner.setup()
    host, port = config.settings.host, config.settings.port
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"LEADFLOW_COLLECTOR_PORT: cannot listen on {host}:{port} ({exc.strerror})") from None
    await gate.start()
    ready(f"leadflow collector: listening on http://{host}:{port}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await gate.close()


def run(config: CollectorConfig) -> int:
    """Serve until stopped; returns the exit code."""
    level = config.leadflow.log_level
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("leadflow.collector").setLevel(min(logging.WARNING, logging.getLevelName(level)))
    # aiokafka logs every failed reconnect; the collector says once when Kafka goes and comes back
    logging.getLogger("aiokafka").setLevel(level if level == "DEBUG" else "CRITICAL")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config))
    return 0
