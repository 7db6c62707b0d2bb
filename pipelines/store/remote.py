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


class _TokenRefused(Exception):
    """The owner answered 401: it holds the store with another token (it may have restarted)."""


class RemoteStore:
    """Queries and inserts sent, with the store's token, to the process that holds an embedded store.

    With `owner_of` (the embedded store's path), an owner that does not answer or refuses the token makes it read
    the owner file again, since a restarted owner may answer at another address, with another token. When no
    owner answers, it raises StoreUnavailable: the sink retries with back-off, so a store outage holds events back
    and loses none.
    """

    def __init__(self, url: str, token: str, timeout: float = 60.0, *, owner_of: Path | None = None) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._owner_of = owner_of

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a read query in the owner's process and return its rows."""
        return self._read(sql, parameters, describe=False)

    def describe(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Return the (name, type) of each column a read query would answer."""
        return self._read(sql, parameters, describe=True)

    def _read(self, sql: str, parameters: dict[str, Any] | None, *, describe: bool) -> list[tuple[Any, ...]]:
        request = {"sql": sql, "parameters": encode_parameters(parameters or {}), "describe": describe}
        answer = self._post(QUERY_PAGE, json.dumps(request).encode(), "query")
        rows = answer.get("rows")
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise StoreError(f"query: {self.url} did not answer as a leadflow store (no rows in its answer)")
        try:
            return [tuple(decode_value(v) for v in row) for row in rows]
        except (TypeError, ValueError) as exc:
            raise StoreError(f"query: unreadable answer from {self.url}: {exc}") from None

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        """Insert rows through the owner, in requests of at most MAX_INSERT_BYTES."""
        for body in insert_bodies(table, columns, rows, MAX_INSERT_BYTES):
            answer = self._post(INSERT_PAGE, body, f"insert into {table}")
            if not isinstance(answer.get("inserted"), int):
                raise StoreError(f"insert into {table}: {self.url} did not answer as a leadflow store")

    def close(self) -> None:
        """Nothing to release."""

    def _post(self, page: str, body: bytes, what: str) -> dict[str, Any]:
        try:
            return self._send(page, body, what)
        except (_Unreachable, _TokenRefused) as exc:
            first = exc
        moved = self._owner_address()
        if moved is None or moved == (self.url, self._token):
            raise _failure(what, self.url, first, self._owner_of if moved is None else None) from None
        self.url, self._token = moved
        try:
            return self._send(page, body, what)
        except (_Unreachable, _TokenRefused) as exc:
            raise _failure(what, self.url, exc, None) from None

    def _owner_address(self) -> tuple[str, str] | None:
        """Return the (url, token) the owner file names now, or None without a live owner."""
        if self._owner_of is None:
            return None
        owner = live_owner(self._owner_of)
        if owner is None:
            return None
        return owner.url.rstrip("/"), owner.token or self._token

    def _send(self, page: str, body: bytes, what: str) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self._token}"}
        request = urllib.request.Request(self.url + page, body, headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                raise _TokenRefused(_reason(exc)) from None
            # rows the owner refuses (a bad request, or rows its store rejects) are refused again if sent again
            rejected = page == INSERT_PAGE and exc.code in (400, 422)
            kind = StoreRejected if rejected else StoreError
            raise kind(f"{what}: the store at {self.url} refused it: {_reason(exc)}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise _Unreachable(str(getattr(exc, "reason", exc)) or type(exc).__name__) from None
        except ValueError as exc:
            raise StoreError(f"{what}: unreadable answer from {self.url}: {exc}") from None
        if not isinstance(answer, dict):
            raise StoreError(f"{what}: {self.url} did not answer as a leadflow store")
        return answer


def _failure(what: str, url: str, cause: Exception, orphaned: Path | None) -> StoreError:
    """Return the error of a request no owner took: an outage (retry later), or a token the store refuses."""
    if isinstance(cause, _TokenRefused):
        return StoreError(f"{what}: the store at {url} refused this process's token ({cause})")
    held = f"; no live process holds {orphaned}" if orphaned else ""
    return StoreUnavailable(f"{what}: the store at {url} does not answer ({cause}){held}")


def _reason(error: urllib.error.HTTPError) -> str:
    """Return the `error` of a JSON error answer, else the start of the body."""
    text = error.read().decode(errors="replace")
    try:
        return str(json.loads(text)["error"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {error.code}: {text[:500]}"
