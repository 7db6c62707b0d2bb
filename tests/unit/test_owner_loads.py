"""The owners' running clocks a reassignment step compares: read from the store on its thread, and nothing (the
step then counts the lead's own clocks) when the store fails or is slower than STORE_WAIT."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from pipelines import owner_loads
from pipelines.owner_loads import store_loads
from pipelines.store.exceptions import StoreError

AT = datetime(2026, 11, 2, 15, tzinfo=UTC)


class Store:
    def __init__(self, answer: list[tuple[Any, ...]] | Exception, pause: float = 0.0) -> None:
        self.answer, self.pause, self.asked = answer, pause, []

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        self.asked.append(parameters)
        time.sleep(self.pause)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _loads(store: Store) -> Any:
    with ThreadPoolExecutor(max_workers=1) as executor:
        return asyncio.run(store_loads(store, executor)(["rep-02", "rep-03"], AT))  # type: ignore[arg-type]


def test_the_store_counts_each_owners_running_clocks_at_the_instant() -> None:
    store = Store([("rep-02", 3)])
    assert _loads(store) == {"rep-02": 3}
    assert store.asked == [{"owners": ["rep-02", "rep-03"], "at": AT}]


def test_a_failing_store_gives_nothing_to_compare(caplog: pytest.LogCaptureFixture) -> None:
    assert _loads(Store(StoreError("query failed: gone"))) is None
    assert "the suggestion counts the lead's own clocks" in caplog.text


def test_a_slow_store_is_not_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(owner_loads, "STORE_WAIT", 0.05)
    assert _loads(Store([("rep-02", 1)], pause=0.5)) is None
