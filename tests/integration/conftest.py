"""Integration fixtures: fresh topics and stores per test, on the session's broker (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.simulate import SimulationConfig, SimulationSummary, write_jsonl
from tests.integration.kafka_fixture import LocalKafka
from tests.integration.processes import group_env
from tests.integration.store_processes import Running, small_simulation


@pytest.fixture(scope="session")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationSummary]:
    """The default simulation (over 10,000 events with duplicates, late and malformed ones) as a file."""
    path = tmp_path_factory.mktemp("sim") / "events.jsonl"
    summary = write_jsonl(SimulationConfig(), path)
    assert summary.total >= 10_000 and summary.duplicates and summary.late and summary.malformed
    return path, summary


@pytest.fixture
def worker_env(kafka: LocalKafka, tmp_path: Path) -> dict[str, str]:
    """Environment of a worker group of its own: fresh topics (prefix), consumer group, store and web port."""
    return group_env(kafka.bootstrap, tmp_path, LEADFLOW_SINK_INTERVAL="0.5")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationSummary]:
    """About 4,000 simulated events, for the tests that start several processes."""
    return small_simulation(tmp_path_factory.mktemp("small"))


@pytest.fixture
def running() -> Iterator[Running]:
    """The processes a test starts, stopped at its end whatever happens."""
    group = Running()
    yield group
    group.stop_all()
