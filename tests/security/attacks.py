"""What the attack tests share: a caller of the store pages, a listener that must hear nothing, a canary file that
must never come back, and a fingerprint of leadflow's tables that must not change."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import EllipsisType
from typing import Any

from pipelines.store.client import RemoteStore
from pipelines.store.owner import read_owner

TABLES = (
    "events",
    "lead_snapshots",
    "first_touch_candidates",
    "dead_letters",
    "sla_events",
    "store_runs",
    "owner_teams",
)
CANARY = "canary-5b1d0c9e-never-leaves-this-file"


@dataclass
class Answer:
    """An HTTP answer: status and body (parsed when it is JSON)."""

    status: int
    body: Any
    text: str


def post(url: str, body: Any, token: str | None, timeout: float = 60) -> Answer:
    """POST a JSON body (or raw bytes) with `token` as the bearer; return the answer, whatever its status."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    text = raw.decode(errors="replace")
    try:
        return Answer(status, json.loads(text), text)
    except ValueError:
        return Answer(status, None, text)


def get(url: str, timeout: float = 10) -> tuple[int, str]:
    """GET a page; return (status, body)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


@dataclass
class Pages:
    """The store pages of a process that holds an embedded store, with its token (read from its owner file)."""

    url: str
    token: str
    path: Path

    @classmethod
    def of(cls, path: Path) -> Pages:
        """Return the pages the owner file of `path` names."""
        owner = read_owner(path)
        assert owner is not None and owner.token is not None, f"no owner names itself for {path}"
        return cls(owner.url, owner.token, path)

    def query(self, sql: str, token: str | EllipsisType | None = ..., **request: Any) -> Answer:
        """POST to /leadflow/query (with the store's token unless another, or None, is given)."""
        return post(self.url + "/leadflow/query", {"sql": sql, **request}, self._bearer(token))

    def insert(self, request: Any, token: str | EllipsisType | None = ...) -> Answer:
        """POST to /leadflow/insert (with the store's token unless another, or None, is given)."""
        return post(self.url + "/leadflow/insert", request, self._bearer(token))

    def _bearer(self, token: str | EllipsisType | None) -> str | None:
        return self.token if token is ... else token

    def store(self) -> RemoteStore:
        """Return leadflow's own client of these pages."""
        return RemoteStore(self.url, self.token, timeout=60)

    def fingerprint(self) -> dict[str, tuple[int, int]]:
        """Return (rows, hash of every row) per leadflow table: any insert or change shows."""
        sql = " UNION ALL ".join(f"SELECT '{t}', count(), sum(cityHash64(*)) FROM {t}" for t in TABLES)
        return {str(t): (int(n), int(h)) for t, n, h in self.store().query(sql)}


@dataclass
class Listener:
    """A TCP listener on loopback that records every connection: an attack that sends a request out shows here."""

    heard: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)
        self.port = int(self._socket.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        """Return host:port."""
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(1.0)
                try:
                    self.heard.append(connection.recv(4096) or b"(connected)")
                except OSError:
                    self.heard.append(b"(connected)")

    def close(self) -> None:
        """Stop listening."""
        self._socket.close()


def one_line(text: str) -> bool:
    """Say whether an error output is one line, without a traceback."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return len(lines) == 1 and "Traceback" not in text


def long_read(pages: Pages, answers: list[Answer]) -> threading.Thread:
    """Start a read that would take hours (the service's time limit is an hour here); a dropped connection is
    answered as status 0."""

    def read() -> None:
        try:
            answers.append(pages.query("SELECT count() FROM numbers(1e13)"))
        except OSError as exc:
            answers.append(Answer(0, None, repr(exc)))

    reading = threading.Thread(target=read)
    reading.start()
    time.sleep(1.5)
    assert answers == [], "the read should still run"
    return reading
