"""Reads under ClickHouse's own guards: sessions of their own, read-only, with limits on time, memory and result.

Every read of a ClickHouseStore goes through a Reader. Its sessions are opened with the limits first and
`readonly = 1` last: from then on ClickHouse refuses any change of a setting in that session, a `SETTINGS`
clause included, so a query cannot lift its own limits, and it refuses writes, DDL and table functions that reach
files, URLs, other servers or programs. On an embedded store the ReadPolicy (guard.py) also checks ClickHouse's
parse of each query. A query past a limit ends with ClickHouse's error; the session it ran in is closed (chDB
hands a failed query's unread rows to the next query of the same session), and the store answers on.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipelines.settings import Settings
from pipelines.store.exceptions import QueryRefused, StoreError
from pipelines.store.guard import ReadPolicy, load_catalogue

log = logging.getLogger(__name__)
RESULT_BYTES = 256 * 1024 * 1024  # an answer is built in memory and sent as JSON: this much is already a lot


@dataclass(frozen=True)
class QueryLimits:
    """Limits of one read, as ClickHouse settings (LEADFLOW_STORE_QUERY_*)."""

    timeout: float = 30.0
    memory: int = 2 * 1024**3
    result_rows: int = 1_000_000

    @classmethod
    def of(cls, settings: Settings) -> QueryLimits:
        """Return the limits the settings give."""
        return cls(settings.store_query_timeout, settings.store_query_memory, settings.store_query_result_rows)

    def settings(self, marker: str) -> dict[str, Any]:
        """Return the session settings, `readonly` last (ClickHouse refuses every later change)."""
        return {
            "max_execution_time": self.timeout,
            "timeout_overflow_mode": "throw",
            "max_memory_usage": self.memory,
            "max_result_rows": self.result_rows,
            "max_result_bytes": RESULT_BYTES,
            "result_overflow_mode": "throw",
            "allow_introspection_functions": 0,  # chDB starts with them on: addresses and symbols of the process
            "log_comment": marker,  # names this reader's queries in system.processes, for `cancel`
            "readonly": 1,
        }


Connect = Callable[[dict[str, Any]], Any]


class Reader:
    """Read-only sessions of one store, one per concurrent read, each closed after a failed query."""

    def __init__(self, connect: Connect, admin: Any, limits: QueryLimits, *, parse: bool) -> None:
        self._connect = connect
        self._admin = admin
        self._marker = f"leadflow-read-{secrets.token_hex(8)}"
        self._settings = limits.settings(self._marker)
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._parse = parse
        self._read_policy: ReadPolicy | None = None

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one read in a read-only session and return its rows."""
        return self._run(sql, parameters, describe=False)

    def describe(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Return the (name, type) of each column a read would answer, without running it."""
        return [tuple(row[:2]) for row in self._run(sql, parameters, describe=True)]

    def _run(self, sql: str, parameters: dict[str, Any] | None, *, describe: bool) -> list[tuple[Any, ...]]:
        session = self._session()
        try:
            checked = self._policy().checked(session, sql) if self._parse else sql
            # a parsed read is ClickHouse's own formatting of one statement: it cannot reach past the parentheses
            statement = f"DESCRIBE ({checked})" if describe else checked
            rows = [tuple(r) for r in session.query(statement, parameters=parameters).result_rows]
        except QueryRefused:
            self._release(session)
            raise
        except Exception as exc:
            session.close()
            raise StoreError(f"query failed: {first_line(exc)}") from exc
        self._release(session)
        return rows

    def tables_changed(self) -> None:
        """Read the store's tables again before the next query (the DDL was applied)."""
        self._read_policy = None

    def cancel(self) -> None:
        """Cancel every read of this reader that still runs (the process is stopping)."""
        try:
            self._admin.command(f"KILL QUERY WHERE Settings['log_comment'] = '{self._marker}' ASYNC")
        except Exception as exc:  # stopping goes on: the reads then end at their time limit
            log.warning("cannot cancel the reads under way: %s", first_line(exc))

    def close(self) -> None:
        """Close the idle sessions."""
        with self._lock:
            idle, self._idle = self._idle, []
        for session in idle:
            session.close()

    def _session(self) -> Any:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        try:
            return self._connect(dict(self._settings))
        except Exception as exc:
            raise StoreError(f"cannot open a read session: {first_line(exc)}") from exc

    def _release(self, session: Any) -> None:
        with self._lock:
            self._idle.append(session)

    def _policy(self) -> ReadPolicy:
        """Return the read policy, its catalogue read by the store's own client (not bound by a read's limits)."""
        if self._read_policy is None:
            self._read_policy = ReadPolicy(load_catalogue(self._admin))
        return self._read_policy


def first_line(exc: BaseException) -> str:
    """Return the first line of an exception's message (ClickHouse adds its stack and version below)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
