"""Slow clients against the real collector: connections that trickle their headers or body are closed in time."""

from __future__ import annotations

import json
import selectors
import socket
import time
from pathlib import Path

import pytest

from tests.integration.kafka_fixture import LocalKafka
from tests.integration.test_collector_kafka import visit
from tests.security.collector_attacker import SERVER_KEY, call, read_topic, start_collector

pytestmark = pytest.mark.integration

READ_TIMEOUT = 3.0
# the read timeout, then at most 2 s of draining before the close, and room for a busy machine
CLOSED_WITHIN = READ_TIMEOUT + 2 + 10
BODY_HEAD = (
    "POST /v1/events HTTP/1.1\r\nHost: collector\r\n"
    f"Authorization: Bearer {SERVER_KEY}\r\nContent-Type: application/json\r\nContent-Length: 102400\r\n\r\n["
).encode()
HEADERS_ONLY = b"POST /v1/events HTTP/1.1\r\nHost: collector\r\n"


class Trickler:
    """Many connections, each sending its opening bytes and then one byte a second; who was closed, and when."""

    def __init__(self, port: int, openings: list[bytes]) -> None:
        self.selector = selectors.DefaultSelector()
        self.started = time.monotonic()
        self.answers: dict[socket.socket, bytes] = {}
        self.closed: dict[socket.socket, float] = {}
        for opening in openings:
            connection = socket.create_connection(("127.0.0.1", port), timeout=10)
            connection.sendall(opening)
            connection.setblocking(False)
            self.selector.register(connection, selectors.EVENT_READ)
            self.answers[connection] = b""

    def open(self) -> list[socket.socket]:
        """Return the connections the collector has not closed yet."""
        return [c for c in self.answers if c not in self.closed]

    def step(self) -> None:
        """Send one more byte on every open connection, then read answers and closes for about a second."""
        for connection in self.open():
            try:
                connection.send(b" ")
            except OSError:
                self._close(connection)
        until = time.monotonic() + 1
        while time.monotonic() < until:
            for key, _ in self.selector.select(timeout=0.1):
                self._read(key.fileobj)  # type: ignore[arg-type]

    def _read(self, connection: socket.socket) -> None:
        try:
            data = connection.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.answers[connection] += data
        else:
            self._close(connection)

    def _close(self, connection: socket.socket) -> None:
        if connection not in self.closed:
            self.closed[connection] = time.monotonic() - self.started
            self.selector.unregister(connection)
            connection.close()

    def close_all(self) -> None:
        """Close what is still open on our side."""
        for connection in self.open():
            self._close(connection)


def test_500_connections_trickling_a_100_kb_body_are_closed_in_bounded_time(
    kafka: LocalKafka, worker_env: dict[str, str], tmp_path: Path
) -> None:
    settings = {
        "LEADFLOW_COLLECTOR_READ_TIMEOUT": str(READ_TIMEOUT),
        "LEADFLOW_COLLECTOR_RATE_LIMIT": "100000/second",  # the body timeout is under test, not the rate
        "LEADFLOW_COLLECTOR_FAILURE_LIMIT": "100000/second",
    }
    collector = start_collector(worker_env, tmp_path, **settings)
    trickler = Trickler(collector.port, [BODY_HEAD] * 500 + [HEADERS_ONLY] * 20)
    try:
        health: list[float] = []
        while trickler.open() and time.monotonic() - trickler.started < CLOSED_WITHIN + 20:
            trickler.step()
            asked = time.monotonic()
            assert collector.status("/healthz") == 200
            health.append(time.monotonic() - asked)
        still_open = len(trickler.open())
        after = call(
            f"{collector.url}/v1/events",
            json.dumps(visit("after")).encode(),
            {
                "Authorization": f"Bearer {SERVER_KEY}",
                "Content-Type": "application/json",
            },
        )
    finally:
        trickler.close_all()
        collector.stop()
    assert still_open == 0
    slowest = max(trickler.closed.values())
    print(f"520 slow connections: the last closed after {slowest:.1f} s; /healthz answered in ≤ {max(health):.2f} s")
    assert slowest <= CLOSED_WITHIN, slowest
    bodies = [answer for answer in trickler.answers.values() if answer.startswith(b"HTTP/1.1 408")]
    assert len(bodies) == 500 and all(b"body_timeout" in answer for answer in bodies)
    assert after.status == 200  # still serving
    visits = read_topic(kafka, worker_env["LEADFLOW_TOPIC_PREFIX"] + "leadflow.visits", 1)
    assert [json.loads(m.value)["id"] for m in visits] == ["after"]
