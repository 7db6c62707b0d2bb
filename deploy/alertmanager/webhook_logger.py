"""A webhook receiver for Alertmanager that logs every notification as one JSON line (stdlib only).

It stands in for Slack, e-mail or an incident tool in `docker compose up` and in the end-to-end alerting test:
`python webhook_logger.py --port 8080 [--out notifications.jsonl]`. Each line is
`{"path": "/sla", "received_at": ..., "notification": <Alertmanager's webhook payload>}`.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

LOCK = threading.Lock()


def make_handler(out: Path | None) -> type[BaseHTTPRequestHandler]:
    """Return a request handler that logs POSTed notifications to stdout and to `out`."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            try:
                payload: Any = json.loads(body)
            except ValueError:
                self.send_response(400)
                self.end_headers()
                return
            line = json.dumps(
                {"path": self.path, "received_at": datetime.now(UTC).isoformat(), "notification": payload},
                sort_keys=True,
            )
            with LOCK:
                print(line, flush=True)
                if out is not None:
                    with out.open("a", encoding="utf-8") as handle:
                        handle.write(line + "\n")
            self.send_response(200)
            self.end_headers()

        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok\n")

        def log_message(self, format: str, *args: Any) -> None:
            return  # the JSON lines are the log

    return Handler


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--out", type=Path, help="also append each notification to this file")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(args.out))
    print(f"webhook logger on {args.host}:{args.port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
