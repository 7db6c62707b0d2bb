"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import faust
import pytest

from pipelines.core.sla import Judge
from pipelines.faust_app import create_app
from pipelines.settings import Settings
from tests.unit.grafana_standin import State, serving
from tests.unit.push_cases import TOKEN, standin_state
from tests.unit.test_sink_batch import FakeStore


@pytest.fixture
def worker_app(tmp_path: Path) -> Iterator[faust.App]:
    """The worker's Faust app as `create_app` builds it, on a fake store and no agreements; never started."""
    with ThreadPoolExecutor(max_workers=1) as executor:
        app, _sink = create_app(Settings(state_dir=tmp_path / "faust"), FakeStore(), executor, Judge([]))
        yield app


@pytest.fixture
def grafana(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[State, str]]:
    """A stand-in Grafana with the compose stack's data source names, and the push's token in the environment."""
    monkeypatch.setenv("LEADFLOW_GRAFANA_TOKEN", TOKEN)
    state = standin_state()
    with serving(state) as url:
        yield state, url
