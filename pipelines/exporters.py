"""What the small Prometheus exporters beside the workers share: their flags and serving /metrics until stopped."""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.registry import Collector


def add_listen_flags(parser: argparse.ArgumentParser, default_port: int) -> None:
    """Add --host and --port, the address of /metrics."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, default=default_port, help=f"port of /metrics (default {default_port})")


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(collector: Collector, host: str, port: int, banner: str) -> int:
    """Serve one collector's metrics on host:port until SIGTERM or Ctrl-C, after printing `banner`."""
    registry = CollectorRegistry()
    registry.register(collector)
    signal.signal(signal.SIGTERM, _stop)
    server, _ = start_http_server(port, host, registry=registry)
    print(f"{banner}, /metrics on {host}:{port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return 0
