"""The one store API: clickhouse-connect against embedded chDB or a ClickHouse server, or a worker's web port."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from pipelines.settings import Settings
from pipelines.store.exceptions import StoreError, StoreLocked


class Store(Protocol):
    """What leadflow asks of a store."""

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a read query and return its rows."""
        ...

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        """Insert rows into a table."""
        ...

    def close(self) -> None:
        """Release the store."""
        ...


def ddl_statements() -> list[str]:
    """Return every DDL statement of schemas/sql, in file order."""
    statements: list[str] = []
    folder = resources.files("schemas") / "sql"
    for name in sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql")):
        text = (folder / name).read_text(encoding="utf-8")
        body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
        statements.extend(s.strip() for s in body.split(";") if s.strip())
    return statements


class ClickHouseStore:
    """A clickhouse-connect client on chDB or on a server."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def apply_ddl(self) -> None:
        """Create every table and view that does not exist yet."""
        for statement in ddl_statements():
            self._client.command(statement)

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a read query and return its rows."""
        try:
            return [tuple(r) for r in self._client.query(sql, parameters=parameters).result_rows]
        except Exception as exc:
            raise StoreError(f"query failed: {_first_line(exc)}") from exc

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        """Insert rows into a table."""
        if not rows:
            return
        try:
            self._client.insert(table, list(rows), column_names=list(columns))
        except Exception as exc:
            raise StoreError(f"insert into {table} failed: {_first_line(exc)}") from exc

    def close(self) -> None:
        """Close the client."""
        self._client.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def owner_file(path: Path) -> Path:
    """Return the file where the worker holding an embedded store says where it answers queries."""
    return path.with_name(path.name + ".worker.json")


def _live_owner_url(path: Path) -> str | None:
    try:
        owner = json.loads(owner_file(path).read_text(encoding="utf-8"))
        os.kill(int(owner["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(owner["url"])


def open_store(settings: Settings, *, apply_ddl: bool = True, prefer_worker: bool = True) -> Store:
    """Open the configured store; an embedded store held by a running worker is queried through that worker."""
    import clickhouse_connect

    path = settings.chdb_path
    if path is not None:
        url = _live_owner_url(path) if prefer_worker else None
        if url is not None:
            return RemoteStore(url)
        path.mkdir(parents=True, exist_ok=True)
        try:
            store = ClickHouseStore(clickhouse_connect.get_client(interface="chdb", path=str(path)))
        except Exception as exc:
            raise StoreLocked(f"cannot open embedded store {path}: {_first_line(exc)}") from exc
    else:
        scheme, host, port, user, password, database = settings.server()
        try:
            client = clickhouse_connect.get_client(
                host=host,
                port=port,
                username=user,
                password=password.get_secret_value(),
                database=database,
                secure=scheme == "https",
                connect_timeout=5,
            )
        except Exception as exc:
            raise StoreError(f"cannot reach ClickHouse at {scheme}://{host}:{port}: {_first_line(exc)}") from exc
        store = ClickHouseStore(client)
    if apply_ddl:
        store.apply_ddl()
    return store


class RemoteStore:
    """Read queries sent to the worker that holds the embedded store (its /leadflow/query page)."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self._url = url.rstrip("/") + "/leadflow/query"
        self._timeout = timeout

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a read query in the worker's process and return its rows."""
        body = json.dumps({"sql": sql, "parameters": encode_parameters(parameters or {})}).encode()
        request = urllib.request.Request(self._url, body, {"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise StoreError(f"worker refused the query: {exc.read().decode(errors='replace')[:500]}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise StoreError(f"cannot reach the worker at {self._url}: {exc}") from exc
        return [tuple(decode_value(v) for v in row) for row in answer["rows"]]

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        """Refuse: only the worker writes to the store it holds."""
        raise StoreLocked("the embedded store is held by a running worker; stop it to write (e.g. replay)")

    def close(self) -> None:
        """Nothing to release."""


def encode_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """Make query parameters JSON-safe (datetimes as tagged ISO strings)."""
    return {k: {"$dt": v.isoformat()} if isinstance(v, datetime) else v for k, v in parameters.items()}


def decode_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """Undo `encode_parameters`."""
    return {k: decode_value(v) for k, v in parameters.items()}


def encode_value(value: Any) -> Any:
    """Make one result value JSON-safe."""
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, tuple | list):
        return [encode_value(v) for v in value]
    return value


def decode_value(value: Any) -> Any:
    """Undo `encode_value` (lists stay lists)."""
    if isinstance(value, dict) and set(value) == {"$dt"}:
        return datetime.fromisoformat(value["$dt"])
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    return value
