"""RemoteStore: the store of another process (a `leadflow store serve` or a worker), reached over its web port."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipelines.store.exceptions import StoreError, StoreRejected, StoreUnavailable
from pipelines.store.owner import live_owner
from pipelines.store.wire import decode_value, encode_parameters, insert_bodies

QUERY_PAGE = "/leadflow/query"
INSERT_PAGE = "/leadflow/insert"
# aiohttp's default request limit is 1 MiB (a worker's web server keeps it); a batch larger than this is split
MAX_INSERT_BYTES = 1_000_000


class _Unreachable(Exception):
    """The owner did not answer (refused, reset, timed out)."""


class RemoteStore:
    """Queries and inserts sent to the process that holds an embedded store.

    With `owner_of` (the embedded store's path), a connection error makes it read the owner file again, since a
    restarted owner may answer at another address. When no owner answers, it raises StoreUnavailable: the sink
    retries with back-off, so a store outage holds events back and loses none.
    """

    def __init__(self, url: str, timeout: float = 60.0, *, owner_of: Path | None = None) -> None:
        self.url = url.rstrip("/")
        self._timeout = timeout
        self._owner_of = owner_of

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a read query in the owner's process and return its rows."""
        body = json.dumps({"sql": sql, "parameters": encode_parameters(parameters or {})}).encode()
        answer = self._post(QUERY_PAGE, body, "query")
        try:
            return [tuple(decode_value(v) for v in row) for row in answer["rows"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"unreadable answer from {self.url}: {exc}") from exc

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        """Insert rows through the owner, in requests of at most MAX_INSERT_BYTES."""
        for body in insert_bodies(table, columns, rows, MAX_INSERT_BYTES):
            self._post(INSERT_PAGE, body, f"insert into {table}")

    def close(self) -> None:
        """Nothing to release."""

    def _post(self, page: str, body: bytes, what: str) -> Any:
        try:
            return self._send(page, body, what)
        except _Unreachable as exc:
            first = exc
        moved = self._owner_url()
        if moved is None or moved == self.url:
            orphaned = f"; no live process holds {self._owner_of}" if self._owner_of and moved is None else ""
            raise StoreUnavailable(f"{what}: the store at {self.url} does not answer ({first}){orphaned}")
        self.url = moved
        try:
            return self._send(page, body, what)
        except _Unreachable as exc:
            raise StoreUnavailable(f"{what}: the store at {self.url} does not answer ({exc})") from None

    def _owner_url(self) -> str | None:
        if self._owner_of is None:
            return None
        owner = live_owner(self._owner_of)
        return None if owner is None else owner.url.rstrip("/")

    def _send(self, page: str, body: bytes, what: str) -> Any:
        request = urllib.request.Request(self.url + page, body, {"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            # rows the owner refuses (a bad request, or rows its store rejects) are refused again if sent again
            rejected = page == INSERT_PAGE and exc.code in (400, 422)
            kind = StoreRejected if rejected else StoreError
            raise kind(f"{what}: the store at {self.url} refused it: {_reason(exc)}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise _Unreachable(str(getattr(exc, "reason", exc)) or type(exc).__name__) from None
        except ValueError as exc:
            raise StoreError(f"{what}: unreadable answer from {self.url}: {exc}") from None


def _reason(error: urllib.error.HTTPError) -> str:
    """Return the `error` of a JSON error answer, else the start of the body."""
    text = error.read().decode(errors="replace")
    try:
        return str(json.loads(text)["error"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {error.code}: {text[:500]}"
