"""The one store API: clickhouse-connect against embedded chDB or a ClickHouse server, or the process holding chDB."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from pipelines.settings import Settings
from pipelines.store.columns import InsertSchema, load_schema
from pipelines.store.exceptions import StoreError, StoreLocked, StoreRejected
from pipelines.store.owner import Owner, live_owner, owner_file
from pipelines.store.reader import QueryLimits, Reader, first_line
from pipelines.store.remote import RemoteStore

__all__ = ["ClickHouseStore", "RemoteStore", "Store", "ddl_statements", "hold_store", "open_store", "owner_file"]


class Store(Protocol):
    """What leadflow asks of a store."""

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a read query and return its rows."""
        ...

    def describe(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Return the (name, type) of each column a read query would answer."""
        ...

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        """Insert rows into a table."""
        ...

    def close(self) -> None:
        """Release the store."""
        ...


# Tables that a materialized view fills from another table: a store created before one of them existed gets it
# filled once, from its source, when the DDL creates it (a store from before `events_by_time` keeps its history
# on the dashboards that read it)
DERIVED_TABLES: dict[str, str] = {
    "events_by_time": "events_by_time_mv",
    "lead_first_touches": "lead_first_touches_mv",
    "visitor_months": "visitor_months_mv",
}


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
    """A clickhouse-connect client on chDB or on a server.

    The client writes and applies the DDL; reads go through a Reader (read-only sessions with limits), by default
    one beside an embedded client, with the default limits.
    """

    def __init__(self, client: Any, reader: Reader | None = None) -> None:
        self._client = client
        self._reader = reader or embedded_reader(client, QueryLimits())

    def apply_ddl(self) -> None:
        """Create every table and view that does not exist yet; fill a new derived table from what is stored."""
        existing = self.table_names()
        for statement in ddl_statements():
            self._client.command(statement)
        for table, view in DERIVED_TABLES.items():
            if existing and table not in existing:
                self._fill_from_view(table, view)
        self._reader.tables_changed()

    def table_names(self) -> set[str]:
        """Return the names of the tables and views in the store's database."""
        rows = self._client.query("SELECT name FROM system.tables WHERE database = currentDatabase()").result_rows
        return {row[0] for row in rows}

    def _fill_from_view(self, table: str, view: str) -> None:
        """Fill a table its materialized view would have filled, had it existed when the rows came."""
        rows = self._client.query(
            "SELECT as_select FROM system.tables WHERE database = currentDatabase() AND name = {view:String}",
            parameters={"view": view},
        ).result_rows
        self._client.command(f"INSERT INTO {table} {rows[0][0]}")

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a read query in a read-only session and return its rows."""
        return self._reader.query(sql, parameters)

    def describe(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Return the (name, type) of each column a read query would answer."""
        return self._reader.describe(sql, parameters)

    def cancel_queries(self) -> None:
        """Cancel the reads that still run (the process is stopping)."""
        self._reader.cancel()

    def insert_schema(self) -> InsertSchema:
        """Return the declared types of the columns leadflow writes."""
        return load_schema(self._client)

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        """Insert rows into a table."""
        if not rows:
            return
        try:
            self._client.insert(table, list(rows), column_names=list(columns))
        except Exception as exc:
            kind = StoreRejected if rejects_rows(exc) else StoreError
            raise kind(f"insert into {table} failed: {first_line(exc)}") from exc

    def close(self) -> None:
        """Close the reader's sessions and the client."""
        self._reader.close()
        self._client.close()


# ClickHouse's error codes for a value it will never take: parse, type and range errors, a violated constraint
REJECTED_CODES = frozenset({6, 26, 27, 38, 41, 53, 69, 70, 72, 117, 128, 131, 321, 469})


def rejects_rows(exc: BaseException) -> bool:
    """Say whether an insert failed on its rows (a value the client cannot encode, or the server refuses)."""
    from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError

    if isinstance(exc, DataError | ValueError | TypeError | OverflowError):
        return True
    return isinstance(exc, DatabaseError) and not isinstance(exc, OperationalError) and exc.code in REJECTED_CODES


def embedded_reader(client: Any, limits: QueryLimits) -> Reader:
    """Return the reader of an embedded (chDB) client: sessions on its path and database, each query parsed."""
    import clickhouse_connect

    def connect(settings: dict[str, Any]) -> Any:
        path, database = client.path, client.database
        return clickhouse_connect.get_client(interface="chdb", path=path, database=database, settings=settings)

    return Reader(connect, client, limits, parse=True)


def open_store(settings: Settings, *, apply_ddl: bool = True, exclusive: bool = False) -> Store:
    """Open the configured store; an embedded store held by a live process is used through that process.

    With `exclusive`, this process must hold an embedded store itself: StoreLocked names the live holder.
    """
    path = settings.chdb_path
    if path is None:
        store = _open_server(settings)
    else:
        owner = live_owner(path)
        if owner is not None and exclusive:
            raise _held(path, owner)
        if owner is not None:
            return RemoteStore(owner.url, _token_for(owner, settings), owner_of=path)
        store = _open_embedded(path, QueryLimits.of(settings))
    if apply_ddl:
        store.apply_ddl()
    return store


def reach_store(settings: Settings) -> Store:
    """Open the configured store without ever holding an embedded one: through its live holder, or StoreError."""
    path = settings.chdb_path
    if path is None:
        return _open_server(settings)
    owner = live_owner(path)
    if owner is None:
        raise StoreError(f"no process holds the embedded store {path} (a worker or `leadflow store serve`)")
    return RemoteStore(owner.url, _token_for(owner, settings), owner_of=path)


def hold_store(settings: Settings, path: Path) -> ClickHouseStore:
    """Open the embedded store at `path` for this process alone (StoreLocked names a live holder), DDL applied."""
    owner = live_owner(path)
    if owner is not None:
        raise _held(path, owner)
    store = _open_embedded(path, QueryLimits.of(settings))
    store.apply_ddl()
    return store


def _held(path: Path, owner: Owner) -> StoreLocked:
    return StoreLocked(
        f"the embedded store {path} is held by {owner.describe()}; stop it first, or use another LEADFLOW_STORE"
    )


def _token_for(owner: Owner, settings: Settings) -> str:
    """Return the token to show the owner: LEADFLOW_STORE_TOKEN when set, else the one in its owner file."""
    if settings.store_token is not None:
        return settings.store_token.get_secret_value()
    if owner.token is None:
        raise StoreError(f"the store is held by {owner.describe()} with LEADFLOW_STORE_TOKEN: set it here too")
    return owner.token


def _open_embedded(path: Path, limits: QueryLimits) -> ClickHouseStore:
    import clickhouse_connect

    path.mkdir(parents=True, exist_ok=True)
    try:
        client = clickhouse_connect.get_client(interface="chdb", path=str(path))
    except Exception as exc:
        reason = first_line(exc)
        raise StoreLocked(f"cannot open embedded store {path} (another process may hold it): {reason}") from exc
    return ClickHouseStore(client, embedded_reader(client, limits))


def _open_server(settings: Settings) -> ClickHouseStore:
    import clickhouse_connect

    scheme, host, port, user, password, database = settings.server()

    def connect(extra: dict[str, Any] | None = None) -> Any:
        secret = password.get_secret_value()
        return clickhouse_connect.get_client(
            host=host, port=port, username=user, password=secret, database=database,
            secure=scheme == "https", connect_timeout=5, settings=extra,
        )  # fmt: skip

    try:
        client = connect()
    except Exception as exc:
        raise StoreError(f"cannot reach ClickHouse at {scheme}://{host}:{port}: {first_line(exc)}") from exc
    # the server refuses INTO OUTFILE over HTTP and confines file() to user_files_path itself: no parse needed
    return ClickHouseStore(client, Reader(connect, client, QueryLimits.of(settings), parse=False))
