"""Fixtures of the attack tests: real processes (`leadflow store serve` on a store filled by a replay, workers on
the real broker of tests/integration), a canary file and a listener that must stay untouched."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.simulate import SimulationSummary
from tests.integration import conftest as integration
from tests.integration.processes import base_env, leadflow_json
from tests.integration.store_processes import StoreService
from tests.security.attacks import CANARY, Listener, Pages

# the real processes of the integration tests, for the attacks on workers (the broker: tests/conftest.py)
running = integration.running
small = integration.small
worker_env = integration.worker_env


@dataclass
class Served:
    """A `leadflow store serve` holding a filled store, its pages, and where attacks would leave traces."""

    service: StoreService
    pages: Pages
    env: dict[str, str]
    folder: Path
    canary: Path
    traces: Path  # where the attacks try to write files


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    """A loopback listener that no attack may reach."""
    found = Listener()
    yield found
    found.close()


@contextmanager
def serving(events: Path, folder: Path, before: Sequence[str] = ()) -> Iterator[Served]:
    """Replay `events` into a store in `folder`, run the `before` statements on it (as its owner), then hold it with
    `leadflow store serve` and short limits."""
    canary, traces = folder / "canary.txt", folder / "traces"
    canary.write_text(CANARY)
    traces.mkdir()
    env = base_env(
        LEADFLOW_STORE=f"chdb:{folder / 'store'}",
        LEADFLOW_STORE_QUERY_TIMEOUT="4",
        LEADFLOW_STORE_QUERY_MEMORY=str(512 * 1024**2),
    )
    leadflow_json(["replay", str(events), "--no-progress"], env, folder)
    if before:
        run = [sys.executable, "-c", STATEMENTS, str(folder / "store"), json.dumps(list(before))]
        done = subprocess.run(run, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
    service = StoreService(env, folder).start()
    try:
        yield Served(service, Pages.of(folder / "store"), env, folder, canary, traces)
    finally:
        service.stop()


# chDB hosts one store per process: statements on another store run in a process of their own
STATEMENTS = """
import json, sys
import clickhouse_connect
client = clickhouse_connect.get_client(interface="chdb", path=sys.argv[1])
for statement in json.loads(sys.argv[2]):
    client.command(statement)
client.close()
"""


@pytest.fixture(scope="module")
def served(small: tuple[Path, SimulationSummary], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A store filled by `leadflow replay` of the small simulation, held by `leadflow store serve` with short limits."""
    with serving(small[0], tmp_path_factory.mktemp("served")) as found:
        yield found
